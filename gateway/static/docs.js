// The API reference: Swagger UI (vendored, v5.27.1 from npm's swagger-ui-dist) over /openapi.json.
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
