"""The one registry of the portal's routes, and the checks every route passes before its handler.

A route states who may call it; the wrapper signs the viewer in from the session cookie, refuses
signed-out calls (a redirect for pages, 401 for data), answers 404 to anyone the route is not
for, and checks the origin and the CSRF token of every POST. The JSON API's routes (access
"token") take a merchant's API token from the Authorization header instead, and never a cookie.
Handlers then only call a read model or a service and render.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.adapters.sql.read_models import NotVisible
from bot.bootstrap import App, Portal
from bot.domain.portal import Role, Session, Viewer, tokens_match
from bot.web.security import Cookies, same_origin

Access = Literal["public", "signed-in", "ops", "merchant", "token"]
Kind = Literal["page", "data"]
SCOPED = ("campaign_id", "submission_id", "token_id")  # path parameters naming a merchant's own thing
MAX_FORM = 1024 * 1024  # bytes of an ordinary form (the daily file has its own route and limit)
MAX_FORM_FILE = 64 * 1024 + 1  # a campaign file read from a form, one byte over its limit


@dataclass(frozen=True)
class Web:
    """What every handler may use: the bot's app, the portal's services, the cookie names."""

    app: App
    portal: Portal
    cookies: Cookies


@dataclass
class Ctx:
    """One request, past the checks: who asks, what the form said."""

    request: Request
    web: Web
    session: Session | None
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # field -> (name, first bytes)
    token_viewer: Viewer | None = None  # the merchant of an API call's token

    @property
    def viewer(self) -> Viewer:
        """Return the signed-in viewer, or the API token's merchant (the wrapper has checked)."""
        if self.token_viewer is not None:
            return self.token_viewer
        assert self.session is not None
        return self.session.user.viewer

    @property
    def address(self) -> str | None:
        """Return the client's address, for the audit log."""
        return self.request.client.host if self.request.client else None

    def arg(self, name: str) -> str:
        """Return a query-string argument ('' when absent)."""
        return self.request.query_params.get(name, "")

    def page_number(self) -> int:
        """Return the ?page= argument, 1 when absent or not a number."""
        text = self.arg("page")
        return int(text) if text.isdigit() and 0 < len(text) < 7 else 1

    def page(self, template: str, code: int = 200, **values: Any) -> HTMLResponse:
        """Render a page with the layout's values (viewer, CSRF token, where we are)."""
        context = {"viewer": self.session.user.viewer if self.session else None,
                   "csrf": self.session.csrf_token if self.session else "",
                   "path": self.request.url.path, "refresh": None, "title": "", **values}
        return HTMLResponse(self.web.portal.pages.render(template, context), status_code=code)

    def audit(self, event: str, detail: str = "") -> None:
        """Append an event to the audit log as the signed-in viewer."""
        actor = self.session.user.email if self.session else None
        self.web.portal.accounts.repo.audit(self.web.app.clock(), event, actor=actor, detail=detail,
                                            address=self.address)


Handler = Callable[[Ctx], Any]


@dataclass(frozen=True)
class Spec:
    """A route as registered: path, handler, who may call it, and how it answers."""

    path: str
    handler: Handler
    methods: tuple[str, ...]
    access: Access
    kind: Kind
    own_body: bool  # reads the request body itself (the streamed upload)
    scoped: str | None  # the path parameter naming a merchant's campaign or request, if any


ROUTES: list[Spec] = []


def route(path: str, *, methods: tuple[str, ...] = ("GET",), access: Access = "signed-in",
          kind: Kind = "page", own_body: bool = False) -> Callable[[Handler], Handler]:
    """Register a handler for ``path``; the registry is the list every route test walks."""

    def register(handler: Handler) -> Handler:
        scoped = next((p for p in SCOPED if "{" + p + "}" in path), None)
        ROUTES.append(Spec(path, handler, methods, access, kind, own_body, scoped))
        return handler

    return register


def not_found(ctx: Ctx, kind: Kind, access: Access = "signed-in") -> Response:
    """Answer 404 the same way whether a thing is missing or not the viewer's."""
    if access == "token":
        return JSONResponse({"error": "not found"}, status_code=404)
    if kind == "data":
        return PlainTextResponse("not found", status_code=404)
    return ctx.page("error.html", 404, title="Not found",
                    message="There is no such page, or it is not yours to see.")


def endpoint(spec: Spec) -> Callable[[Request], Any]:
    """Wrap a handler in the session, access, origin and CSRF checks."""

    async def call(request: Request) -> Response:
        web: Web = request.app.state.web
        if spec.access == "token":
            return await _api_call(spec, request, web)
        client = request.client.host if request.client else None
        session = await run_in_threadpool(web.portal.accounts.session,
                                          request.cookies.get(web.cookies.session), address=client)
        ctx = Ctx(request, web, session)
        if spec.access != "public":
            if session is None:
                if spec.kind == "data" or request.method not in ("GET", "HEAD"):
                    return PlainTextResponse("sign in first", status_code=401)
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/signin?next={quote(target)}", status_code=303)
            if not _allowed(spec.access, ctx.viewer):
                return not_found(ctx, spec.kind)
        if request.method == "POST":
            refused = await _check_post(spec, ctx)
            if refused is not None:
                return refused
        try:
            if spec.own_body:
                response: Response = await spec.handler(ctx)
            else:
                response = await run_in_threadpool(spec.handler, ctx)
        except NotVisible:
            return not_found(ctx, spec.kind)
        return response

    call.__name__ = spec.handler.__name__
    return call


async def _api_call(spec: Spec, request: Request, web: Web) -> Response:
    """Run an API handler for the merchant whose token the call carries (cookies are ignored)."""
    viewer = await run_in_threadpool(web.portal.tokens.authenticate, request.headers.get("authorization"))
    if viewer is None:
        return JSONResponse({"error": "send a valid API token: Authorization: Bearer obt_... (make one "
                                      "on the portal's API tokens page)"}, status_code=401,
                            headers={"www-authenticate": 'Bearer realm="offerbot"'})
    ctx = Ctx(request, web, None, token_viewer=viewer)
    try:
        response: Response = await run_in_threadpool(spec.handler, ctx)
    except NotVisible:
        return not_found(ctx, spec.kind, spec.access)
    return response


def _allowed(access: Access, viewer: Viewer) -> bool:
    if access == "ops":
        return viewer.role is Role.OPS
    if access == "merchant":
        return viewer.role is Role.MERCHANT
    return True


async def _check_post(spec: Spec, ctx: Ctx) -> Response | None:
    """Refuse a POST from elsewhere, or without the form's token; read an ordinary form."""
    request, web = ctx.request, ctx.web
    forbidden = ctx.page("error.html", 403, title="Refused",
                         message="The form's security check failed (it came from another site, or the page "
                                 "was out of date). Go back, reload the page and try again.")
    if not same_origin(request, web.app.settings.portal.origin):
        return forbidden
    if spec.own_body:
        return None  # the upload checks its token as the body streams in
    length = request.headers.get("content-length")
    if length is None or not length.isdigit() or int(length) > MAX_FORM:
        return ctx.page("error.html", 413, title="Too large",
                        message="The form is too large. A campaign file is at most 64 KiB.")
    form = await request.form(max_files=1, max_fields=20)
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            data = await value.read(MAX_FORM_FILE)
            if data:
                ctx.files[key] = (value.filename or "", data)
            await value.close()
        else:
            ctx.form[key] = value
    await form.close()
    if spec.path == "/signin":  # no session yet: the token is the sign-in cookie's (double submit)
        expected = request.cookies.get(web.cookies.sign_in, "")
    else:
        expected = ctx.session.csrf_token if ctx.session else ""
    if not tokens_match(expected, ctx.form.get("csrf")):
        ctx.audit("csrf refused", f"{request.method} {request.url.path}")
        return forbidden
    return None


def starlette_routes() -> list[Route]:
    """Return every registered route, wrapped."""
    return [Route(spec.path, endpoint(spec), methods=list(spec.methods), name=spec.handler.__name__)
            for spec in ROUTES]


def new_token() -> str:
    """Return a fresh random token (sign-in form)."""
    return secrets.token_urlsafe(32)
