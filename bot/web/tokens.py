"""The API tokens page: a merchant's tokens for the JSON API, made (shown once) and revoked here."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from bot.adapters.sql.read_models import NotVisible
from bot.services.api_tokens import ApiTokenError, NewToken
from bot.web.registry import Ctx, route


def _page(ctx: Ctx, code: int = 200, *, made: NewToken | None = None, error: str = "") -> Response:
    read = ctx.web.portal.read
    merchants = sorted(read.merchants()) if ctx.viewer.is_ops else []
    return ctx.page("tokens.html", code, title="API tokens", tokens=read.api_tokens(ctx.viewer), made=made,
                    error=error, merchants=merchants, url=ctx.web.app.settings.portal.url)


@route("/tokens")
def tokens(ctx: Ctx) -> Response:
    """List the viewer's API tokens, with the form to make one."""
    return _page(ctx)


@route("/tokens", methods=("POST",))
def create_token(ctx: Ctx) -> Response:
    """Make a token and show it this once (only its hash is kept)."""
    try:
        made = ctx.web.portal.tokens.create(ctx.viewer, ctx.form.get("name", ""), ctx.form.get("merchant"),
                                            address=ctx.address)
    except ApiTokenError as exc:
        return _page(ctx, 422, error=str(exc))
    return _page(ctx, made=made)


@route("/tokens/{token_id}/revoke", methods=("POST",))
def revoke_token(ctx: Ctx) -> Response:
    """Revoke a token: calls with it are refused from now on."""
    text = ctx.request.path_params["token_id"]
    if not text.isdigit() or len(text) > 12:
        raise NotVisible(text)
    token = ctx.web.portal.read.api_token(ctx.viewer, int(text))
    ctx.web.portal.tokens.revoke(ctx.viewer, token, address=ctx.address)
    return RedirectResponse("/tokens", status_code=303)
