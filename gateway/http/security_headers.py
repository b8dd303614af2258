"""Headers every answer carries, so that no page of abgate's can be framed, sniffed into another
type, or made to run a script it did not ship.

The dashboard and the API reference load only the gateway's own scripts and styles (Swagger UI
sets inline styles, and draws a few icons as ``data:`` images); every other answer is data and
may load nothing at all. No answer of the API is kept by a cache (``no-store``): the
answer that creates a token carries the token.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

PAGE_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
DATA_POLICY: Final = "default-src 'none'; frame-ancestors 'none'"
COMMON: Final = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: errors and files included, whichever handler answered."""
    headers = response.headers
    for name, value in COMMON.items():
        headers.setdefault(name, value)
    # A 304 (a reload's conditional GET) carries no body and no content type, and a browser
    # puts its headers on the answer it kept: a data policy there blocked the dashboard's own
    # script on every reload. The kept answer has its policy already.
    if response.status != 304:
        is_page = response.content_type == "text/html"
        headers.setdefault("Content-Security-Policy", PAGE_POLICY if is_page else DATA_POLICY)
    if request.path.startswith("/v1/"):  # never kept by a cache: a new token is in one
        headers.setdefault("Cache-Control", "no-store")
