"""The web app at ``/`` and the API docs at ``/docs`` and ``/redoc``, every asset served from here.

The app is static files (HTML, CSS, plain JavaScript modules) that call the same `/v1` API as
any client, with the same keys; there is no build step. The libraries it and the docs use are
fetched once by ``python -m api.web.vendor`` (``make install``) and served from ``/static/vendor``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles

from api.web import vendor

STATIC_DIR = Path(__file__).resolve().parent / "static"
VENDOR_URL = "/static/vendor"
FAVICON_URL = "/static/favicon.svg"
# Pages may load only from this server: a library that reaches for another host (ReDoc's footer
# logo on cdn.redoc.ly, say) is stopped in the browser rather than leaking a request.
# Inline scripts: the docs pages start Swagger UI and ReDoc with one; blob: workers: ReDoc's search.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
                           "frame-ancestors 'self'; base-uri 'self'; form-action 'self'")


def _local_only(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


def _assets_missing() -> Response | None:
    """A plain 503 naming the fix when ``make install`` has not fetched the libraries (never a CDN)."""
    if not (missing := vendor.missing()):
        return None
    names = ", ".join(f"{p.name}@{p.version}" for p in missing)
    return PlainTextResponse(f"web assets not installed ({names}): run `python -m api.web.vendor` or `make install`",
                             status_code=503)


def install_web(app: FastAPI) -> None:
    """Mount the web app, its static files and the offline API docs on ``app``."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/", include_in_schema=False)
    def web_app() -> Response:
        return _assets_missing() or _local_only(FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"}))

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> Response:
        return _assets_missing() or _local_only(get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{VENDOR_URL}/swagger-ui-dist/swagger-ui-bundle.js",
            swagger_css_url=f"{VENDOR_URL}/swagger-ui-dist/swagger-ui.css",
            swagger_favicon_url=FAVICON_URL,
            oauth2_redirect_url="/docs/oauth2-redirect",
            # The validator badge would ask validator.swagger.io about the spec: no other host, ever.
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
        ))

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> Response:
        return _assets_missing() or _local_only(get_redoc_html(
            openapi_url=openapi_url, title=f"{app.title} API", redoc_js_url=f"{VENDOR_URL}/redoc/redoc.standalone.js",
            redoc_favicon_url=FAVICON_URL, with_google_fonts=False,
        ))
