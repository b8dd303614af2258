"""Example bodies for the OpenAPI document, by operation: each one a request the server
accepts as it stands (a test sends every one of them to a live gateway). The click's
``search_id`` has the form of one (a random id and the tag that binds it to its user); a real
click sends the one its search was answered with."""

from __future__ import annotations

from typing import Any, Final

_SEARCH_ID: Final = "5f0c2a9e7d3b41c8a6e4f1b2c3d4e5f6.q9Zs3mVx0cRkT1uYw2bLnA"
_CLICK: Final = {
    "event_id": "ev-8c1f02e4",
    "type": "click",
    "user_id": "u-123",
    "item_id": 1042,
    "search_id": _SEARCH_ID,
    "position": 0,
}
_CHECKOUT: Final = {
    "event_id": "ev-8c1f0311",
    "type": "purchase",
    "user_id": "u-123",
    "item_id": 1042,
    "value": 59.9,
}

EXAMPLES: Final[dict[tuple[str, str], dict[str, dict[str, Any]]]] = {
    ("POST", "/v1/search"): {
        "ids": {
            "summary": "Plain item ids (the ranker reads ids and the query)",
            "value": {
                "user_id": "u-123",
                "query": "running shoes",
                "candidates": [1042, 2210, 277, 2951],
                "k": 3,
            },
        },
        "named_features": {
            "summary": "Candidates with named features",
            "value": {
                "user_id": "u-123",
                "query": "running shoes",
                "candidates": [
                    {"id": "SKU-1042", "features": {"bm25": 3.1, "ctr_7d": 0.02}},
                    {"id": "SKU-2210", "features": {"bm25": 1.2, "ctr_7d": 0.05}},
                ],
            },
        },
        "feature_columns": {
            "summary": "Plain ids with the features as columns (compact for large searches)",
            "value": {
                "user_id": "u-123",
                "query": "running shoes",
                "candidates": ["SKU-1042", "SKU-2210"],
                "features": {"bm25": [3.1, 1.2], "ctr_7d": [0.02, 0.05]},
            },
        },
    },
    ("POST", "/v1/events"): {
        "click": {
            "summary": "A click on a search's result (search_id: the one it was answered with)",
            "value": _CLICK,
        },
        "checkout": {
            "summary": "A purchase at checkout, without a search id",
            "value": _CHECKOUT,
        },
        "batch": {
            "summary": "Several events, all kept or none",
            "value": {"events": [_CLICK, _CHECKOUT]},
        },
    },
    ("POST", "/v1/experiments"): {
        "ab": {
            "summary": "An A/B test of a new ranker against production's",
            "value": {
                "key": "ranker-v2-vs-v1",
                "description": "the new two-tower ranker against production",
                "variants": [
                    {"name": "control", "model_version": "prod-v1", "weight": 0.5},
                    {"name": "treatment", "model_version": "cand-v2", "weight": 0.5},
                ],
                "primary_metric": "purchase_conversion",
                "guardrails": [{"metric": "click_through_rate", "margin": 0.02}],
                "min_runtime_s": 604800,
                "reason": "Q4 ranker review",
            },
        }
    },
    ("PATCH", "/v1/experiments/{key}"): {
        "coverage": {
            "summary": "Half the users, while the guardrails are watched",
            "value": {"coverage": 0.5, "reason": "ramping up after a clean first day"},
        }
    },
    ("POST", "/v1/tokens"): {
        "pipeline": {
            "summary": "A token for a CI pipeline that creates and starts experiments",
            "value": {"name": "ci-pipeline", "role": "experimenter", "reason": "nightly ranker CI"},
        }
    },
}
