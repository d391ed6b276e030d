"""Our own gazetteer: grid cells (网格) and the addresses of past orders with a position.

The service runs offline, so a position is turned into an address against our data, not
a geocoding service: the nearest earlier order with an address within
`[web] reverse_geocode_max_m` (only orders the asker may see; none for an anonymous
citizen), else the grid cell containing the point ("东湖区湖滨街道锦绣社区网格"). The same
cells, as GeoJSON, are the map drawn when no tile server is configured or reachable.

Cells are polygons imported from a GeoJSON FeatureCollection (`python -m dispatch
import-grid`, properties `code`, `name`, `district`, `street`); the demo ships its own.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import JSON, Float, String, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from accounts.domain import Actor
from app.db import Base
from app.errors import InvalidInput
from app.http import ANY_USER, ApiRoute, Call
from app.keys import SESSIONS, SETTINGS
from dispatch.services import visible_to
from dispatch.storage import Order

DEMO_CELLS = Path(__file__).parent / "data" / "grid_cells.geojson"
EARTH_M = 6_371_000.0
# Known addresses drawn on a map: the latest ones with a position (a map, not a report).
MAP_ADDRESSES = 300


class GridCell(Base):
    """One 网格 of the city: a polygon (GeoJSON coordinates) and its bounding box."""

    __tablename__ = "grid_cells"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    district: Mapped[str] = mapped_column(String(40), default="")
    street: Mapped[str] = mapped_column(String(60), default="")
    # [[lng, lat], ...]: the outer ring of the polygon, as in GeoJSON
    ring: Mapped[list[Any]] = mapped_column(JSON)
    south: Mapped[float] = mapped_column(Float, index=True)
    west: Mapped[float] = mapped_column(Float)
    north: Mapped[float] = mapped_column(Float)
    east: Mapped[float] = mapped_column(Float)

    @property
    def label(self) -> str:
        return f"{self.district}{self.street}{self.name}"


# ---------------------------------------------------------------- geometry


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance (haversine), metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_M * math.asin(math.sqrt(a))


def contains(ring: list[list[float]], lat: float, lng: float) -> bool:
    """Point in polygon (even-odd rule); `ring` is [[lng, lat], ...]."""
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
        if (y1 > lat) != (y2 > lat) and lng < (x2 - x1) * (lat - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


def _ring(feature: Any) -> list[list[float]]:
    geometry = feature.get("geometry") or {}
    coords = geometry.get("coordinates")
    if geometry.get("type") == "MultiPolygon" and coords:
        coords = coords[0]
    if geometry.get("type") not in ("Polygon", "MultiPolygon") or not coords:
        raise InvalidInput("网格:每个要素必须是多边形(Polygon)")
    ring = [[float(x), float(y)] for x, y, *_ in coords[0]]
    if len(ring) < 3 or not all(-180 <= x <= 180 and -90 <= y <= 90 for x, y in ring):
        raise InvalidInput("网格:多边形坐标不正确")
    return ring


def cells_from_geojson(doc: Any) -> list[GridCell]:
    """The cells of a FeatureCollection; any malformed feature refuses the whole file."""
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise InvalidInput("网格:需要 GeoJSON FeatureCollection")
    cells = []
    for feature in doc.get("features") or []:
        props = feature.get("properties") or {}
        code, name = str(props.get("code", "")).strip(), str(props.get("name", "")).strip()
        if not code or not name:
            raise InvalidInput("网格:每个要素需要 code 和 name 属性")
        ring = _ring(feature)
        lngs, lats = [p[0] for p in ring], [p[1] for p in ring]
        cells.append(
            GridCell(
                code=code[:40],
                name=name[:100],
                district=str(props.get("district", ""))[:40],
                street=str(props.get("street", ""))[:60],
                ring=ring,
                south=min(lats),
                north=max(lats),
                west=min(lngs),
                east=max(lngs),
            )
        )
    return cells


async def import_cells(session: AsyncSession, doc: Any) -> int:
    """Replace the grid with the cells of `doc` (one transaction)."""
    cells = cells_from_geojson(doc)
    await session.execute(delete(GridCell))
    session.add_all(cells)
    await session.commit()
    return len(cells)


async def load_demo_cells(session: AsyncSession) -> int:
    """The demo city's grid, unless a grid is there already."""
    if await session.scalar(select(func.count(GridCell.id))):
        return 0
    return await import_cells(session, json.loads(DEMO_CELLS.read_text(encoding="utf-8")))


# ---------------------------------------------------------------- look-ups


async def cell_at(session: AsyncSession, lat: float, lng: float) -> GridCell | None:
    rows = await session.scalars(
        select(GridCell).where(
            GridCell.south <= lat, GridCell.north >= lat, GridCell.west <= lng, GridCell.east >= lng
        )
    )
    return next((c for c in rows if contains(c.ring, lat, lng)), None)


def _box(lat: float, lng: float, metres: float) -> tuple[float, float]:
    """Half-sizes (degrees of latitude, longitude) of a box around a point."""
    dlat = math.degrees(metres / EARTH_M)
    return dlat, dlat / max(math.cos(math.radians(lat)), 0.01)


def _visible(actor: Actor) -> list[Any]:
    """`visible_to` as a list of conditions (none when the actor sees every order)."""
    condition = visible_to(actor)
    return [] if condition is None else [condition]


async def nearest_address(
    session: AsyncSession, actor: Actor, lat: float, lng: float, max_m: float
) -> tuple[str, float] | None:
    """The address of the nearest order the actor may see, within `max_m` metres.

    Confidential callers' orders are left out: their address could name them."""
    dlat, dlng = _box(lat, lng, max_m)
    rows = await session.execute(
        select(Order.address, Order.latitude, Order.longitude)
        .where(
            *_visible(actor),
            Order.latitude.between(lat - dlat, lat + dlat),
            Order.longitude.between(lng - dlng, lng + dlng),
            Order.address.is_not(None),
            Order.address != "",
            Order.confidential.is_(False),
        )
        .order_by(Order.id.desc())
        .limit(500)
    )
    best = None
    for address, olat, olng in rows:
        d = distance_m(lat, lng, olat, olng)
        if d <= max_m and (best is None or d < best[1]):
            best = (address, d)
    return best


def _cell_json(cell: GridCell | None) -> dict[str, Any] | None:
    if cell is None:
        return None
    return {"code": cell.code, "name": cell.name, "district": cell.district, "street": cell.street}


async def reverse(
    session: AsyncSession, actor: Actor | None, lat: float, lng: float, max_m: float
) -> dict[str, Any]:
    """What we know of a point: {address, source: order|cell|None, distance_m, cell}."""
    cell = await cell_at(session, lat, lng)
    known = await nearest_address(session, actor, lat, lng, max_m) if actor else None
    answer: dict[str, Any] = {"address": None, "source": None, "distance_m": None}
    if known:
        answer.update(address=known[0], source="order", distance_m=round(known[1], 1))
    elif cell:
        answer.update(address=cell.label, source="cell")
    answer["cell"] = _cell_json(cell)
    return answer


async def map_layer(session: AsyncSession, actor: Actor | None) -> dict[str, Any]:
    """GeoJSON of the grid cells and (for staff) the known addresses they may see."""
    features: list[dict[str, Any]] = [
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [[*c.ring, c.ring[0]]]},
            "properties": {"kind": "cell", "label": c.label, **(_cell_json(c) or {})},
        }
        for c in await session.scalars(select(GridCell).order_by(GridCell.code))
    ]
    if actor is not None:
        rows = await session.execute(
            select(Order.address, Order.latitude, Order.longitude)
            .where(
                *_visible(actor),
                Order.latitude.is_not(None),
                Order.longitude.is_not(None),
                Order.address.is_not(None),
                Order.address != "",
                Order.confidential.is_(False),
            )
            .order_by(Order.id.desc())
            .limit(MAP_ADDRESSES)
        )
        seen: set[str] = set()
        for address, lat, lng in rows:
            if address in seen:
                continue
            seen.add(address)
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [lng, lat]},
                    "properties": {"kind": "address", "label": address},
                }
            )
    return {"type": "FeatureCollection", "features": features}


# ---------------------------------------------------------------- API


class Point(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)


def point_of(query: Any) -> Point:
    """A point from a query string (the web pages' endpoints); 400 when malformed."""
    try:
        return Point(lat=float(query.get("lat", "")), lng=float(query.get("lng", "")))
    except ValueError:
        raise InvalidInput("位置:需要有效的经纬度 lat、lng") from None


async def reverse_route(request, call: Call) -> dict[str, Any]:
    max_m = request.app[SETTINGS].web.reverse_geocode_max_m
    async with request.app[SESSIONS]() as session:
        return await reverse(session, call.actor, call.query.lat, call.query.lng, max_m)


async def map_route(request, call: Call) -> dict[str, Any]:
    async with request.app[SESSIONS]() as session:
        return await map_layer(session, call.actor)


routes = [
    ApiRoute(
        "GET",
        "/api/v1/geo/reverse",
        reverse_route,
        "位置 → 地址(本系统网格与历史工单地址,离线;无匹配时 address 为 null)",
        roles=ANY_USER,
        query=Point,
        tags=("geo",),
    ),
    ApiRoute(
        "GET",
        "/api/v1/geo/map",
        map_route,
        "地图底图 GeoJSON:网格多边形和可见工单的已知地址点",
        roles=ANY_USER,
        tags=("geo",),
    ),
]
