"""The call-centre service: intake decisions and call records, on the asyncio side.

Every INVITE reaches one intake; the dialled number says which hotline it is for.
Unknown numbers are refused with 404 and a log line. A known number is answered, the
hotline's greeting is played and the call is recorded; each call leaves a record in
`calls`. (IVR menus, queues and agents build on this: see issue 7.)

State changes happen only on events from the endpoint thread, which arrive in order;
records are written by one writer task in batches (one transaction per batch), so a
burst of calls costs few transactions and never blocks SIP handling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Collection
from datetime import datetime
from pathlib import Path

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work, utcnow
from app.keys import CALLCENTER, SESSIONS, SETTINGS
from callcenter import domain, storage
from callcenter import events as ev
from callcenter.bridge import SipEndpoint
from callcenter.exceptions import EndpointStopped
from callcenter.recordings import recording_path, repair_recordings
from config import SipSettings

log = logging.getLogger(__name__)

SIP_NOT_FOUND = 404
SIP_SERVER_ERROR = 500
WRITE_BATCH = 500


class CallCenter:
    """The SIP intake with its call records."""

    def __init__(
        self,
        settings: SipSettings,
        hotlines: Collection[str],
        sessions: async_sessionmaker[AsyncSession],
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.hotlines = frozenset(hotlines)
        self._sessions = sessions
        self._now = now
        self.endpoint = SipEndpoint(settings, self._on_event)
        self._active: dict[int, domain.CallRecord] = {}  # by leg
        self._writes: asyncio.Queue[domain.CallRecord] = asyncio.Queue()
        self._writer: asyncio.Task | None = None
        self._missing_prompts: set[str] = set()
        self._failed: set[int] = set()  # legs whose answer failed
        self.rejected = 0  # INVITEs refused for an unknown number

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        repaired = await loop.run_in_executor(
            None, repair_recordings, self.settings.recordings_path
        )
        async with unit_of_work(self._sessions) as session:
            closed = await storage.close_unfinished(session, self.settings.node_name, self._now())
        if repaired or closed:
            log.warning(
                "after an unclean stop: %d recordings repaired, %d call records closed",
                repaired,
                closed,
            )
        self._writer = asyncio.create_task(self._write_records(), name="call-records")
        try:
            await self.endpoint.start()
        except BaseException:
            await self._stop_writer()
            raise

    async def stop(self) -> ev.ShutdownReport:
        """Hang up every call, record how each ended, and stop the endpoint."""
        # The hang-ups of shut-down reach _on_event before stop() returns: events and
        # the report leave the endpoint thread in order.
        report = await self.endpoint.stop()
        now = self._now()
        for leg in list(self._active):
            self._finish(leg, now, failed=True)
        await self._stop_writer()
        if not report.clean:
            log.warning("SIP endpoint did not stop cleanly: %s", report)
        return report

    async def flush(self) -> None:
        """Wait until every call record change so far is in the database."""
        await self._writes.join()

    @property
    def active_calls(self) -> int:
        return len(self._active)

    # ------------------------------------------------------------------ events

    def _on_event(self, event: ev.BridgeEvent) -> None:
        match event:
            case ev.IncomingCall():
                self._incoming(event)
            case ev.CallAnswered(leg=leg):
                self._update(leg, lambda record: domain.answer(record, self._now()))
            case ev.MediaStarted(leg=leg, recording=str() as path):
                self._update(leg, lambda record: domain.attach_recording(record, path))
            case ev.MediaFailed(leg=leg, reason=reason):
                log.warning("call leg %d: no greeting/recording: %s", leg, reason)
            case ev.CallDisconnected(leg=leg):
                self._finish(leg, self._now(), failed=leg in self._failed)
                self._failed.discard(leg)
            case ev.CommandFailed(leg=leg, command="answer", reason=reason):
                # Usually the caller hung up first (then DISCONNECTED follows anyway);
                # otherwise do not leave the caller ringing.
                log.warning("call leg %d could not be answered: %s", leg, reason)
                self._failed.add(leg)
                self._command(self.endpoint.reject, leg, SIP_SERVER_ERROR, "Answer failed")
            case ev.CommandFailed(leg=leg, command=command, reason=reason):
                log.info("call leg %d: %s not done: %s", leg, command, reason)

    def _incoming(self, event: ev.IncomingCall) -> None:
        invite = domain.parse_invite(event.message)
        match = domain.identify_hotline(invite, self.hotlines)
        caller = domain.caller_number(invite)
        if match is None:
            self.rejected += 1
            log.warning(
                "unknown number %r dialled by %s from %s (Call-ID %s): 404",
                domain.dialled_number(invite),
                caller,
                event.source,
                invite.call_id,
            )
            self._command(
                self.endpoint.reject, event.leg, SIP_NOT_FOUND, "Hotline number not found"
            )
            return
        now = self._now()
        record_id = uuid.uuid4().hex
        recording = recording_path(self.settings.recordings_path, record_id, now)
        record = domain.offer(
            record_id, match.number, caller, now, invite.call_id, self.settings.node_name
        )
        self._active[event.leg] = record
        self._writes.put_nowait(record)
        log.info("call %s to %s (%s) from %s", record_id, match.number, match.source.value, caller)
        self._command(self.endpoint.answer, event.leg, self._greeting(match.number), recording)

    def _command(self, command: Callable[..., None], *args) -> None:
        try:
            command(*args)
        except EndpointStopped:
            # Shutting down: the endpoint hangs up every call it still has.
            log.info("SIP endpoint stopping: %s%r not sent", command.__name__, args)

    def _greeting(self, hotline: str) -> Path | None:
        path = self.settings.greeting(hotline)
        if path.is_file():
            return path
        if hotline not in self._missing_prompts:
            self._missing_prompts.add(hotline)
            log.warning(
                "no greeting for hotline %s at %s (python -m callcenter.prompts)", hotline, path
            )
        return None

    def _update(self, leg: int, change: Callable[[domain.CallRecord], domain.CallRecord]) -> None:
        record = self._active.get(leg)
        if record is None:
            return
        self._active[leg] = record = change(record)
        self._writes.put_nowait(record)

    def _finish(self, leg: int, at: datetime, failed: bool) -> None:
        record = self._active.pop(leg, None)
        if record is None:
            return
        self._writes.put_nowait(domain.end(record, at, failed=failed))

    # ------------------------------------------------------------------ storage

    async def _write_records(self) -> None:
        while True:
            batch = [await self._writes.get()]
            while len(batch) < WRITE_BATCH and not self._writes.empty():
                batch.append(self._writes.get_nowait())
            latest = {record.id: record for record in batch}  # later changes win
            try:
                async with unit_of_work(self._sessions) as session:
                    await storage.save(session, list(latest.values()))
            except Exception:
                # The database is down or refused a row: log, keep serving calls.
                log.exception("could not write %d call records", len(latest))
            finally:
                for _ in batch:
                    self._writes.task_done()

    async def _stop_writer(self) -> None:
        if self._writer is None:
            return
        await self.flush()
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        self._writer = None


async def callcenter_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the SIP intake runs while the web app runs.

    Needs `app[SETTINGS].sip` (SipSettings), `app[SETTINGS].hotlines` and
    `app[SESSIONS]` (so it goes after the database context).
    """
    settings = app[SETTINGS]
    sip: SipSettings = settings.sip
    if not sip.enabled:
        log.info("SIP intake disabled ([sip] enabled = false)")
        yield
        return
    center = CallCenter(sip, [h.number for h in settings.hotlines], app[SESSIONS])
    await center.start()
    app[CALLCENTER] = center
    yield
    await center.stop()
