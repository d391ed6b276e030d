"""The deadline scanner: a background loop raising warnings and overdue flags (预警/超期)."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError

from app.bus import announce
from dispatch.services import DispatchService
from knowledge_base.live_index import KnowledgeBase

log = logging.getLogger(__name__)


async def run_scanner(service: DispatchService, kb: KnowledgeBase, interval: float) -> None:
    """Scan every `interval` seconds until cancelled; one failed round does not stop it.

    Besides order deadlines, knowledge-base entries past their validity are taken
    offline and the search index follows changes made by other processes.
    """
    while True:
        try:
            raised = await service.scan()
            if raised:
                log.info("scanner raised %d alarm(s): %s", len(raised), raised[:10])
            if expired := await kb.expire_due():
                log.info("knowledge-base entries expired: %s", expired)
            if await kb.refresh_if_changed():  # the day turned, say: tell the other nodes
                announce("kb")
        except SQLAlchemyError:
            log.exception("deadline scan failed; retrying in %.0f s", interval)
        await asyncio.sleep(interval)
