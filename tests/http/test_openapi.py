"""/openapi.json: a valid OpenAPI 3.1 document that lists every route with its role, generated
from the same msgspec types that validate the requests; /docs served from the package."""

from __future__ import annotations

import msgspec
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator

from gateway.http.routes import ROUTES
from gateway.schema import SearchBody


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
    assert served == components["SearchBody"]
    assert served["properties"]["candidates"]["maxItems"] == 1000
    assert served["additionalProperties"] is False
    assert set(served["required"]) == {"user_id", "query", "candidates"}


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
