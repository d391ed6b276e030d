"""Maps and 位置 → 地址 for the pages (dispatch/geo.py): the same answers as
`/api/v1/geo/*`, for the page's session; an anonymous citizen gets the grid cells only
(no earlier order's address)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from app.http import json_response
from app.keys import SESSIONS, SETTINGS
from dispatch import geo
from web.session import current_actor

LEAFLET_PATH = "/web/static/leaflet/"


def add_geo_routes(app: web.Application) -> None:
    """The JSON endpoints and Leaflet's files (before /web/static/, which would hide them)."""
    app.router.add_get("/web/api/geo/reverse", reverse)
    app.router.add_get("/web/api/geo/map", map_layer)
    leaflet = Path(app[SETTINGS].web.leaflet_dir)
    if (leaflet / "leaflet.js").is_file():
        app.router.add_static(LEAFLET_PATH, leaflet, name="leaflet")


def form_point(form) -> tuple[float | None, float | None]:
    """The position a redrawn form carries (latitude, longitude), or (None, None)."""
    try:
        lat, lng = float(form.get("latitude", "")), float(form.get("longitude", ""))
    except (TypeError, ValueError):
        return None, None
    return (lat, lng) if -90 <= lat <= 90 and -180 <= lng <= 180 else (None, None)


def map_options(
    request: web.Request, lat: float | None = None, lng: float | None = None, pick: bool = False
) -> dict:
    """What a page's map element carries (web/templates/_map.html); `pick`: a click on
    the map sets the form's position."""
    settings = request.app[SETTINGS].web
    return {
        "leaflet": "leaflet" in request.app.router.named_resources(),
        "tiles": settings.map_tiles_url,
        "attribution": settings.map_tiles_attribution,
        "lat": lat,
        "lng": lng,
        "pick": pick,
    }


async def reverse(request: web.Request) -> web.StreamResponse:
    """GET /web/api/geo/reverse?lat=&lng= — the address for a position."""
    point = geo.point_of(request.query)
    actor = await current_actor(request)
    max_m = request.app[SETTINGS].web.reverse_geocode_max_m
    async with request.app[SESSIONS]() as session:
        answer = await geo.reverse(session, actor, point.lat, point.lng, max_m)
    return json_response(answer)


async def map_layer(request: web.Request) -> web.StreamResponse:
    """GET /web/api/geo/map — the grid (and, for staff, known addresses) as GeoJSON."""
    actor = await current_actor(request)
    async with request.app[SESSIONS]() as session:
        return json_response(await geo.map_layer(session, actor))
