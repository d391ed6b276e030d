"""The call-centre service: intake decisions and call records, on the asyncio side.

Every INVITE reaches one intake; the dialled number says which hotline it is for.
Unknown numbers are refused with 404 and a log line. A known number is answered, the
hotline's greeting is played and the call is recorded; each call leaves a record in
`calls`. Then the IVR (callcenter.ivr, a pure state machine fed with DTMF, prompt ends
and timers) offers the hotline's menu and puts the caller in a queue to wait with hold
music; a caller who hangs up there is `abandoned` and lands on the callback list, as
does one who asks to be called back.

Agents (callcenter.agents) take callers out of the queues: the ACD (callcenter.acd)
picks the longest-idle available agent with the skill, the intake places a second leg
to the agent's SIP URI, and when the agent answers the two legs are joined in the
conference bridge (B2BUA) and recorded together; either side hanging up ends the other.
An agent who does not answer within `ring_timeout_seconds` is paused (不应答) and the
caller, keeping the place, goes to the next agent.

三方通话: the agent on a call may add a unit's phone (a third leg joined to both in the
conference bridge and to the recording); the unit leaving, busy or unreachable leaves
the two-party call as it was; the agent leaving ends the whole call (README).

State changes happen only on events from the endpoint thread, which arrive in order;
records are written by one writer task in batches (one transaction per batch), so a
burst of calls costs few transactions and never blocks SIP handling.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.domain import mask_phone
from app.bus import Bus
from app.db import unit_of_work, utcnow
from app.keys import BUS, CALLCENTER, DISPATCH, LEADER, SESSIONS, SETTINGS
from callcenter import agents, desk, domain, ivr, languages, linkage, storage
from callcenter import events as ev
from callcenter.acd import Acd, Waiting
from callcenter.acd import queue_status as acd_queue_status
from callcenter.bridge import SipEndpoint
from callcenter.campaigns import CampaignDialer
from callcenter.exceptions import (
    CallNotFound,
    ConferenceNotPossible,
    EndpointStopped,
    IllegalCallTransition,
    LinkageNotPossible,
)
from callcenter.outbound import OutboundDialer, run_dialer
from callcenter.prompts import prompt_file
from callcenter.recordings import purge_recordings, recording_path, repair_recordings
from callcenter.survey import SurveyDialer
from config import SipSettings

log = logging.getLogger(__name__)

SIP_NOT_FOUND = 404
SIP_SERVER_ERROR = 500
WRITE_BATCH = 500
RING_TIMER = "ring"
RECENT_CALLS = 50  # talk times averaged for the estimated wait
DEFAULT_TALK_SECONDS = 180.0
RETRY_OFFER_SECONDS = 1.0  # after the intake itself failed to place an agent's leg


@dataclass
class AgentLeg:
    """The intake's outbound leg to an agent's phone, for one waiting caller."""

    leg: int
    entry: Waiting  # the caller's place in the queue (kept if the agent never answers)
    user_id: int
    confirmed: bool = False
    caller_gone: bool = False  # the caller hung up (or left the queue) first
    local_failure: bool = False  # the intake could not place the call at all
    transfer: tuple[str, int | None] | None = None  # (queue, agent user id): 转接
    handed_over: bool = False  # 应急联动 by transfer: the caller stays with the gateway

    @property
    def caller_leg(self) -> int:
        return self.entry.leg


@dataclass
class UnitLeg:
    """三方通话: the intake's leg to a unit's phone, added to an agent's call; or
    应急联动: to an emergency service's gateway (`handover` set)."""

    leg: int
    caller_leg: int
    record_id: str
    agent_user_id: int
    uri: str
    unit: str | None
    ring_seconds: float
    confirmed: bool = False
    dropped: str = ""  # who ended it first: "agent" (结束三方) or "call" (the call ends)
    handover: linkage.Handover | None = None

    @property
    def transfer(self) -> bool:
        return self.handover is not None and self.handover.mode == "transfer"


# What the agent's console is told about the unit's leg (`type: conference`).
CONFERENCE_LABELS = {
    "ringing": "正在呼叫承办单位……",
    "connected": "三方通话中",
    "ended": "承办单位已退出三方通话,继续与来电人通话",
    "failed": "承办单位未接通,继续与来电人通话",
}
SIP_FAILURES = {486: "忙线", 600: "忙线", 603: "拒接", 480: "暂时无法接通", 408: "无应答"}
# 应急联动: what the console is told about the gateway's leg (`type: linkage`).
LINKAGE_LABELS = {
    "ringing": "正在呼叫{service}……",
    "connected": "{service}已接通,三方通话中",
    "transferred": "已转接{service},来电人与{service}通话,您已退出",
    "ended": "{service}已挂断",
    "failed": "{service}未接通({reason}),请重试或电话联系后在工单上登记",
}

Record = domain.CallRecord | storage.CallbackEntry | agents.Agent | storage.LanguageChoice


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
        self._writes: asyncio.Queue[Record] = asyncio.Queue()
        self._ivr: dict[int, ivr.IvrCall] = {}  # by leg, while the call is up
        self._timers: dict[int, dict[str, asyncio.TimerHandle]] = {}
        self._playing: dict[int, tuple[int, str]] = {}  # leg -> (token, last prompt)
        self._tokens = 0
        self.dtmf_received = 0
        self._stopping = False
        self._writer: asyncio.Task | None = None
        self._missing_prompts: set[object] = set()
        self._failed: set[int] = set()  # legs whose answer failed
        self._lookups: set[asyncio.Task] = set()  # callers' languages being looked up
        self.rejected = 0  # INVITEs refused for an unknown number
        self.acd = Acd(settings.overflow_seconds)
        self.queue_names = [ivr.GENERAL_QUEUE, *sorted({q for q, _ in ivr.TOPICS.values()})]
        if settings.languages:
            offered = [languages.LANGUAGES[code].queue for code in settings.languages]
            self.queue_names += [*offered, languages.LANGUAGE_DESK]
        self._recent_talk: deque[float] = deque(maxlen=RECENT_CALLS)
        self._agent_legs: dict[int, AgentLeg] = {}  # by the agent leg
        self._caller_agent: dict[int, int] = {}  # caller leg -> agent leg
        self._orphans: set[int] = set()  # agent legs given up on, until they end
        self._wrap_timers: dict[int, asyncio.TimerHandle] = {}  # by agent user id
        # Told when an agent answered (the screen pop); set by callcenter_ctx.
        self.on_connected: Callable[[agents.Agent, domain.CallRecord], None] | None = None
        self.survey: SurveyDialer | None = None  # owns the survey calls' legs
        self.campaigns: CampaignDialer | None = None  # owns the campaign calls' legs
        self._unit_legs: dict[int, UnitLeg] = {}  # 三方通话, by the unit's leg
        self._caller_unit: dict[int, int] = {}  # caller leg -> unit leg
        # Told (agent user id, event) about the unit's leg; set by callcenter_ctx.
        self.on_conference: Callable[[int, dict], None] | None = None
        # Told each change of a hand-over (应急联动) to write it; set by callcenter_ctx.
        self.on_handover: Callable[[linkage.Handover], None] | None = None
        # The cluster bus (app/bus.py): agents' changes go to the other nodes' ACDs.
        self.bus: Bus | None = None
        self._dispatching: asyncio.Task | None = None
        self._dispatch_again = False

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        repaired = await loop.run_in_executor(
            None, repair_recordings, self.settings.recordings_path
        )
        await loop.run_in_executor(
            None,
            purge_recordings,
            self.settings.recordings_path,
            self.settings.recordings_retention_days,
            self._now(),
        )
        node = self.settings.node_name
        async with unit_of_work(self._sessions) as session:
            # Only this node's calls ended with it: agents on other nodes' calls stay.
            await storage.free_agents_of(session, node, self._now())
            closed = await storage.close_unfinished(session, node, self._now())
            loaded = await storage.load_agents(session)
        self.acd.agents = {agent.user_id: agent for agent in loaded}
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
        if self._dispatching is not None:
            self._dispatching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatching
        report = await self.endpoint.stop()
        now = self._now()
        for leg in list(self._timers):
            self._cancel_timers(leg)
        for handle in self._wrap_timers.values():
            handle.cancel()
        self._wrap_timers.clear()
        for leg in list(self._active):
            self._finish(leg, now, failed=True)
        for task in list(self._lookups):
            task.cancel()
        await asyncio.gather(*self._lookups, return_exceptions=True)
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

    @property
    def legs_in_use(self) -> int:
        """pjsua calls up: callers, agents' and units' legs, survey and campaign calls."""
        legs = len(self._active) + len(self._agent_legs) + len(self._unit_legs)
        return legs + sum(dialer.active for dialer in self.outbound)

    @property
    def outbound(self) -> list[OutboundDialer]:
        """The dialers (callcenter/outbound.py), each owning its calls' legs."""
        return [d for d in (self.survey, self.campaigns) if d is not None]

    # ------------------------------------------------------------------ events

    def _on_event(self, event: ev.BridgeEvent) -> None:
        leg = getattr(event, "leg", None)
        if leg in self._orphans:  # an agent leg given up on (ring timeout)
            if isinstance(event, ev.CallConfirmed):  # answered too late: hang it up
                self._command(self.endpoint.hangup, leg)
            elif isinstance(event, ev.CallDisconnected | ev.CommandFailed):
                self._orphans.discard(leg)
            return
        if leg in self._agent_legs:
            self._agent_event(self._agent_legs[leg], event)
            return
        if leg in self._unit_legs:
            self._unit_event(self._unit_legs[leg], event)
            return
        for dialer in self.outbound:
            if dialer.owns(leg):
                dialer.on_event(event)
                return
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
        menu = ivr.menu_for(match.number, self.settings.languages)
        self._ivr[event.leg] = ivr.IvrCall(menu, self.ivr_settings)
        if self.settings.languages and caller != "anonymous":
            self._recall_language(event.leg, caller)
        self._writes.put_nowait(record)
        log.info("call %s to %s (%s) from %s", record_id, match.number, match.source.value, caller)
        self._command(self.endpoint.answer, event.leg, self._greeting(match.number), recording)

    def _recall_language(self, leg: int, caller: str) -> None:
        """Look up the caller's language while the greeting plays (the menu's default)."""

        async def recall() -> None:
            async with self._sessions() as session:
                language = await storage.remembered_language(session, caller)
            call = self._ivr.get(leg)
            if call is not None and language is not None:
                call.remembered = language

        task = asyncio.get_running_loop().create_task(recall(), name=f"language-{leg}")
        self._lookups.add(task)
        task.add_done_callback(self._lookup_done)

    def _lookup_done(self, task: asyncio.Task) -> None:
        self._lookups.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("caller language lookup failed: %s", task.exception())

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
                    self._queued(leg, queue)
                    log.info("call leg %d queued in %s", leg, queue)
                    self._enqueue(leg, queue)
                case ivr.RegisterCallback(reason=reason):
                    self._register_callback(leg, reason)
                case ivr.MarkEmergency():
                    self._update(leg, lambda r: domain.mark_emergency(r, self._now()))
                    self.acd.prioritize(leg)
                    log.warning("call leg %d: the caller asked for emergency help", leg)
                case ivr.Hangup():
                    self._command(self.endpoint.hangup, leg)

    def _queued(self, leg: int, queue: str) -> None:
        """The caller waits in `queue`, served in the IVR's language; a language chosen
        by key is remembered for the caller's next call."""
        call, now = self._ivr[leg], self._now()
        self._update(leg, lambda record: domain.enqueue(record, queue, now, call.language))
        record = self._active.get(leg)
        chosen = call.choice not in (None, "default", ivr.EMERGENCY_DIGIT)
        if self.settings.languages and chosen and record and record.caller != "anonymous":
            language = call.language or languages.MANDARIN
            self._writes.put_nowait(storage.LanguageChoice(record.caller, language, now))

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
        self._leave_queue(leg)
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
        self._leave_queue(leg)
        self._drop_unit(leg, by="call")
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

    # ------------------------------------------------------------------ ACD, agents

    def _enqueue(self, leg: int, queue: str) -> None:
        self.acd.enqueue(leg, queue, self._now())
        loop = asyncio.get_running_loop()
        loop.call_soon(self.dispatch_calls)
        if queue != self.acd.overflow_queue:  # the caller may go to general agents then
            loop.call_later(self.settings.overflow_seconds + 0.01, self.dispatch_calls)

    def _leave_queue(self, leg: int) -> None:
        """The caller left the queue (hung up, callback): no agent rings for it any more."""
        self.acd.remove(leg)
        agent_leg = self._caller_agent.pop(leg, None)
        if agent_leg is not None and agent_leg in self._agent_legs:
            self._agent_legs[agent_leg].caller_gone = True
            self._command(self.endpoint.hangup, agent_leg)

    def dispatch_calls(self) -> None:
        """Offer waiting callers to available agents (the ACD decides who to whom, the
        database who gets whom: see `_dispatch_round`). Rounds run one at a time; a
        call during a round asks for one more."""
        if self._stopping or not self.endpoint.running:
            return
        if self._dispatching is not None and not self._dispatching.done():
            self._dispatch_again = True
            return
        self._dispatching = asyncio.get_running_loop().create_task(
            self._dispatch_rounds(), name="acd"
        )
        self._dispatching.add_done_callback(self._dispatch_done)

    def _dispatch_done(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("ACD round failed", exc_info=task.exception())
            asyncio.get_running_loop().call_later(RETRY_OFFER_SECONDS, self.dispatch_calls)

    async def _dispatch_rounds(self) -> None:
        self._dispatch_again = True
        while self._dispatch_again and not self._stopping and self.endpoint.running:
            self._dispatch_again = False
            await self._dispatch_round()

    async def _dispatch_round(self) -> None:
        """Each waiting caller, in place order, is offered to the longest-idle free agent
        who fits, as the database has it: the claim (storage.claim_agent) makes the agent
        ringing in one short transaction, so two nodes never ring the same agent."""
        # This node's agent changes first: the claim reads the stored states.
        await self.flush()
        now = self._now()
        # Each offer is one more pjsua call: keep within max_calls (incoming calls need
        # room too; an agent leg refused for lack of room would only be retried).
        room = self.settings.max_calls - self.legs_in_use
        free = self.acd.free(now)
        for entry in self.acd.waiting():
            if room <= 0 or not free:
                break
            fitting = self.acd.fitting(entry, free, now)
            record = self._active.get(entry.leg)
            if not fitting or record is None:
                continue
            async with unit_of_work(self._sessions) as session:
                agent = await storage.claim_agent(
                    session, [a.user_id for a in fitting], record.id, now
                )
            if agent is None:  # taken on other nodes meanwhile: see them as they are
                await self.reload_agents([a.user_id for a in fitting])
                free = self.acd.free(now)
                continue
            free = [a for a in free if a.user_id != agent.user_id]
            if self.acd.remove(entry.leg) is None or entry.leg not in self._active:
                # The caller left while the agent was claimed: free again, idle as before.
                self._set_agent(agents.ring_cancelled(agent, self._now()))
                continue
            room -= 1
            self._offer(entry, agent, now)

    async def reload_agents(self, user_ids: Collection[int]) -> None:
        """Agents changed on another node (or by the leader): read them again. An agent
        on a call of this node is this node's to change: its view stays."""
        mine = {leg.user_id for leg in self._agent_legs.values()} | set(self._wrap_timers)
        async with self._sessions() as session:
            for user_id in user_ids:
                if user_id in mine:
                    continue
                agent = await storage.load_agent(session, user_id)
                if agent is not None:
                    self.acd.agents[user_id] = agent

    async def _agents_changed(self, data: dict) -> None:
        """Bus handler (topic `agents`): another node changed these agents (a resync:
        maybe any agent)."""
        if data.get("resync"):
            async with self._sessions() as session:
                ids = [agent.user_id for agent in await storage.load_agents(session)]
        else:
            ids = [int(user_id) for user_id in data.get("user_ids", ())]
        await self.reload_agents(ids)
        self.dispatch_calls()

    async def settled(self) -> None:
        """Wait for the ACD round under way (if any) to end."""
        if self._dispatching is not None and not self._dispatching.done():
            await asyncio.wait([self._dispatching])

    def _offer(self, entry: Waiting, agent: agents.Agent, now: datetime) -> None:
        """Ring `agent`, claimed for the caller of `entry` (already `ringing`)."""
        record = self._active[entry.leg]
        self._set_agent(agent)
        leg = self.endpoint.new_leg()
        self._agent_legs[leg] = AgentLeg(leg, entry, agent.user_id)
        self._caller_agent[entry.leg] = leg
        log.info("call %s: ringing agent %s at %s", record.id, agent.username, agent.sip_uri)
        headers = [
            ("X-Hotline", record.hotline),
            ("X-Caller", record.caller),
            ("X-Call-Record", record.id),
        ]
        self._command(self.endpoint.dial, leg, agent.sip_uri, headers)
        handle = asyncio.get_running_loop().call_later(
            self.settings.ring_timeout_seconds, self._ring_timeout, leg
        )
        self._timers.setdefault(leg, {})[RING_TIMER] = handle

    def _ring_timeout(self, leg: int) -> None:
        self._timers.get(leg, {}).pop(RING_TIMER, None)
        agent_leg = self._agent_legs.get(leg)
        if agent_leg is None or agent_leg.confirmed:
            return
        log.info("agent leg %d: no answer in %ss", leg, self.settings.ring_timeout_seconds)
        # CANCEL. Without any answer from the phone pjsip may hold the leg until the
        # INVITE times out (32 s): the caller and the agent do not wait for that.
        self._command(self.endpoint.hangup, leg)
        self._orphans.add(leg)
        self._agent_leg_ended(agent_leg)

    def _agent_event(self, agent_leg: AgentLeg, event: ev.BridgeEvent) -> None:
        match event:
            case ev.CallConfirmed():
                self._agent_answered(agent_leg)
            case ev.CallDisconnected(status_code=code, reason=reason):
                log.info("agent leg %d ended: %s %s", agent_leg.leg, code, reason)
                self._agent_leg_ended(agent_leg)
            case ev.CommandFailed(command="dial", reason=reason):
                # Not the agent's fault (the intake is at max_calls, say): the agent stays
                # available, the caller waits on and is offered again a little later.
                log.warning("agent leg %d not placed: %s", agent_leg.leg, reason)
                agent_leg.local_failure = True
                self._agent_leg_ended(agent_leg)
            case ev.LegsBridged():
                log.info("agent leg %d bridged to call leg %d", agent_leg.leg, agent_leg.caller_leg)
            case ev.CommandFailed(command=command, reason=reason):
                log.info("agent leg %d: %s not done: %s", agent_leg.leg, command, reason)

    def _agent_answered(self, agent_leg: AgentLeg) -> None:
        self._cancel_timer(agent_leg.leg, RING_TIMER)
        caller = agent_leg.caller_leg
        record = self._active.get(caller)
        if agent_leg.caller_gone or record is None:
            self._command(self.endpoint.hangup, agent_leg.leg)
            return
        agent_leg.confirmed = True
        now = self._now()
        agent = agents.answered(self.acd.agents[agent_leg.user_id], now)
        self._set_agent(agent)
        self._update(caller, lambda r: domain.agent_answered(r, agent.username, now))
        self._ivr_step(caller, lambda call: call.connected())
        self._command(self.endpoint.bridge, caller, agent_leg.leg)
        log.info("call %s answered by agent %s", record.id, agent.username)
        if self.on_connected is not None:
            self.on_connected(agent, self._active[caller])

    def _agent_leg_ended(self, agent_leg: AgentLeg) -> None:
        self._agent_legs.pop(agent_leg.leg, None)
        self._cancel_timers(agent_leg.leg)
        caller = agent_leg.caller_leg
        if self._caller_agent.get(caller) == agent_leg.leg:
            del self._caller_agent[caller]
        agent = self.acd.agents.get(agent_leg.user_id)
        now = self._now()
        if agent_leg.confirmed:
            if not agent_leg.handed_over:
                self._drop_unit(caller, by="call")  # no three-way without the agent
            if agent is not None and agent.state is agents.AgentState.TALKING:
                if agent.state_since is not None:
                    self._recent_talk.append((now - agent.state_since).total_seconds())
                self._set_agent(agents.call_ended(agent, now))
                self._start_wrap_up(agent.user_id)
            if caller in self._active and agent_leg.transfer is not None:
                self._requeue_transferred(caller, *agent_leg.transfer)
            elif caller in self._active and agent_leg.handed_over:
                log.info("call leg %d: handed over (应急联动), the agent's leg ended", caller)
            elif caller in self._active:  # the agent hung up: so does the centre
                self._command(self.endpoint.hangup, caller)
            return
        if agent is not None and agent.state is agents.AgentState.RINGING:
            if agent_leg.caller_gone or agent_leg.local_failure:
                self._set_agent(agents.ring_cancelled(agent, now))
            else:
                self._set_agent(agents.no_answer(agent, now))
                log.warning("agent %s did not answer: paused (不应答)", agent.username)
        call = self._ivr.get(caller)
        if not agent_leg.caller_gone and call is not None and call.phase is ivr.Phase.QUEUED:
            # The caller keeps the place; a transfer to that agent becomes one to the queue.
            self.acd.requeue(replace(agent_leg.entry, agent=None))
        loop = asyncio.get_running_loop()
        if agent_leg.local_failure:
            loop.call_later(RETRY_OFFER_SECONDS, self.dispatch_calls)
        else:
            loop.call_soon(self.dispatch_calls)

    def transfer(self, record_id: str, queue: str, to_agent: int | None = None) -> None:
        """Blind transfer (转接) of a call an agent is talking on: the agent's leg ends,
        the caller hears hold music and goes first to `queue` (or to agent `to_agent`)."""
        found = self.active_record(record_id)
        if found is None:
            raise CallNotFound(record_id)
        leg, record = found
        agent_leg = self._agent_legs.get(self._caller_agent.get(leg, 0))
        if agent_leg is None or not agent_leg.confirmed:
            raise IllegalCallTransition(record.id, "not with an agent", "transfer")
        agent_leg.transfer = (queue, to_agent)
        log.info("call %s: transfer to %s", record.id, to_agent or queue)
        self._command(self.endpoint.hangup, agent_leg.leg)

    # ------------------------------------------------------------------ 三方通话

    def add_unit(self, record_id: str, uri: str, unit: str | None = None) -> UnitLeg:
        """三方通话: call a unit's phone and, when it answers, join it to the agent's call
        (each of the three hears the other two; the recording takes all three)."""
        errors = (
            ConferenceNotPossible,
            "当前没有坐席在通话中,不能发起三方通话",
            "已有承办单位在三方通话中,请先结束三方",
            "线路已满,请稍后再发起三方通话",
        )
        leg, record, agent_user = self._party_room(record_id, *errors)
        ring = self.settings.ring_timeout_seconds
        unit_leg = UnitLeg(self.endpoint.new_leg(), leg, record.id, agent_user, uri, unit, ring)
        log.info("call %s: three-way, calling unit %s at %s", record.id, unit or "-", uri)
        # Units see masked numbers.
        self._dial_party(unit_leg, record, mask_phone(record.caller) or "")
        return unit_leg

    def hand_over(
        self, record_id: str, service: str, uri: str, mode: str, ring_seconds: float, by
    ) -> linkage.Handover:
        """应急联动: dial the emergency service's gateway; when it answers, join it to the
        call (`conference`) or hand the caller over to it and drop the agent (`transfer`)."""
        errors = (
            LinkageNotPossible,
            "当前没有坐席在通话中,不能转接",
            "已有一方加入通话(三方通话或联动),请先结束后再转接",
            "线路已满,请电话联系后在工单上登记",
        )
        leg, record, agent_user = self._party_room(record_id, *errors)
        handover = linkage.requested(
            service, uri, mode, by, self._now(), record.id, record.order_number
        )
        party = UnitLeg(
            self.endpoint.new_leg(), leg, record.id, agent_user, uri, None, ring_seconds,
            handover=handover,
        )  # fmt: skip
        log.warning("call %s: 应急联动 %s (%s) via %s", record.id, service, mode, uri)
        self._handover_changed(party)
        self._dial_party(party, record, record.caller)  # the services see the number
        return handover

    def _party_room(
        self, record_id: str, error: type[Exception], no_agent: str, taken: str, full: str
    ) -> tuple[int, domain.CallRecord, int]:
        """The caller's leg, record and agent of a call a third party may join."""
        found = self.active_record(record_id)
        if found is None:
            raise CallNotFound(record_id, "通话已结束或不存在")
        leg, record = found
        agent_leg = self._agent_legs.get(self._caller_agent.get(leg, 0))
        if agent_leg is None or not agent_leg.confirmed:
            raise error(no_agent)
        if leg in self._caller_unit:
            raise error(taken)
        if self.legs_in_use >= self.settings.max_calls:
            raise error(full)
        return leg, record, agent_leg.user_id

    def _dial_party(self, party: UnitLeg, record: domain.CallRecord, caller: str) -> None:
        self._unit_legs[party.leg] = party
        self._caller_unit[party.caller_leg] = party.leg
        headers = [
            ("X-Hotline", record.hotline),
            ("X-Caller", caller),
            ("X-Call-Record", record.id),
        ]
        self._command(self.endpoint.dial, party.leg, party.uri, headers)
        handle = asyncio.get_running_loop().call_later(
            party.ring_seconds, self._unit_ring_timeout, party.leg
        )
        self._timers.setdefault(party.leg, {})[RING_TIMER] = handle
        self._tell_agent(party, "ringing")

    def _handover_changed(self, party: UnitLeg) -> None:
        if self.on_handover is not None and party.handover is not None:
            self.on_handover(party.handover)

    def end_unit(self, record_id: str) -> UnitLeg:
        """结束三方: the unit's leg ends; the caller and the agent talk on."""
        found = self.active_record(record_id)
        if found is None:
            raise CallNotFound(record_id, "通话已结束或不存在")
        unit_leg = self._unit_legs.get(self._caller_unit.get(found[0], 0))
        if unit_leg is None:
            raise ConferenceNotPossible("当前没有三方通话")
        self._drop_unit(found[0])
        return unit_leg

    def unit_leg_of(self, record_id: str) -> UnitLeg | None:
        found = self.active_record(record_id)
        if found is None:
            return None
        return self._unit_legs.get(self._caller_unit.get(found[0], 0))

    def _drop_unit(self, caller_leg: int, by: str = "agent") -> None:
        unit_leg = self._unit_legs.get(self._caller_unit.get(caller_leg, 0))
        if unit_leg is not None and not unit_leg.dropped:
            unit_leg.dropped = by
            self._command(self.endpoint.hangup, unit_leg.leg)

    def _unit_ring_timeout(self, leg: int) -> None:
        self._timers.get(leg, {}).pop(RING_TIMER, None)
        unit_leg = self._unit_legs.get(leg)
        if unit_leg is None or unit_leg.confirmed:
            return
        log.info("unit leg %d: no answer in %ss", leg, unit_leg.ring_seconds)
        self._command(self.endpoint.hangup, leg)
        self._orphans.add(leg)
        self._unit_leg_ended(unit_leg, "无应答", linkage.NO_ANSWER)

    def _unit_event(self, unit_leg: UnitLeg, event: ev.BridgeEvent) -> None:
        match event:
            case ev.CallConfirmed():
                self._unit_answered(unit_leg)
            case ev.CallDisconnected(status_code=code, reason=reason):
                log.info("unit leg %d ended: %s %s", unit_leg.leg, code, reason)
                failure = SIP_FAILURES.get(code, "无法接通")
                self._unit_leg_ended(unit_leg, failure, linkage.outcome_of(code))
            case ev.CommandFailed(command="dial", reason=reason):
                log.warning("unit leg %d not placed: %s", unit_leg.leg, reason)
                self._unit_leg_ended(unit_leg, "无法呼叫该地址", linkage.FAILED)
            case ev.CommandFailed(command="conference", reason=reason):
                log.warning("unit leg %d not joined: %s", unit_leg.leg, reason)
                self._drop_unit(unit_leg.caller_leg, by="error")
            case ev.LegsBridged():
                log.info("unit leg %d joined call leg %d", unit_leg.leg, unit_leg.caller_leg)
                if unit_leg.transfer:
                    self._agent_leaves(unit_leg)
            case ev.CommandFailed(command=command, reason=reason):
                log.info("unit leg %d: %s not done: %s", unit_leg.leg, command, reason)

    def _unit_answered(self, unit_leg: UnitLeg) -> None:
        self._cancel_timer(unit_leg.leg, RING_TIMER)
        caller = unit_leg.caller_leg
        if unit_leg.dropped or caller not in self._active:
            self._command(self.endpoint.hangup, unit_leg.leg)
            return
        unit_leg.confirmed = True
        now = self._now()
        if unit_leg.handover is not None:
            unit_leg.handover = linkage.answered(unit_leg.handover, now)
            self._handover_changed(unit_leg)
        else:
            self._update(caller, lambda r: domain.three_way(r, unit_leg.uri, unit_leg.unit, now))
        self._command(self.endpoint.conference, unit_leg.leg, caller)
        log.info("call %s: %s joined (three-way)", unit_leg.record_id, unit_leg.uri)
        self._tell_agent(unit_leg, "connected")

    def _agent_leaves(self, party: UnitLeg) -> None:
        """应急联动 by transfer: the gateway hears the caller; the agent's leg ends and
        the caller stays connected to the gateway in the bridge."""
        agent_leg = self._agent_legs.get(self._caller_agent.get(party.caller_leg, 0))
        if agent_leg is None or party.dropped:
            return
        agent_leg.handed_over = True
        self._command(self.endpoint.hangup, agent_leg.leg)
        self._tell_agent(party, "transferred")

    def _unit_leg_ended(self, unit_leg: UnitLeg, failure: str, outcome: str) -> None:
        self._unit_legs.pop(unit_leg.leg, None)
        self._cancel_timers(unit_leg.leg)
        if self._caller_unit.get(unit_leg.caller_leg) == unit_leg.leg:
            del self._caller_unit[unit_leg.caller_leg]
        if unit_leg.handover is not None:
            unit_leg.handover = linkage.ended(unit_leg.handover, self._now(), outcome)
            self._handover_changed(unit_leg)
            caller = unit_leg.caller_leg
            if unit_leg.transfer and caller in self._active and caller not in self._caller_agent:
                # Handed over: the gateway left the caller with nobody; the call ends.
                self._command(self.endpoint.hangup, caller)
        if unit_leg.confirmed or unit_leg.dropped:
            self._tell_agent(unit_leg, "ended", by=unit_leg.dropped or "unit")
        else:
            self._tell_agent(unit_leg, "failed", reason=failure)

    def _tell_agent(self, unit_leg: UnitLeg, state: str, **extra) -> None:
        if self.on_conference is None:
            return
        if unit_leg.handover is not None:
            event = self._linkage_event(unit_leg.handover, state, **extra)
        else:
            label = CONFERENCE_LABELS[state]
            if state == "failed":
                label = f"承办单位未接通({extra['reason']}),继续与来电人通话"
            elif state == "ended" and extra.get("by") == "call":
                label = "通话已结束,三方通话随之结束"
            event = {
                "type": "conference",
                "call_id": unit_leg.record_id,
                "state": state,
                "label": label,
                "uri": unit_leg.uri,
                "unit": unit_leg.unit,
                **extra,
            }
        try:
            self.on_conference(unit_leg.agent_user_id, event)
        except Exception:  # the console is told best-effort; the call goes on
            log.exception("could not tell agent %d about the unit leg", unit_leg.agent_user_id)

    @staticmethod
    def _linkage_event(handover: linkage.Handover, state: str, **extra) -> dict:
        label = LINKAGE_LABELS[state].format(service=handover.service, **extra)
        return {
            "type": "linkage",
            "call_id": handover.call_id,
            "handover": handover.id,
            "service": handover.service,
            "mode": handover.mode,
            "state": state,
            "outcome": handover.outcome,
            "label": label,
            **extra,
        }

    def _requeue_transferred(self, leg: int, queue: str, to_agent: int | None) -> None:
        record = self._active[leg]
        self._command(self.endpoint.unbridge, leg)
        self._ivr_step(leg, lambda call: call.requeued(queue))
        self.acd.enqueue(leg, queue, record.queued_at or self._now(), agent=to_agent)
        if record.emergency:
            self.acd.prioritize(leg)
        asyncio.get_running_loop().call_soon(self.dispatch_calls)

    def queues(self) -> list:
        """Every queue's status (acd.queue_status) with the recent average handle time."""
        now = self._now()
        handle = self.handle_seconds
        return [acd_queue_status(self.acd, q, now, handle) for q in self.queue_names]

    @property
    def handle_seconds(self) -> float:
        """Average talk + wrap-up of the last calls agents took (default before any)."""
        talks = self._recent_talk
        talk = sum(talks) / len(talks) if talks else DEFAULT_TALK_SECONDS
        return talk + self.settings.wrap_up_seconds

    def _start_wrap_up(self, user_id: int) -> None:
        old = self._wrap_timers.pop(user_id, None)
        if old is not None:
            old.cancel()
        self._wrap_timers[user_id] = asyncio.get_running_loop().call_later(
            self.settings.wrap_up_seconds, self._wrap_up_done, user_id
        )

    def _wrap_up_done(self, user_id: int) -> None:
        self._wrap_timers.pop(user_id, None)
        agent = self.acd.agents.get(user_id)
        if agent is not None:
            self._set_agent(agents.wrap_up_done(agent, self._now()))
            self.dispatch_calls()

    def _set_agent(self, agent: agents.Agent) -> None:
        self.acd.agents[agent.user_id] = agent
        self._writes.put_nowait(agent)

    async def change_agent(
        self, user_id: int, username: str, change: Callable[[agents.Agent], agents.Agent]
    ) -> agents.Agent:
        """An agent's own action (login, pause, resume, logout) on the live ACD."""
        agent = self.acd.agents.get(user_id) or agents.Agent(user_id, username)
        changed = change(agent)
        if changed.state is not agents.AgentState.WRAP_UP:
            handle = self._wrap_timers.pop(user_id, None)
            if handle is not None:
                handle.cancel()
        self._set_agent(changed)
        self.dispatch_calls()
        await self.settled()  # an agent just available may be ringing already
        await self.flush()
        return self.acd.agents[user_id]

    def active_record(self, record_id: str) -> tuple[int, domain.CallRecord] | None:
        return next(((leg, r) for leg, r in self._active.items() if r.id == record_id), None)

    async def link_order(self, record_id: str, order_number: str) -> bool:
        """Put the order on a call still in progress; False if the call has ended."""
        found = self.active_record(record_id)
        if found is None:
            await self.flush()  # its last state is in the database: update it there
            return False
        leg, _ = found
        self._update(leg, lambda r: replace(r, order_number=order_number))
        party = self._unit_legs.get(self._caller_unit.get(leg, 0))
        if party is not None and party.handover is not None:  # later changes carry it
            party.handover = replace(party.handover, order_number=order_number)
        await self.flush()
        return True

    async def mark_emergency(self, record_id: str) -> bool:
        found = self.active_record(record_id)
        if found is None:
            await self.flush()
            return False
        self._update(found[0], lambda r: domain.mark_emergency(r, self._now()))
        await self.flush()
        return True

    # ------------------------------------------------------------------ storage

    async def _write_records(self) -> None:
        while True:
            batch = [await self._writes.get()]
            while len(batch) < WRITE_BATCH and not self._writes.empty():
                batch.append(self._writes.get_nowait())
            # Later changes win; callback entries go in after their call records.
            latest = {r.id: r for r in batch if isinstance(r, domain.CallRecord)}
            callbacks = [e for e in batch if isinstance(e, storage.CallbackEntry)]
            agent_rows = {a.user_id: a for a in batch if isinstance(a, agents.Agent)}
            choices = [c for c in batch if isinstance(c, storage.LanguageChoice)]
            try:
                async with unit_of_work(self._sessions) as session:
                    await storage.save(session, list(latest.values()))
                    await storage.add_callbacks(session, callbacks)
                    await storage.save_agents(session, list(agent_rows.values()))
                    await storage.remember_languages(session, choices)
                if agent_rows and self.bus is not None:
                    self.bus.publish_soon("agents", {"user_ids": sorted(agent_rows)})
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
    pops = desk.ScreenPops(app)
    center.on_connected = pops
    center.on_conference = desk.ConsoleEvents(app)  # the unit leg's state, to the console
    handovers = linkage.HandoverLog(app)  # 应急联动: records written in order
    center.on_handover = handovers
    app[linkage.HANDOVER_LOG] = handovers
    center.bus = app.get(BUS)  # none in an app of the intake alone (tests)
    if center.bus is not None:
        center.bus.subscribe("agents", center._agents_changed)
    if sip.survey_uri:  # the outbound gateway: satisfaction surveys and campaigns
        dispatch = app[DISPATCH]
        center.survey = SurveyDialer(center, dispatch, app[SESSIONS], sip)
        center.campaigns = CampaignDialer(center, app[SESSIONS], sip, dispatch.now, dispatch.tz)
    await center.start()
    app[CALLCENTER] = center
    # Once per cluster, on the leader (app/leader.py; started with the other jobs). With
    # an interval of 0 a dialer is driven by hand (tests: `center.survey.run_once()`).
    jobs = [
        ("survey_dialer", center.survey, sip.survey_interval_seconds),
        ("campaigns", center.campaigns, sip.campaign_interval_seconds),
    ]
    for job, dialer, interval in jobs:
        if dialer is not None and interval > 0:
            app[LEADER].add_job(job, functools.partial(run_dialer, dialer, interval))
    yield
    await center.stop()
    await handovers.close()
    await pops.close()
    for dialer in center.outbound:
        await dialer.close()
