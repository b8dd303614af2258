"""Which versions a gateway process keeps loaded: what is needed first, then the newest, bounded."""

from __future__ import annotations

from gateway.config import parse_routing
from gateway.models.card import Declaration, InputSpec, ModelCard
from gateway.models.follower import wanted_versions


def _card(version: str, at: float, state: str = "passed", retired: bool = False) -> ModelCard:
    declaration = Declaration(version, (InputSpec("item_index", "item_ids", num_items=10),))
    return ModelCard(declaration, "0" * 64, 1, {}, "t", at, state, None, None, retired)  # type: ignore[arg-type]


def test_needed_versions_first_then_the_newest_usable_up_to_the_bound() -> None:
    config = parse_routing(
        {
            "production": "p",
            "experiments": [
                {
                    "key": "e",
                    "status": "draft",
                    "variants": [
                        {"name": "control", "model_version": "p", "weight": 0.5},
                        {"name": "candidate", "model_version": "old", "weight": 0.5},
                    ],
                }
            ],
        }
    )
    cards = [
        _card("p", 1),
        _card("old", 2),
        _card("mid", 3),
        _card("new", 4),
        _card("newest-failed", 5, state="failed"),
        _card("newest-retired", 6, retired=True),
        _card("gating", 7, state="gating"),
    ]
    assert wanted_versions(cards, config, 3) == ["old", "p", "new"]
    assert wanted_versions(cards, config, 10) == ["old", "p", "new", "mid"]
    # What is needed is loaded even past the bound; memory does not grow with the rest.
    assert wanted_versions(cards, config, 1) == ["old", "p"]
