"""The API's documentation: the OpenAPI document and the pages that show it, all offline.

`install_docs(app)` serves Swagger UI at /docs and ReDoc at /redoc with their scripts and styles
taken from an installed package (`fastapi-offline` ships them), never from a CDN, and makes
`app.openapi()` return FastAPI's generated document post-processed here, in one place:

- the xAPI resources' query parameters are the names their parsers accept (lrs.xapi.query,
  lrs.xapi.documents), with the headers they read (X-Experience-API-Version, If-Match,
  If-None-Match), their request bodies (Statement, array of Statements, multipart/mixed,
  documents) and response headers (Consistent-Through, ETag, Last-Modified);
- Basic and bearer security schemes, so the page has an Authorize button;
- the error responses the LRS really sends, each with the error envelope of lrs.api.errors and
  the status its table gives; FastAPI's 422 is removed (the LRS answers 400, never 422).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from starlette.responses import HTMLResponse, Response

from lrs.api import openapi_xapi as xapi
from lrs.api.errors import STATUS_BY_ERROR
from lrs.xapi.errors import NotFound

ASSETS_PACKAGE = "fastapi_offline"
ASSET_PATH = "/docs/assets"
ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}
SWAGGER_UI_PARAMETERS: dict[str, Any] = {
    "validatorUrl": None,  # Swagger UI would otherwise ask a public validator about the spec
    "persistAuthorization": True,
    "displayRequestDuration": True,
    "docExpansion": "list",
    "defaultModelsExpandDepth": 0,
}
DESCRIPTION = """\
An xAPI 1.0.3 and 2.0 Learning Record Store. The xAPI endpoint is `/xapi/`.

Every xAPI request except `GET /xapi/about` needs the `X-Experience-API-Version` header and a
credential: HTTP Basic with an LRS key and secret, or a bearer token (JWT) when the LRS is
configured with a JWKS. Use **Authorize** to set one.

Errors carry one envelope, `{"error": {"code", "message", "request_id", "details"}}`;
invalid input is answered with 400 and a message naming the rule it breaks.
"""


def install_docs(app: FastAPI) -> None:
    """/docs, /redoc and their assets; `app.openapi()` returns the described document.
    Create the app with docs_url=None and redoc_url=None, so that FastAPI's CDN pages are off."""

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - API",
            swagger_js_url=f"{root}{ASSET_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSET_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSET_PATH}/favicon.png",
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - API",
            redoc_js_url=f"{root}{ASSET_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSET_PATH}/favicon.png",
            with_google_fonts=False,
        )

    @app.get(ASSET_PATH + "/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        if name not in ASSET_TYPES:
            raise NotFound(f"no documentation asset {name!r}")
        headers = {"Cache-Control": "public, max-age=86400"}
        return Response(asset(name), media_type=ASSET_TYPES[name], headers=headers)

    def described() -> dict[str, Any]:
        if app.openapi_schema is None:
            generated = get_openapi(
                title=app.title, version=app.version, description=DESCRIPTION, routes=app.routes
            )
            app.openapi_schema = describe(generated)
        return app.openapi_schema

    app.openapi = described  # type: ignore[method-assign]


@lru_cache(maxsize=len(ASSET_TYPES))
def asset(name: str) -> bytes:
    """One of the documentation pages' files, read once from the package that ships them."""
    return resources.files(ASSETS_PACKAGE).joinpath("static", name).read_bytes()


# --- the document -------------------------------------------------------------------------

METHODS = ("get", "put", "post", "delete")
ERROR_DESCRIPTIONS = {
    400: "Bad Request: the message names the rule the request breaks",
    401: "Unauthorized: no credential, or one that is unknown, wrong, expired or revoked",
    403: "Forbidden: the credential lacks the scope this request needs, or its tenant is disabled",
    404: "Not Found",
    409: "Conflict",
    412: "Precondition Failed: If-Match / If-None-Match did not hold",
    413: "Payload Too Large: the body exceeds the configured limit",
    429: "Too Many Requests: too many wrong secrets for this key from this client address; "
    "retry after the Retry-After seconds (the right secret is still accepted)",
    503: "Service Unavailable: the broker or store did not answer in time; nothing was "
    "acknowledged; retry after the Retry-After seconds",
}
ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Basic realm"}},
    429: {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
    503: {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
}
FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def describe(doc: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's generated document with what it cannot know (see the module docstring)."""
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    schemas.update(xapi.SCHEMAS)
    components["responses"] = error_responses()
    components["securitySchemes"] = xapi.SECURITY_SCHEMES
    doc["security"] = [{name: []} for name in xapi.SECURITY_SCHEMES]
    doc["tags"] = xapi.TAGS
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if method in METHODS:
                describe_operation(path, method, operation)
    return doc


def describe_operation(path: str, method: str, operation: dict[str, Any]) -> None:
    operation["responses"].pop("422", None)
    known = xapi.operation(path, method)
    if known is not None:
        known.apply(operation)
    if path in xapi.PUBLIC_PATHS:
        operation["security"] = []
        return
    for status in sorted(error_statuses(path, method, known)):
        operation["responses"].setdefault(str(status), {"$ref": f"#/components/responses/{status}"})


def error_statuses(path: str, method: str, known: xapi.Operation | None) -> set[int]:
    """Every authenticated operation may answer 400, 401, 403, 429 and 503; one whose handler reads
    its body under a size limit 413 too; an admin operation on a named item 404; and others
    404, 409 or 412 where their resource raises them (`openapi_xapi.EXTRA_ERRORS`)."""
    statuses = {400, 401, 403, 429, 503}
    if known is not None and known.body is not None:
        statuses.add(413)
    if path.startswith("/admin/") and "{" in path:
        statuses.add(404)
    return statuses | set(xapi.EXTRA_ERRORS.get((method, path), ()))


def error_responses() -> dict[str, Any]:
    """One reusable response per status the error table (lrs.api.errors) gives, each listing
    the error codes it carries."""
    return {
        str(status): {
            "description": f"{description}. Error codes: {', '.join(codes_of(status))}.",
            "headers": {**xapi.VERSION_RESPONSE_HEADER, **ERROR_HEADERS.get(status, {})},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for status, description in ERROR_DESCRIPTIONS.items()
    }


def codes_of(status: int) -> Iterable[str]:
    codes = sorted(cls.code for cls, given in STATUS_BY_ERROR.items() if given == status)
    if status == 404:
        codes.append("http_error (no such route)")
    return codes
