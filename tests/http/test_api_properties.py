"""Property-based API test: schemathesis generates requests from the served /openapi.json —
conforming and non-conforming bodies, parameters and query strings for every operation — and
sends them over real HTTP to a live gateway process with an admin token. No answer is a 5xx,
every error is the JSON error document, and every answer is what the document says: a status
it lists, its content type, a body that conforms to its schema (schemathesis's response
checks). Bounded: ``ABGATE_API_EXAMPLES`` per operation."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.http.routes import ROUTES
from tests.live import one_gateway

EXAMPLES = int(os.environ.get("ABGATE_API_EXAMPLES", "15"))
TOKEN = "api-property-token"
RESPONSE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def api_base(
    tmp_path_factory: pytest.TempPathFactory, redis_server: Any, models_dir: Any
) -> Iterator[str]:
    with one_gateway(tmp_path_factory, redis_server.url, models_dir, "apiprops", TOKEN) as (
        port,
        _,
    ):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def api_schema(api_base: str) -> Any:
    return schemathesis.openapi.from_url(api_base + "/openapi.json")


def _cases() -> list[tuple[str, GenerationMode]]:
    """Every operation with conforming inputs; with non-conforming ones too where it takes any
    (a body, a path parameter or a query string)."""
    cases = []
    for r in ROUTES:
        takes_input = r.body is not None or "{" in r.path or bool(r.query)
        for mode in GenerationMode:
            if mode is GenerationMode.POSITIVE or takes_input:
                cases.append((f"{r.method} {r.path}", mode))
    return cases


@pytest.mark.parametrize(("operation", "mode"), _cases(), ids=lambda v: getattr(v, "value", v))
def test_every_answer_is_documented_and_none_is_5xx(
    api_schema: Any, api_base: str, operation: str, mode: GenerationMode
) -> None:
    method, path = operation.split(" ", 1)
    (op,) = [
        r.ok()
        for r in api_schema.get_all_operations()
        if r.ok().method.upper() == method and r.ok().path == path
    ]
    seen: dict[int, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        response = case.call(base_url=api_base, headers=headers)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        case.validate_response(response, checks=RESPONSE_CHECKS, headers=headers)
        assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
        if response.status_code >= 400:
            error = response.json()["error"]
            assert isinstance(error["type"], str) and isinstance(error["message"], str)

    run()
    assert sum(seen.values()) > 0
