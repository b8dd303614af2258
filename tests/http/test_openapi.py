"""/openapi.json: a valid OpenAPI 3.1 document that lists every route with its role and its
success body, generated from the same msgspec types that validate the requests and check the
answers; its examples are accepted as they stand; /docs served from the package."""

from __future__ import annotations

import re
from typing import Any, Final

import jsonschema
import msgspec
import pytest
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator

from gateway.config.model import Experiment
from gateway.control.changes import LIFECYCLE_FIELDS
from gateway.http import api_types as t
from gateway.http.api_answers import SearchAnswer
from gateway.http.api_examples import EXAMPLES
from gateway.http.api_experiment import NOT_IN_BODY
from gateway.http.routes import ROUTES
from gateway.schema import SearchBody
from tests.tokens import auth

AUTH: Final = auth("alice")
SEARCH_ID_FORM: Final = re.compile(r"^[0-9a-f]{32}\.[A-Za-z0-9_-]{22}$")


async def test_the_document_is_valid_openapi_31_and_lists_every_route(client: TestClient) -> None:
    response = await client.get("/openapi.json")  # public: no token
    assert response.status == 200
    doc = await response.json()
    validate(doc, cls=OpenAPIV31SpecValidator)
    assert doc["openapi"] == "3.1.0"
    for route in ROUTES:
        op = doc["paths"][route.path][route.method.lower()]
        assert ("security" in op) == (route.role is not None), route
        if route.role is not None:
            assert route.role.label in op["description"]
            assert {"401", "403"} <= set(op["responses"])


async def test_the_search_schema_is_the_validators_own(client: TestClient) -> None:
    doc = await (await client.get("/openapi.json")).json()
    served = doc["components"]["schemas"]["SearchBody"]
    (_,), components = msgspec.json.schema_components(
        [SearchBody], ref_template="#/components/schemas/{name}"
    )
    own = components["SearchBody"]
    # Candidates: all plain ids or all objects, as the server takes them (msgspec's own
    # schema would allow a mix, which the server refuses).
    candidates = served["properties"].pop("candidates")
    del own["properties"]["candidates"]
    assert served == own
    ids, objects = candidates["oneOf"]
    assert ids["maxItems"] == objects["maxItems"] == 1000
    assert objects["items"] == {"$ref": "#/components/schemas/Candidate"}
    assert "$ref" not in str(ids["items"])
    assert served["additionalProperties"] is False
    assert set(served["required"]) == {"user_id", "query", "candidates"}


async def test_a_mix_of_ids_and_objects_is_refused_by_the_document_and_the_server(
    client: TestClient,
) -> None:
    doc = await (await client.get("/openapi.json")).json()
    mixed = {"user_id": "u-1", "query": "q", "candidates": [1, {"id": 2, "features": [0.5]}]}
    schema = doc["components"]["schemas"]["SearchBody"] | {"components": doc["components"]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(mixed, schema, cls=jsonschema.Draft202012Validator)
    response = await client.post("/v1/search", json=mixed)
    assert response.status == 400
    assert (await response.json())["error"]["where"] == "$.candidates[1]"


async def test_every_operation_documents_its_success_body(client: TestClient) -> None:
    doc = await (await client.get("/openapi.json")).json()
    operations = [op for path in doc["paths"].values() for op in path.values()]
    documented = 0
    for op in operations:
        (ok, *_) = [code for code in op["responses"] if code.startswith("2")]
        ((media, content),) = op["responses"][ok]["content"].items()
        documented += content["schema"] not in ({}, None)
        if media == "application/json":
            assert "$ref" in content["schema"], op["operationId"]
    assert documented / len(operations) >= 0.9
    assert documented == len(operations)


def test_an_experiment_body_documents_every_field_the_parser_takes() -> None:
    taken = set(Experiment.field_names())
    body = set(t.ExperimentBody.__struct_fields__)
    assert body - taken == {"reason"}
    assert taken - body == set(NOT_IN_BODY)
    edit = set(t.ExperimentEdit.__struct_fields__)
    assert edit == (taken - set(LIFECYCLE_FIELDS) - set(NOT_IN_BODY)) | {"weights", "reason"}
    variant = msgspec.json.schema(t.ExperimentBody)["$defs"]["VariantBody"]
    assert set(variant["properties"]) == {"name", "model_version", "weight"}
    assert "equal split" in variant["properties"]["weight"]["description"]


async def test_every_example_in_the_document_is_accepted(client: TestClient) -> None:
    """Each example body of the document, sent as it stands to its operation (a click's
    search_id aside: it must be one the server answered this user with)."""
    doc = await (await client.get("/openapi.json")).json()
    examples = [
        (method.upper(), path, name, example["value"])
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        for name, example in op.get("requestBody", {})
        .get("content", {})
        .get("application/json", {})
        .get("examples", {})
        .items()
    ]
    assert {(m, p) for m, p, _, _ in examples} == set(EXAMPLES)
    search_ids: dict[str, str] = {}
    for method, path, name, body in sorted(examples, key=lambda e: e[1] != "/v1/search"):
        url = path.replace("{key}", "better")
        if path == "/v1/events":
            body = _with_search_ids(body, search_ids)
        response = await client.request(method, url, json=body, headers=AUTH)
        assert response.status in (200, 201, 202), (method, path, name, await response.text())
        if path == "/v1/search":
            answer = msgspec.json.decode(await response.read(), type=SearchAnswer)
            assert len(answer.results) == min(body.get("k", 10), len(body["candidates"]))
            search_ids[body["user_id"]] = answer.search_id


def _with_search_ids(body: dict[str, Any], search_ids: dict[str, str]) -> dict[str, Any]:
    if "events" in body:
        return {"events": [_with_search_ids(e, search_ids) for e in body["events"]]}
    if "search_id" not in body:
        return body
    assert body["search_id"] != body["event_id"]
    assert SEARCH_ID_FORM.match(body["search_id"]), body["search_id"]
    return body | {"search_id": search_ids[body["user_id"]]}


async def test_the_docs_page_and_its_files_come_from_the_package(client: TestClient) -> None:
    page = await client.get("/docs")
    assert page.status == 200 and "text/html" in page.headers["Content-Type"]
    html = await page.text()
    assert "/static/swagger-ui/swagger-ui-bundle.js" in html and "http" not in html.lower()
    bundle = await client.get("/static/swagger-ui/swagger-ui-bundle.js")
    assert bundle.status == 200 and len(await bundle.read()) > 100_000
    assert (await client.get("/static/docs.js")).status == 200
    assert (await client.get("/static/../settings.py")).status in (403, 404)


async def test_the_dashboard_page_is_served_and_the_root_leads_to_it(client: TestClient) -> None:
    root = await client.get("/", allow_redirects=False)
    assert root.status == 302 and root.headers["Location"] == "/dashboard"
    page = await client.get("/dashboard")  # public: its data come from the API with a token
    assert page.status == 200 and "/static/dashboard.js" in await page.text()
    assert (await client.get("/static/dashboard.js")).status == 200
    svg = await client.get("/v1/experiments/better/chart.svg")
    assert svg.status == 401  # the chart is data: a viewer's token at least


def test_a_token_body_takes_every_role() -> None:
    """The type that validates POST /v1/tokens lists the roles: each one can be given (the
    storefront's was left out once, and storefront tokens could not be created)."""
    from typing import get_args, get_type_hints

    from gateway.access.roles import Role
    from gateway.http.api_types import TokenBody

    assert set(get_args(get_type_hints(TokenBody)["role"])) == {r.label for r in Role}
