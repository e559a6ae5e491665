"""Response headers, cookies and the same-origin check every state-changing request passes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.config import PortalSettings

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "form-action 'self'")


class SecurityHeaders:
    """Adds the security headers to every response, and no-store to all but static files."""

    def __init__(self, app: ASGIApp, *, secure: bool) -> None:
        self._app, self._secure = app, secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/") or scope["path"] == "/favicon.ico"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in (b"cache-control", b"pragma")]
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                    (b"cross-origin-resource-policy", b"same-origin"),
                    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
                    (b"cache-control", b"public, max-age=3600" if static else b"no-store"),
                ]
                if not static:
                    headers.append((b"pragma", b"no-cache"))
                if self._secure:
                    headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
                message["headers"] = headers
            await send(message)

        await self._app(scope, receive, with_headers)


class Cookies:
    """The session and sign-in cookies: __Host- and Secure except on the localhost default."""

    def __init__(self, portal: PortalSettings) -> None:
        self.secure = portal.secure
        prefix = "__Host-" if self.secure else ""
        self.session = f"{prefix}offerbot_session"
        self.sign_in = f"{prefix}offerbot_signin"

    def set(self, response: Response, name: str, value: str) -> None:
        """Set a cookie for the whole site, unreadable by scripts, never sent cross-site."""
        response.set_cookie(name, value, path="/", httponly=True, samesite="strict", secure=self.secure)

    def clear(self, response: Response, name: str) -> None:
        """Tell the browser to forget a cookie."""
        response.delete_cookie(name, path="/", httponly=True, samesite="strict", secure=self.secure)


def same_origin(request: Request, origin: str) -> bool:
    """Return True when a state-changing request comes from the portal's own pages.

    Fetch metadata first (a browser says cross-site), then Origin, then Referer; a request
    with none of them is refused, since every browser sends Origin on a form POST.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    sent = request.headers.get("origin")
    if sent is not None:
        return sent.lower().rstrip("/") == origin
    referer = request.headers.get("referer")
    return referer is not None and (referer.lower() + "/").startswith(origin + "/")
