"""The deadline scanner: a background loop raising warnings and overdue flags (预警/超期)."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError

from dispatch.services import DispatchService

log = logging.getLogger(__name__)


async def run_scanner(service: DispatchService, interval: float) -> None:
    """Scan every `interval` seconds until cancelled; one failed round does not stop it."""
    while True:
        try:
            raised = await service.scan()
            if raised:
                log.info("scanner raised %d alarm(s): %s", len(raised), raised[:10])
        except SQLAlchemyError:
            log.exception("deadline scan failed; retrying in %.0f s", interval)
        await asyncio.sleep(interval)
