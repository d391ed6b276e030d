"""The call-centre service: intake decisions and call records, on the asyncio side.

Every INVITE reaches one intake; the dialled number says which hotline it is for.
Unknown numbers are refused with 404 and a log line. A known number is answered, the
hotline's greeting is played and the call is recorded; each call leaves a record in
`calls`. Then the IVR (callcenter.ivr, a pure state machine fed with DTMF, prompt ends
and timers) offers the hotline's menu and puts the caller in a queue to wait with hold
music; a caller who hangs up there is `abandoned` and lands on the callback list, as
does one who asks to be called back. (Agents and bridging build on this: issue 7.)

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
from callcenter import domain, ivr, storage
from callcenter import events as ev
from callcenter.bridge import SipEndpoint
from callcenter.exceptions import EndpointStopped
from callcenter.prompts import prompt_file
from callcenter.recordings import recording_path, repair_recordings
from config import SipSettings

log = logging.getLogger(__name__)

SIP_NOT_FOUND = 404
SIP_SERVER_ERROR = 500
WRITE_BATCH = 500


def ivr_config(settings: SipSettings) -> ivr.IvrConfig:
    """The IVR's timings from `[sip]`."""
    return ivr.IvrConfig(
        **{
            name: getattr(settings, name)
            for name in (
                "menu_timeout_seconds",
                "menu_attempts",
                "queue_long_wait_seconds",
                "queue_max_wait_seconds",
            )
        }
    )


class CallCenter:
    """The SIP intake with its call records."""

    def __init__(
        self,
        settings: SipSettings,
        hotlines: Collection[str],
        sessions: async_sessionmaker[AsyncSession],
        now: Callable[[], datetime] = utcnow,
        ivr_settings: ivr.IvrConfig | None = None,
    ) -> None:
        self.settings = settings
        self.ivr_settings = ivr_settings or ivr_config(settings)
        self.hotlines = frozenset(hotlines)
        self._sessions = sessions
        self._now = now
        self.endpoint = SipEndpoint(settings, self._on_event)
        self._active: dict[int, domain.CallRecord] = {}  # by leg
        self._writes: asyncio.Queue[domain.CallRecord | storage.CallbackEntry] = asyncio.Queue()
        self._ivr: dict[int, ivr.IvrCall] = {}  # by leg, while the call is up
        self._timers: dict[int, dict[str, asyncio.TimerHandle]] = {}
        self._playing: dict[int, tuple[int, str]] = {}  # leg -> (token, last prompt)
        self._tokens = 0
        self.dtmf_received = 0
        self._stopping = False
        self._writer: asyncio.Task | None = None
        self._missing_prompts: set[object] = set()
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
        self._stopping = True
        report = await self.endpoint.stop()
        now = self._now()
        for leg in list(self._timers):
            self._cancel_timers(leg)
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
            case ev.GreetingFinished(leg=leg):
                self._ivr_step(leg, lambda call: call.greeting_finished())
            case ev.PromptFinished(leg=leg, token=token):
                self._prompt_done(leg, token)
            case ev.DtmfReceived(leg=leg, digit=digit, method=method):
                self.dtmf_received += 1
                log.info("call leg %d: DTMF %r (%s)", leg, digit, method)
                self._ivr_step(leg, lambda call: call.digit(digit))
            case ev.CallDisconnected(leg=leg):
                self._disconnected(leg)
            case ev.CommandFailed(leg=leg, command="play", reason=reason):
                # Do not leave the IVR waiting for the end of a prompt never played.
                log.info("call leg %d: prompt not played: %s", leg, reason)
                if leg in self._playing:
                    self._prompt_done(leg, self._playing[leg][0])
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
        self._ivr[event.leg] = ivr.IvrCall(ivr.menu_for(match.number), self.ivr_settings)
        self._writes.put_nowait(record)
        log.info("call %s to %s (%s) from %s", record_id, match.number, match.source.value, caller)
        self._command(self.endpoint.answer, event.leg, self._greeting(match.number), recording)

    def _command(self, command: Callable[..., None], *args, **kwargs) -> None:
        try:
            command(*args, **kwargs)
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

    # ------------------------------------------------------------------ IVR

    def _ivr_step(self, leg: int, step: Callable[[ivr.IvrCall], list[ivr.Action]]) -> None:
        call = self._ivr.get(leg)
        if call is not None:
            self._run(leg, step(call))

    def _prompt_done(self, leg: int, token: int) -> None:
        token_now, prompt = self._playing.get(leg, (None, ""))
        if token_now != token:
            return  # replaced by another prompt meanwhile
        del self._playing[leg]
        self._ivr_step(leg, lambda call: call.prompt_finished(prompt))

    def _run(self, leg: int, actions: list[ivr.Action]) -> None:
        """Carry out what the IVR decided, in order."""
        loop = asyncio.get_running_loop()
        for action in actions:
            match action:
                case ivr.Play(prompts=prompts):
                    self._play(leg, prompts, loop=False)
                case ivr.Hold():
                    self._play(leg, (ivr.HOLD,), loop=True)
                case ivr.StartTimer(kind=kind, seconds=seconds):
                    self._cancel_timer(leg, kind)
                    handle = loop.call_later(seconds, self._timer_fired, leg, kind)
                    self._timers.setdefault(leg, {})[kind] = handle
                case ivr.CancelTimer(kind=kind):
                    self._cancel_timer(leg, kind)
                case ivr.Enqueue(queue=queue):
                    self._update(leg, lambda record: domain.enqueue(record, queue, self._now()))
                    log.info("call leg %d queued in %s", leg, queue)
                case ivr.RegisterCallback(reason=reason):
                    self._register_callback(leg, reason)
                case ivr.Hangup():
                    self._command(self.endpoint.hangup, leg)

    def _play(self, leg: int, prompts: tuple[str, ...], loop: bool) -> None:
        hotline = self._active[leg].hotline if leg in self._active else ""
        files = [prompt_file(self.settings.prompts_path, hotline, name) for name in prompts]
        missing = [name for name, path in zip(prompts, files, strict=True) if path is None]
        if missing and (hotline, *missing) not in self._missing_prompts:
            self._missing_prompts.add((hotline, *missing))
            log.warning("hotline %s: no prompt %s (python -m callcenter.prompts)", hotline, missing)
        self._tokens += 1
        token = self._tokens
        self._playing[leg] = (token, prompts[-1])
        found = [path for path in files if path is not None]
        if found:
            self._command(self.endpoint.play, leg, found, loop=loop, token=token)
        elif not loop:  # nothing to play: as if it had been played
            asyncio.get_running_loop().call_soon(self._prompt_done, leg, token)

    def _timer_fired(self, leg: int, kind: str) -> None:
        self._timers.get(leg, {}).pop(kind, None)
        self._ivr_step(leg, lambda call: call.timer(kind))

    def _cancel_timer(self, leg: int, kind: str) -> None:
        handle = self._timers.get(leg, {}).pop(kind, None)
        if handle is not None:
            handle.cancel()

    def _cancel_timers(self, leg: int) -> None:
        for handle in self._timers.pop(leg, {}).values():
            handle.cancel()

    def _register_callback(self, leg: int, reason: ivr.CallbackReason) -> None:
        record = self._active.get(leg)
        if record is None:
            return
        if record.caller == "anonymous":
            log.warning("call %s: no caller number, no callback (%s)", record.id, reason.value)
            return
        now = self._now()
        wait = (now - record.queued_at).total_seconds() if record.queued_at else None
        entry = storage.CallbackEntry(
            call_id=record.id,
            hotline=record.hotline,
            caller=record.caller,
            reason=reason.value,
            created_at=now,
            queue=record.queue,
            wait_seconds=None if wait is None else round(max(wait, 0.0), 3),
        )
        self._writes.put_nowait(entry)
        log.info("call %s: callback for %s (%s)", record.id, record.caller, reason.value)

    def _disconnected(self, leg: int) -> None:
        self._cancel_timers(leg)
        self._playing.pop(leg, None)
        call = self._ivr.pop(leg, None)
        if call is not None:
            # Hang-ups during shut-down are the centre's, not the caller's.
            self._run(leg, call.dropped() if self._stopping else call.hung_up())
        callback = call is not None and call.callback not in (None, ivr.CallbackReason.ABANDONED)
        self._finish(leg, self._now(), failed=leg in self._failed, callback=callback)
        self._failed.discard(leg)

    def _update(self, leg: int, change: Callable[[domain.CallRecord], domain.CallRecord]) -> None:
        record = self._active.get(leg)
        if record is None:
            return
        self._active[leg] = record = change(record)
        self._writes.put_nowait(record)

    def _finish(self, leg: int, at: datetime, failed: bool, callback: bool = False) -> None:
        record = self._active.pop(leg, None)
        self._ivr.pop(leg, None)
        if record is None:
            return
        self._writes.put_nowait(domain.end(record, at, failed=failed, callback=callback))

    # ------------------------------------------------------------------ storage

    async def _write_records(self) -> None:
        while True:
            batch = [await self._writes.get()]
            while len(batch) < WRITE_BATCH and not self._writes.empty():
                batch.append(self._writes.get_nowait())
            # Later changes win; callback entries go in after their call records.
            latest = {r.id: r for r in batch if isinstance(r, domain.CallRecord)}
            callbacks = [e for e in batch if isinstance(e, storage.CallbackEntry)]
            try:
                async with unit_of_work(self._sessions) as session:
                    await storage.save(session, list(latest.values()))
                    await storage.add_callbacks(session, callbacks)
            except Exception:
                # The database is down or refused a row: log, keep serving calls.
                log.exception(
                    "could not write %d call records, %d callbacks", len(latest), len(callbacks)
                )
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
