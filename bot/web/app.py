"""The portal's ASGI app: routes from the registry, static files of our own, security headers."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from bot.bootstrap import App, Portal
from bot.web import api, dashboard, pages, tokens
from bot.web.registry import ROUTES, Web, starlette_routes

__all__ = ["ROUTES", "create_app"]  # ROUTES: every route, registered by importing the route modules
from bot.web.security import Cookies, SecurityHeaders

_ROUTE_MODULES = (pages, dashboard, tokens, api)


def create_app(app: App, portal: Portal) -> Starlette:
    """Build the portal over the bot's app and the portal's services (no docs pages, no CDN)."""
    cookies = Cookies(app.settings.portal)
    routes = [*starlette_routes(), Mount("/static", app=StaticFiles(directory=pages.STATIC), name="static")]
    web = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders, secure=cookies.secure)])
    web.state.web = Web(app, portal, cookies)
    return web
