"""受理: the whole registration use case shared by the API and the web console —
register, compute the suggestions, 并单 when the order certainly repeats an open one,
else 智能派单 when confident, remember what was proposed."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.domain import SYSTEM_ACTOR, Actor
from dispatch import learning
from dispatch.exceptions import ActionRejected, ConcurrentUpdate, IllegalTransition
from dispatch.services import DispatchService, OrderDetail
from dispatch.storage import Hotline
from dispatch.suggestions import Suggester

log = logging.getLogger(__name__)


async def register_request(
    service: DispatchService,
    suggester: Suggester,
    sessions: async_sessionmaker[AsyncSession],
    actor: Actor,
    fields: Mapping[str, Any],
    automatic: bool = True,
) -> tuple[OrderDetail, dict[str, Any]]:
    """The registered (maybe merged or dispatched) order and the suggestions shown with it.

    `automatic` off: neither 并单 nor 智能派单 (the agent is answering on the spot).
    """
    detail = await service.register(actor, fields)
    async with sessions() as session:
        suggestions = await suggester.suggest(session, actor, detail.order)
        hotline = await session.get(Hotline, detail.order.hotline_number)
    merge = suggester.auto_merge(detail.order, suggestions) if automatic else None
    if merge is not None:
        try:
            detail = await service.act(SYSTEM_ACTOR, detail.order.number, "merge", merge)
        except (ActionRejected, IllegalTransition, ConcurrentUpdate) as exc:
            # the parent was answered (or the order touched) meanwhile: a person decides
            log.info("order %s not merged into %s: %s", detail.order.number, merge, exc)
            merge = None
    payload = None
    if automatic and merge is None:
        payload = suggester.auto_dispatch(detail.order, hotline.mode, suggestions)
    if payload is not None:
        detail = await service.act(SYSTEM_ACTOR, detail.order.number, "dispatch", payload)
    if suggestions["category"]:
        await learning.record_suggestion(
            sessions, detail.order, suggester.model_version, suggestions, payload is not None
        )
    return detail, suggestions
