"""`/docs`: Swagger UI served from this service, with a Content-Security-Policy.

FastAPI's own `/docs` page loads Swagger UI's script and stylesheet from a public CDN and
starts it with an inline script, so it cannot carry a strict CSP and every visit tells a
third party who reads the API documentation. Here the assets come from the
`fastapi-offline` package (a pinned Swagger UI 5 build, installed with the service), the
start-up code is a same-origin script, and the page allows nothing but its own origin:
no inline script, no CDN, no framing. `/redoc` (also CDN-based) is turned off.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
# Swagger UI sets element styles from script (CSSOM, which style-src does not govern) and
# draws its icons as data: SVG; it fetches only /openapi.json.
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
            "base-uri 'none'")
HEADERS = {"Content-Security-Policy": DOCS_CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer"}

INIT_JS = """\
"use strict";
(function () {
  var el = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: el.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset]
  });
})();
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - API documentation</title>
<link rel="stylesheet" href="{root}/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="{root}/docs/assets/favicon.png">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{root}{openapi}"></div>
<script src="{root}/docs/assets/swagger-ui-bundle.js"></script>
<script src="{root}/docs/assets/docs-init.js"></script>
</body>
</html>
"""


def router(title: str, openapi_url: str) -> APIRouter:
    docs = APIRouter(include_in_schema=False)

    @docs.get("/docs", response_class=HTMLResponse)
    def docs_page(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        html = PAGE.format(title=title, root=root, openapi=openapi_url)
        return HTMLResponse(html, headers={**HEADERS, "Cache-Control": "no-cache"})

    @docs.get("/docs/assets/{name}")
    def docs_asset(name: str) -> Response:
        cache = {"Cache-Control": "public, max-age=86400", **HEADERS}
        if name == "docs-init.js":
            return Response(INIT_JS, media_type="text/javascript; charset=utf-8", headers=cache)
        if name not in ASSETS or not (ASSETS_DIR / name).is_file():
            return Response("not found", status_code=404, media_type="text/plain")
        return Response((ASSETS_DIR / name).read_bytes(), media_type=ASSETS[name], headers=cache)

    return docs
