"""The thin, thread-safe bridge between asyncio and the pjsua2 endpoint thread.

    asyncio  ── command queue ──▶  endpoint thread: run commands, libHandleEvents(10)
    asyncio  ◀─ call_soon_threadsafe(on_event) ──  pjsua2 callbacks (copied data only)

Commands are plain functions run on the endpoint thread in order; `call()` awaits
the result, `post()` does not (a failure comes back as a `CommandFailed` event).
Events and command results leave the thread in the order they happened, so a
service that changes state only on events never sees a hang-up before an answer.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from callcenter import events as ev
from callcenter.exceptions import CallCenterError, EndpointStopped, SipUnavailable
from config import SipSettings

log = logging.getLogger(__name__)

POLL_MS = 10


def pjsua2_available() -> bool:
    try:
        import pjsua2  # noqa: F401
    except ImportError:
        return False
    return True


class SipEndpoint:
    """pjsua2 running on its own thread, driven from asyncio.

    pjsua is a process-wide singleton: one SipEndpoint runs per process at a time
    (a second start() raises SipUnavailable); it may be started again after stop().
    """

    _process_lock = threading.Lock()

    def __init__(self, settings: SipSettings, on_event: Callable[[ev.BridgeEvent], None]) -> None:
        self.settings = settings
        self._on_event = on_event
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = threading.Event()
        self._stopped: asyncio.Future[ev.ShutdownReport] | None = None
        self.port = 0
        self.report: ev.ShutdownReport | None = None
        self._owns_lock = False
        # Leg numbers, shared with the endpoint thread (incoming calls take theirs there).
        self._legs = itertools.count(1)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopping.is_set()

    async def start(self) -> None:
        try:
            from callcenter.pjstack import PjStack
        except ImportError as exc:
            raise SipUnavailable(
                f"pjsua2 is not installed ({exc}); run callcenter/pjsua2/build.sh"
            ) from exc
        if self._thread is not None:
            raise SipUnavailable("a SipEndpoint starts once; make a new one")
        if not SipEndpoint._process_lock.acquire(blocking=False):
            raise SipUnavailable("another SIP endpoint is running in this process")
        try:
            await self._start(PjStack)
        except BaseException:
            SipEndpoint._process_lock.release()
            raise

    async def _start(self, stack_class) -> None:
        self._loop = loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._stopped = loop.create_future()
        stack = stack_class(self.settings, self._emit, self._legs)
        self._thread = threading.Thread(
            target=self._run, args=(stack, ready), name="pjsua2", daemon=True
        )
        self._thread.start()
        try:
            await ready
        except SipUnavailable:
            await loop.run_in_executor(None, self._thread.join)
            self._thread = None
            raise
        self._owns_lock = True
        self.port = int(stack.sip_port)
        # Objects that reach pjsip from the asyncio thread (a GC pass freeing one,
        # say) must find this thread registered, or pjlib asserts.
        import pjsua2

        endpoint = pjsua2.Endpoint.instance()
        if not endpoint.libIsThreadRegistered():
            endpoint.libRegisterThread("asyncio")

    async def stop(self) -> ev.ShutdownReport:
        """Hang up all calls, wait for them to end, destroy the library; idempotent."""
        if self._thread is None or self._stopped is None:
            raise EndpointStopped()
        self._stopping.set()
        try:
            return await self._stopped
        finally:
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
            if self._owns_lock:
                self._owns_lock = False
                SipEndpoint._process_lock.release()

    # ------------------------------------------------------------------ commands

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn(stack, *args)` on the endpoint thread and return its result."""
        if not self.running:
            raise EndpointStopped()
        future = self._loop.create_future()
        self._commands.put((fn, args, future))
        return await future

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(stack, *args)` on the endpoint thread without waiting for it."""
        if not self.running:
            raise EndpointStopped()
        self._commands.put((fn, args, None))

    # Named commands (the stack's methods), so callers need not know PjStack.
    def answer(self, leg: int, greeting: Path | None = None, record_to: Path | None = None) -> None:
        self.post(_answer, leg, 200, greeting, record_to)

    def play(self, leg: int, files: list[Path], *, loop: bool = False, token: int = 1) -> None:
        """Play `files` in turn to the caller (and the recording); PromptFinished follows."""
        self.post(_play, leg, list(files), loop, token)

    def reject(self, leg: int, code: int, reason: str = "") -> None:
        self.post(_hangup, leg, code, reason)

    def hangup(self, leg: int) -> None:
        self.post(_hangup, leg, 0, "")

    def new_leg(self) -> int:
        """A leg number for an outbound call (never reused; `next` is atomic under the GIL)."""
        return next(self._legs)

    def dial(self, leg: int, uri: str, headers: list[tuple[str, str]] | None = None) -> None:
        """Call `uri` from the intake; CallConfirmed / CallDisconnected follow for `leg`."""
        self.post(_dial, leg, uri, list(headers or ()))

    def bridge(self, leg: int, other: int) -> None:
        """Join the audio of two legs (stops prompts); LegsBridged follows."""
        self.post(_bridge, leg, other)

    def unbridge(self, leg: int) -> None:
        self.post(_unbridge, leg)

    def conference(self, party: int, leg: int) -> None:
        """Add leg `party` to caller leg `leg` and its agent (三方通话); LegsBridged
        (party, leg) follows, or CommandFailed for `party`."""
        self.post(_conference, party, leg)

    async def stats(self) -> ev.EndpointStats:
        return await self.call(_stats)

    # ------------------------------------------------------------------ thread side

    def _emit(self, event: ev.BridgeEvent) -> None:
        self._threadsafe(self._deliver, event)

    def _deliver(self, event: ev.BridgeEvent) -> None:
        try:
            self._on_event(event)
        except Exception:  # an event handler bug must not stop the other calls
            log.exception("call-centre event handler failed on %r", event)

    def _threadsafe(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            log.debug("dropped %s after the event loop closed", fn)

    def _run(self, stack, ready: asyncio.Future) -> None:
        import pjsua2

        from callcenter.pjstack import error_text

        try:
            stack.start()
        except pjsua2.Error as exc:
            stack.destroy()
            error = SipUnavailable(f"SIP endpoint did not start: {error_text(exc)}")
            self._threadsafe(_settle, ready, None, error)
            return
        self._threadsafe(_settle, ready, None, None)
        try:
            while not self._stopping.is_set():
                self._run_commands(stack)
                stack.poll(POLL_MS)
            self._run_commands(stack)
            report = stack.shutdown()
        except BaseException as exc:  # the thread must report, whatever happened
            log.exception("SIP endpoint thread failed")
            self._threadsafe(_settle, self._stopped, None, exc)
            raise
        self.report = report
        log.info("SIP endpoint stopped: %s", report)
        self._threadsafe(_settle, self._stopped, report, None)

    def _run_commands(self, stack) -> None:
        while True:
            try:
                fn, args, future = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                result, error = fn(stack, *args), None
            except CallCenterError as exc:
                result, error = None, exc
            except Exception as exc:  # a pjsua2 error or a bug in a command
                result, error = None, CallCenterError(f"{fn.__name__} failed: {exc}")
            if future is not None:
                self._threadsafe(_settle, future, result, error)
            elif error is not None:
                leg = args[0] if args and isinstance(args[0], int) else 0
                self._emit(ev.CommandFailed(leg, fn.__name__.lstrip("_"), str(error)))


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _answer(stack, leg: int, code: int, greeting: Path | None, record_to: Path | None) -> None:
    stack.answer(leg, code, greeting, record_to)


def _play(stack, leg: int, files: list[Path], loop: bool, token: int) -> None:
    stack.play(leg, files, loop, token)


def _hangup(stack, leg: int, code: int, reason: str) -> None:
    stack.hangup(leg, code, reason)


def _dial(stack, leg: int, uri: str, headers: list[tuple[str, str]]) -> None:
    stack.dial(leg, uri, headers)


def _bridge(stack, leg: int, other: int) -> None:
    stack.bridge(leg, other)


def _unbridge(stack, leg: int) -> None:
    stack.unbridge(leg)


def _conference(stack, party: int, leg: int) -> None:
    stack.conference(party, leg)


def _stats(stack) -> ev.EndpointStats:
    return stack.stats()
