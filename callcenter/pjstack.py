"""pjsua2 objects of the intake; everything here runs on the endpoint's own thread.

Only `callcenter.bridge` imports this module (lazily, so the rest of the package and
its tests import without pjsua2). The rules that keep pjsua2 well-behaved, measured
on this project's machines (issue 7):

- One thread creates, initialises, polls (`libHandleEvents`) and destroys the library
  (`mainThreadOnly`, `threadCnt = 0`); other threads only post commands to it.
- Callbacks copy plain data out (`emit`) and never block. Media work asked for inside a
  callback is deferred to the loop (onCallMediaState fires inside `answer()`).
- A Call object stays referenced from INVITE to DISCONNECTED and its last reference is
  dropped in the DISCONNECTED callback: a Call freed later still holds its old call id
  and hangs up whichever new call reuses that id. Asyncio code names calls by `leg`, a
  number never reused, not by pjsua call id.
- Players and recorders exist only while their call is up; a recorder writes its WAV
  header when destroyed, so it is destroyed on hang-up.
- A player is stopped at once but freed `RETIRE_SECONDS` later (`_retire`): pjsua2 2.17
  delivers a player's end-of-file on pjmedia's event thread, and an EOF queued when the
  player is freed runs on freed memory and kills the process (pjproject PR #5045; seen
  with 500 conversations on a loaded node).
- `sndAutoCloseTime = -1`: the null sound device closing while port removals are queued
  leaks conference slots.
- pjsua2 objects caught in a reference cycle (an exception's traceback holding a Call,
  say) are freed by a full garbage collection before they are counted or the library
  is destroyed; but only when one is left over (`_collect_leftovers`): a full pass walks
  the whole process heap, seconds per pass in a large process on a busy machine.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pjsua2 as pj

from callcenter import events as ev
from callcenter.exceptions import SipCommandFailed, UnknownCall
from config import SipSettings

log = logging.getLogger("callcenter.pjsip")
_PJ_LEVELS = {0: logging.CRITICAL, 1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO}

# The conference bridge runs at telephone quality: prompts and recordings are 8 kHz
# mono, so nothing is resampled per call.
CLOCK_RATE = 8000
# How long a stopped prompt player is kept before it is freed (see the module doc).
RETIRE_SECONDS = 2.0
# How long shut-down waits at least for the conference bridge to drop freed ports.
PORT_REMOVAL_SECONDS = 1.0


def error_text(exc: pj.Error) -> str:
    return f"{exc.title}: {exc.reason}" if exc.reason else str(exc.title)


class _LogWriter(pj.LogWriter):
    """pjsip's log lines into Python logging (called from any pjsip thread)."""

    def write(self, entry: pj.LogEntry) -> None:
        log.log(_PJ_LEVELS.get(entry.level, logging.DEBUG), "%s", entry.msg.rstrip())


@dataclass
class _MediaPlan:
    greeting: Path | None
    record_to: Path | None
    applied: bool = False


GREETING_TOKEN = 0  # the greeting's prompt token; `play` commands use their own


class _Prompt(pj.AudioMediaPlayer):
    def __init__(self, stack: PjStack, leg: int, token: int) -> None:
        super().__init__()
        self._stack, self._leg, self._token = stack, leg, token

    def onEof2(self) -> None:
        # Runs on the media clock thread: hand over, never touch the player here.
        self._stack.defer(self._stack.prompt_finished, self._leg, self._token)


class _Call(pj.Call):
    """One SIP call leg. Holds no reference to asyncio objects."""

    def __init__(self, stack: PjStack, account: pj.Account, call_id: int, leg: int) -> None:
        super().__init__(account, call_id)
        self.stack, self.leg = stack, leg
        self.plan: _MediaPlan | None = None
        self.player: _Prompt | None = None
        self.token = GREETING_TOKEN  # of the prompt(s) playing
        self.pending: list[Path] = []  # prompts still to play after the current one
        self.looping = False  # hold music: no end-of-prompt events
        self.recorder: pj.AudioMediaRecorder | None = None
        self.answered = False
        self.outbound = False  # placed by the intake (to an agent, a survey call)
        self.media_reported = False  # outbound: MediaStarted sent
        self.peer: int | None = None  # the leg whose audio this one is bridged with
        self.bridged = False
        self.conference_of: int | None = None  # a unit's leg: the caller leg it joins

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED:
            if self.outbound:
                self.answered = True
            self.stack.emit(ev.CallConfirmed(self.leg))
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.stack.call_disconnected(self, info.lastStatusCode, info.lastReason)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        self.stack.defer(self.stack.apply_media, self.leg)

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        # Once per new digit, RFC 2833 or SIP INFO (pjsua2 runs it as a pending job
        # on this thread). The digit is whatever arrived: the service judges it.
        method = "sip_info" if prm.method == pj.PJSUA_DTMF_METHOD_SIP_INFO else "rfc2833"
        self.stack.emit(ev.DtmfReceived(self.leg, str(prm.digit)[:1], method))


class _IntakeAccount(pj.Account):
    """The account every INVITE to the intake lands on, whatever number was dialled."""

    def __init__(self, stack: PjStack) -> None:
        super().__init__()
        self.stack = stack

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        try:
            self.stack.incoming_call(self, prm)
        except pj.Error as exc:  # never let an error escape into pjsip's C stack
            log.warning("incoming call %d not taken: %s", prm.callId, error_text(exc))


class PjStack:
    """The library, its transports and the live calls; owned by the endpoint thread."""

    def __init__(
        self,
        settings: SipSettings,
        emit: Callable[[ev.BridgeEvent], None],
        legs: itertools.count | None = None,
    ) -> None:
        self.settings = settings
        self.emit = emit
        self.calls: dict[int, _Call] = {}
        self.closing = False
        self._legs = legs if legs is not None else itertools.count(1)
        self._deferred: deque[tuple[Callable, tuple]] = deque()
        # Stopped players and when to free them (`_retire`).
        self._retired: deque[tuple[float, _Prompt]] = deque()
        # Python-side Call objects still alive (dropped from `calls` but not yet freed
        # would be the leak that cuts other calls).
        self._live: weakref.WeakSet[_Call] = weakref.WeakSet()
        self._players: weakref.WeakSet[_Prompt] = weakref.WeakSet()  # prompt players alive
        self.endpoint: pj.Endpoint | None = None
        self.account: _IntakeAccount | None = None
        self._log_writer = _LogWriter()
        self.idle_ports = 0
        self.sip_port = 0

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        s = self.settings
        ep = self.endpoint = pj.Endpoint()
        ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = s.max_calls
        cfg.uaConfig.userAgent = "hotline-intake"
        cfg.logConfig.level = s.log_level
        cfg.logConfig.consoleLevel = s.log_level
        cfg.logConfig.writer = self._log_writer
        cfg.logConfig.decor = pj.PJ_LOG_HAS_SENDER
        med = cfg.medConfig
        med.sndAutoCloseTime = -1
        med.clockRate = med.sndClockRate = CLOCK_RATE
        med.channelCount = 1
        med.ecTailLen = 0
        ep.libInit(cfg)

        transport = pj.TransportConfig()
        transport.port = s.port
        transport.boundAddress = s.bind
        if s.public_address:
            transport.publicAddress = s.public_address
        udp = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
        self.sip_port = ep.transportGetInfo(udp).localName.rsplit(":", 1)[-1]
        # TCP on the same port as UDP (an ephemeral UDP port is reused for TCP).
        transport.port = int(self.sip_port)
        ep.transportCreate(pj.PJSIP_TRANSPORT_TCP, transport)
        ep.libStart()
        ep.audDevManager().setNullDev()

        acc_cfg = pj.AccountConfig()
        host = s.public_address or s.bind
        acc_cfg.idUri = f"sip:intake@{host}:{self.sip_port}"
        rtp = acc_cfg.mediaConfig.transportConfig
        rtp.port, rtp.portRange, rtp.boundAddress = s.rtp_port, s.rtp_port_range, s.bind
        if s.public_address:
            rtp.publicAddress = s.public_address
        self.account = _IntakeAccount(self)
        self.account.create(acc_cfg, True)
        self.idle_ports = ep.mediaActivePorts()
        log.info(
            "SIP intake on %s:%s (UDP, TCP), RTP %d-%d, at most %d calls",
            s.bind,
            self.sip_port,
            s.rtp_port,
            s.rtp_port + s.rtp_port_range - 1,
            s.max_calls,
        )

    def destroy(self) -> None:
        """Undo a start that failed half-way (a port in use, say)."""
        self._drop_account()
        if self.endpoint is not None:
            self.endpoint.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
            self.endpoint = None

    def poll(self, timeout_ms: int) -> None:
        self.run_deferred()
        self.endpoint.libHandleEvents(timeout_ms)
        self.run_deferred()
        now = time.monotonic()
        while self._retired and self._retired[0][0] <= now:
            self._retired.popleft()

    def shutdown(self) -> ev.ShutdownReport:
        """Hang up every call, wait for them to end, then destroy the library."""
        self.closing = True
        ep = self.endpoint
        started = time.monotonic()
        hung_up = len(self.calls)
        if self.calls:
            ep.hangupAllCalls()
        deadline = started + self.settings.shutdown_timeout_seconds
        while self.calls and time.monotonic() < deadline:
            self.poll(10)
        unfinished = len(self.calls)
        if unfinished:
            log.warning("%d calls did not end before shut-down; dropping them", unfinished)
            for call in list(self.calls.values()):
                self._drop(call)
        self.run_deferred()
        self._retired.clear()
        self._collect_leftovers()
        # The conference bridge removes the freed players', recorders' and calls' ports
        # on its clock tick, not at once: give it until the deadline (or a moment).
        settle = max(deadline, time.monotonic() + PORT_REMOVAL_SECONDS)
        while ep.mediaActivePorts() > self.idle_ports and time.monotonic() < settle:
            self.poll(10)
        report = ev.ShutdownReport(
            hung_up=hung_up,
            unfinished=unfinished,
            live_call_objects=len(self._live),
            active_ports=ep.mediaActivePorts(),
            idle_ports=self.idle_ports,
            seconds=0.0,
        )
        if self.account is not None:
            self.account.shutdown()
        self._drop_account()
        ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
        self.endpoint = None
        report.seconds = round(time.monotonic() - started, 3)
        return report

    def _collect_leftovers(self) -> None:
        """Free Call objects and players that only a reference cycle keeps alive.

        Every live Call is in `calls` and every kept player in a call or `_retired`,
        unless a cycle holds one: then, and only then, a full collection frees it."""
        calls = len(self.calls)
        players = sum(c.player is not None for c in self.calls.values()) + len(self._retired)
        if len(self._live) > calls or len(self._players) > players:
            gc.collect()

    def _drop_account(self) -> None:
        """Free the account on this thread before the library goes (a full collection
        only if a reference cycle still holds it)."""
        if self.account is None:
            return
        account, self.account = weakref.ref(self.account), None
        if account() is not None:
            gc.collect()

    # ------------------------------------------------------------------ deferral

    def defer(self, fn: Callable, *args) -> None:
        """Run `fn(*args)` on the endpoint thread once the current callback returned."""
        self._deferred.append((fn, args))

    def run_deferred(self) -> None:
        while self._deferred:
            fn, args = self._deferred.popleft()
            try:
                fn(*args)
            except pj.Error as exc:
                log.warning("deferred %s failed: %s", fn.__name__, error_text(exc))

    # ------------------------------------------------------------------ callbacks

    def incoming_call(self, account: pj.Account, prm: pj.OnIncomingCallParam) -> None:
        leg = next(self._legs)
        call = _Call(self, account, prm.callId, leg)
        self.calls[leg] = call
        self._live.add(call)
        if self.closing:
            op = pj.CallOpParam()
            op.statusCode = pj.PJSIP_SC_SERVICE_UNAVAILABLE
            call.hangup(op)
            return
        self.emit(ev.IncomingCall(leg, prm.rdata.wholeMsg, prm.rdata.srcAddress))

    def call_disconnected(self, call: _Call, code: int, reason: str) -> None:
        self._drop(call)
        self.emit(ev.CallDisconnected(call.leg, code, reason, call.answered))

    def _drop(self, call: _Call) -> None:
        # Recorder first: destroying it writes the WAV header.
        call.recorder = None
        self._retire(call)
        call.pending = []
        self.calls.pop(call.leg, None)

    def prompt_finished(self, leg: int, token: int) -> None:
        call = self.calls.get(leg)
        if call is None or call.player is None or call.token != token or call.looping:
            return  # a prompt replaced since, or the call is gone
        if call.pending:
            audio = self._active_audio(call)
            if audio is not None:
                try:
                    self._start_player(call, audio, call.pending.pop(0), loop=False)
                    return
                except pj.Error as exc:
                    log.warning("prompt for call leg %d failed: %s", leg, error_text(exc))
        self._retire(call)  # frees its conference slot
        call.pending = []
        if token == GREETING_TOKEN:
            self.emit(ev.GreetingFinished(leg))
        else:
            self.emit(ev.PromptFinished(leg, token))

    # ------------------------------------------------------------------ commands

    def _call(self, leg: int) -> _Call:
        call = self.calls.get(leg)
        if call is None:
            raise UnknownCall(leg)
        return call

    def answer(self, leg: int, code: int, greeting: Path | None, record_to: Path | None) -> None:
        call = self._call(leg)
        call.plan = _MediaPlan(greeting, record_to)
        op = pj.CallOpParam()
        op.statusCode = code
        try:
            call.answer(op)
        except pj.Error as exc:
            raise SipCommandFailed(error_text(exc)) from None
        if code == 200:
            call.answered = True
            self.emit(ev.CallAnswered(leg))

    def hangup(self, leg: int, code: int = 0, reason: str = "") -> None:
        call = self._call(leg)
        op = pj.CallOpParam()
        if code:
            op.statusCode = code
        if reason:
            op.reason = reason
        try:
            call.hangup(op)
        except pj.Error as exc:
            raise SipCommandFailed(error_text(exc)) from None

    def play(self, leg: int, files: list[Path], loop: bool, token: int) -> None:
        """Replace what the caller hears by `files` in turn (or one file looped).

        PromptFinished(leg, token) follows the last file unless looped or replaced.
        """
        call = self._call(leg)
        if call.bridged:
            raise SipCommandFailed("bridged to another leg: no prompts")
        audio = self._active_audio(call)
        if audio is None:
            raise SipCommandFailed("no active audio")
        self._retire(call)  # stop the current prompt (frees its slot)
        call.token, call.looping, call.pending = token, loop, list(files[1:])
        if not files:
            return
        try:
            self._start_player(call, audio, files[0], loop=loop)
        except pj.Error as exc:
            raise SipCommandFailed(error_text(exc)) from None

    def _start_player(self, call: _Call, audio: pj.AudioMedia, path: Path, loop: bool) -> None:
        self._retire(call)
        player = _Prompt(self, call.leg, call.token)
        self._players.add(player)
        player.createPlayer(str(path), 0 if loop else pj.PJMEDIA_FILE_NO_LOOP)
        call.player = player
        player.startTransmit(audio)
        if call.recorder is not None:
            player.startTransmit(call.recorder)

    # ------------------------------------------------------------------ outbound, bridge

    def dial(self, leg: int, uri: str, headers: list[tuple[str, str]]) -> None:
        """Place an outbound call from the intake's account (an agent, a survey call)."""
        call = _Call(self, self.account, pj.PJSUA_INVALID_ID, leg)
        call.outbound = True
        prm = pj.CallOpParam(True)
        for name, value in headers:
            header = pj.SipHeader()
            header.hName, header.hValue = name, value
            prm.txOption.headers.append(header)
        self.calls[leg] = call
        self._live.add(call)
        try:
            call.makeCall(uri, prm)
        except pj.Error as exc:
            # No dialog came of it: the object goes here, on this thread.
            self.calls.pop(leg, None)
            raise SipCommandFailed(error_text(exc)) from None

    def bridge(self, leg: int, other: int) -> None:
        """Join two legs' audio in the conference bridge (B2BUA); the first leg's
        recorder takes both. Done now if both have audio, else when the media comes."""
        a, b = self._call(leg), self._call(other)
        a.peer, b.peer = other, leg
        self._connect(a, b)

    def unbridge(self, leg: int) -> None:
        """The leg's peer is gone (a transfer): prompts and hold music may play again."""
        call = self._call(leg)
        call.peer, call.bridged = None, False

    def _connect(self, a: _Call, b: _Call) -> None:
        if a.bridged:
            return
        media_a, media_b = self._active_audio(a), self._active_audio(b)
        if media_a is None or media_b is None:
            return
        for call in (a, b):  # no more prompts or hold music on either leg
            self._retire(call)
            call.pending = []
            call.looping = False
        media_a.startTransmit(media_b)
        media_b.startTransmit(media_a)
        for call, other_media in ((a, media_b), (b, media_a)):
            if call.recorder is not None:
                other_media.startTransmit(call.recorder)
        a.bridged = b.bridged = True
        self.emit(ev.LegsBridged(a.leg, b.leg))

    def conference(self, party: int, leg: int) -> None:
        """三方通话: add leg `party` (a unit's phone) to caller leg `leg` and its bridged
        agent: each of the three hears the other two; the caller's recorder takes the
        party too. Done now if both have audio, else when the party's media comes."""
        call, other = self._call(party), self._call(leg)
        if not other.bridged or other.peer is None:
            raise SipCommandFailed("the caller is not bridged to an agent")
        call.conference_of = leg
        self._join(call)

    def _join(self, party: _Call) -> None:
        if party.bridged or party.conference_of is None:
            return
        caller = self.calls.get(party.conference_of)
        if caller is None:
            return
        agent = self.calls.get(caller.peer) if caller.peer is not None else None
        media = self._active_audio(party)
        media_caller = self._active_audio(caller)
        media_agent = None if agent is None else self._active_audio(agent)
        if media is None or media_caller is None or media_agent is None:
            return
        self._retire(party)
        party.pending, party.looping = [], False
        for other in (media_caller, media_agent):
            media.startTransmit(other)
            other.startTransmit(media)
        if caller.recorder is not None:
            media.startTransmit(caller.recorder)
        party.bridged = True
        self.emit(ev.LegsBridged(party.leg, caller.leg))

    def apply_media(self, leg: int) -> None:
        """Connect the greeting and the recorder once the call's audio is active."""
        call = self.calls.get(leg)
        if call is None:
            return
        if call.conference_of is not None and not call.bridged:
            self._join(call)
        if call.peer is not None and not call.bridged:
            peer = self.calls.get(call.peer)
            if peer is not None:
                self._connect(call, peer)
        if call.outbound and not call.media_reported and self._active_audio(call) is not None:
            call.media_reported = True
            self.emit(ev.MediaStarted(leg, None))
        if call.plan is None or call.plan.applied:
            return
        audio = self._active_audio(call)
        if audio is None:
            return
        call.plan.applied = True
        plan = call.plan
        try:
            if plan.record_to is not None:
                plan.record_to.parent.mkdir(parents=True, exist_ok=True)
                recorder = pj.AudioMediaRecorder()
                recorder.createRecorder(str(plan.record_to))
                call.recorder = recorder
                audio.startTransmit(recorder)
            if plan.greeting is not None:
                call.token = GREETING_TOKEN
                self._start_player(call, audio, plan.greeting, loop=False)
        except (pj.Error, OSError) as exc:
            reason = error_text(exc) if isinstance(exc, pj.Error) else str(exc)
            log.warning("media for call leg %d failed: %s", leg, reason)
            self.emit(ev.MediaFailed(leg, reason))
            return
        self.emit(ev.MediaStarted(leg, str(plan.record_to) if call.recorder else None))
        if call.player is None:  # no greeting to wait for
            self.emit(ev.GreetingFinished(leg))

    def _retire(self, call: _Call) -> None:
        """Stop the call's prompt now (it no longer plays to the call or its recorder,
        so it reaches no new end of file); free the player RETIRE_SECONDS later."""
        player, call.player = call.player, None
        if player is None:
            return
        try:
            sinks = [self._active_audio(call), call.recorder]
        except pj.Error:  # the call is going away: its slot goes with it
            sinks = [call.recorder]
        for sink in sinks:
            if sink is not None:
                with contextlib.suppress(pj.Error):
                    player.stopTransmit(sink)
        self._retired.append((time.monotonic() + RETIRE_SECONDS, player))

    @staticmethod
    def _active_audio(call: _Call) -> pj.AudioMedia | None:
        # Keep the CallInfo referenced: SWIG hands out its vector's items by reference,
        # so iterating `getInfo().media` reads freed memory.
        info = call.getInfo()
        for media in info.media:
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                return call.getAudioMedia(media.index)
        return None

    def stats(self) -> ev.EndpointStats:
        self._collect_leftovers()
        return ev.EndpointStats(
            calls=len(self.calls),
            live_call_objects=len(self._live),
            active_ports=self.endpoint.mediaActivePorts(),
            idle_ports=self.idle_ports,
            max_ports=self.endpoint.mediaMaxPorts(),
        )
