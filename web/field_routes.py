"""Routes of the citizen pages, the grid-inspector screen and the attachments
(web/screens/citizen.py, inspector.py, files.py), added by `web.setup.add_web_routes`."""

from __future__ import annotations

from aiohttp import web

from app.http import add_routes
from web import i18n
from web.screens import citizen, files, inspector

TOKEN = r"{token:[A-Za-z0-9_\-]{16,64}}"
NUMBER = r"{number:\d{1,20}}"


def add_field_routes(app: web.Application) -> None:
    citizen.setup(app)
    app.router.add_get("/citizen", citizen.redirect_home)
    app.router.add_get("/web/citizen", citizen.home)
    app.router.add_get("/web/citizen/lang/{lang:(zh|en)}", i18n.switch)
    app.router.add_post("/web/citizen/submit", citizen.submit)
    app.router.add_post("/web/citizen/track", citizen.track)
    app.router.add_get(f"/web/citizen/t/{TOKEN}", citizen.status_page)
    app.router.add_post(f"/web/citizen/t/{TOKEN}/rate", citizen.rate)
    app.router.add_get(rf"/web/citizen/t/{TOKEN}/files/{{id:[0-9a-f]{{32}}}}", citizen.public_file)
    app.router.add_get("/web/inspector", inspector.home)
    app.router.add_post("/web/inspector/report", inspector.report)
    app.router.add_post(f"/web/inspector/{NUMBER}/inspect", inspector.inspect)
    app.router.add_get(r"/web/files/{id:[0-9a-f]{32}}", files.serve)
    add_routes(app, files.API_ROUTES)
