"""The IVR of one call, as a pure state machine: menu, queue, callback (no SIP here).

    GREETING ──digit/greeting done──▶ MENU ──option──▶ QUEUED ──hang-up──▶ abandoned
                                        │   garbage/timeout: replay, N times, then the
                                        │   default queue
                                        └──callback option──▶ CALLBACK ──prompt──▶ hang-up
    QUEUED: hold music; after `queue_long_wait_seconds` "press 1 to be called back";
    after `queue_max_wait_seconds` a callback entry and a polite goodbye.
    QUEUED ──an agent answers──▶ CONNECTED (the IVR stays silent until the hang-up)

The service feeds it events (digits, prompt ends, timers) and carries out the actions
it returns (play, hold, arm/cancel a timer, enqueue, callback entry, hang up). Digits
are accepted during the greeting (type-ahead, 插话) so regular callers need not wait.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from callcenter import languages

# Prompt names: <prompts_dir>/<hotline>/<name>.wav, else <prompts_dir>/common/<name>.wav.
MENU = "menu"
INVALID = "invalid"
QUEUE = "queue"
HOLD = "hold"
CALLBACK_OFFER = "callback_offer"
CALLBACK_OK = "callback_ok"

# Timers (one of each kind per call at most).
MENU_TIMER = "menu"
LONG_WAIT_TIMER = "long_wait"
MAX_WAIT_TIMER = "max_wait"

REPEAT_DIGIT = "*"  # replays the menu without counting as a failed attempt
EMERGENCY_DIGIT = "0"  # in the menu or while queued: emergency, to the head of the queue
DTMF_DIGITS = frozenset("0123456789*#ABCD")


class Phase(StrEnum):
    GREETING = "greeting"
    MENU = "menu"
    QUEUED = "queued"
    CALLBACK = "callback"  # the callback is registered; saying goodbye
    CONNECTED = "connected"  # an agent answered: the IVR is out of the way
    DONE = "done"


class CallbackReason(StrEnum):
    ABANDONED = "abandoned"  # hung up while waiting in a queue
    REQUESTED = "requested"  # chose "call me back" (menu or long-wait offer)
    OVERFLOW = "overflow"  # waited `queue_max_wait_seconds`: ended politely by the centre
    DROPPED = "dropped"  # the centre ended the call while the caller waited (shut-down)


@dataclass(frozen=True)
class Option:
    digit: str
    label: str  # what the menu prompt says for it (Mandarin; a language: in itself)
    queue: str | None  # None: "call me back"
    emergency: bool = False  # 紧急求助: marked for an emergency hand-over, served first
    language: str | None = None  # 多语种: the caller chose this language (its queue)


@dataclass(frozen=True)
class MenuSpec:
    options: tuple[Option, ...]
    default_queue: str

    def option(self, digit: str) -> Option | None:
        return next((o for o in self.options if o.digit == digit), None)

    def prompt_text(self) -> str:
        """The Mandarin part of the menu prompt (each language speaks its own option)."""
        mandarin = [o for o in self.options if o.language is None]
        return "".join(f"{o.label}请按{o.digit}," for o in mandarin).rstrip(",") + "。"

    def language_queue(self, code: str | None) -> str | None:
        option = next((o for o in self.options if code and o.language == code), None)
        return None if option is None else option.queue


GENERAL_QUEUE = "general"

# Topic per hotline (2 = topic); every menu also has 1 = 普通话 and 9 = callback.
TOPICS: dict[str, tuple[str, str]] = {
    "12345": ("business", "企业服务"),
    "12319": ("utilities", "供水供气供暖"),
    "12358": ("price", "价格举报"),
    "12350": ("safety", "安全生产举报"),
}


def menu_for(hotline: str, offered: Sequence[str] = ()) -> MenuSpec:
    """The first (and only) menu of `hotline`; `offered`: language codes besides 普通话."""
    options = [Option("1", "普通话服务", GENERAL_QUEUE)]
    if hotline in TOPICS:
        queue, label = TOPICS[hotline]
        options.append(Option("2", label, queue))
    for code in offered:
        lang = languages.LANGUAGES[code]
        options.append(Option(lang.digit, lang.menu, lang.queue, language=code))
    options.append(Option("9", "需要回电", None))
    options.append(Option(EMERGENCY_DIGIT, "紧急求助", GENERAL_QUEUE, emergency=True))
    return MenuSpec(tuple(options), GENERAL_QUEUE)


@dataclass(frozen=True)
class IvrConfig:
    menu_timeout_seconds: float = 5.0  # silence after the menu prompt before replaying it
    menu_attempts: int = 3  # garbage/timeouts before the default queue
    queue_long_wait_seconds: float = 60.0  # then offer "press 1 to be called back"
    queue_max_wait_seconds: float = 600.0  # then a callback entry and a polite goodbye
    callback_digit: str = "1"


# ------------------------------------------------------------------ actions


@dataclass(frozen=True)
class Play:
    prompts: tuple[str, ...]


@dataclass(frozen=True)
class Hold:
    """Loop the hold music until the next Play."""


@dataclass(frozen=True)
class StartTimer:
    kind: str
    seconds: float


@dataclass(frozen=True)
class CancelTimer:
    kind: str


@dataclass(frozen=True)
class Enqueue:
    queue: str


@dataclass(frozen=True)
class RegisterCallback:
    reason: CallbackReason


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class MarkEmergency:
    """The caller asked for emergency help: mark the call, serve it before the others."""


Action = (
    Play | Hold | StartTimer | CancelTimer | Enqueue | RegisterCallback | Hangup | MarkEmergency
)


@dataclass
class IvrCall:
    """One caller's way through the menu and the queue."""

    menu: MenuSpec
    config: IvrConfig = field(default_factory=IvrConfig)
    phase: Phase = Phase.GREETING
    failures: int = 0  # invalid digits and timeouts in the menu
    queue: str | None = None
    choice: str | None = None  # the digit that chose, or "default"
    callback_offered: bool = False
    callback: CallbackReason | None = None
    ignored: int = 0  # digits that had no meaning where they came
    emergency: bool = False
    language: str | None = None  # chosen in the menu (or remembered): prompts in it
    remembered: str | None = None  # the caller's language from an earlier call

    # ---------------------------------------------------------- events

    def greeting_finished(self) -> list[Action]:
        if self.phase is not Phase.GREETING:
            return []
        self.phase = Phase.MENU
        return [Play((MENU,))]

    def prompt_finished(self, prompt: str) -> list[Action]:
        """The last prompt of a Play ended (`prompt` is its name)."""
        prompt = languages.base_name(prompt)
        if self.phase is Phase.MENU and prompt == MENU:
            return [StartTimer(MENU_TIMER, self.config.menu_timeout_seconds)]
        if self.phase is Phase.QUEUED and prompt in (QUEUE, CALLBACK_OFFER):
            return [Hold()]
        if self.phase is Phase.CALLBACK and prompt == CALLBACK_OK:
            self.phase = Phase.DONE
            return [Hangup()]
        return []

    def digit(self, digit: str) -> list[Action]:
        if self.phase in (Phase.GREETING, Phase.MENU):
            return self._menu_digit(digit)
        if self.phase is Phase.QUEUED and digit == EMERGENCY_DIGIT and not self.emergency:
            self.emergency = True
            return [MarkEmergency()]
        if (
            self.phase is Phase.QUEUED
            and self.callback_offered
            and digit == self.config.callback_digit
        ):
            return self._callback(CallbackReason.REQUESTED)
        self.ignored += 1
        return []

    def timer(self, kind: str) -> list[Action]:
        if kind == MENU_TIMER and self.phase is Phase.MENU:
            return self._failed_attempt(replay=(MENU,))
        if kind == LONG_WAIT_TIMER and self.phase is Phase.QUEUED:
            self.callback_offered = True
            return [Play((self._say(CALLBACK_OFFER),))]
        if kind == MAX_WAIT_TIMER and self.phase is Phase.QUEUED:
            return self._callback(CallbackReason.OVERFLOW)
        return []

    def hung_up(self) -> list[Action]:
        """The caller hung up: waiting in a queue makes it an abandoned call."""
        was = self.phase
        self.phase = Phase.DONE
        if was is Phase.QUEUED:
            self.callback = CallbackReason.ABANDONED
            return [RegisterCallback(CallbackReason.ABANDONED)]
        return []

    def dropped(self) -> list[Action]:
        """The centre ended the call (shut-down): a waiting caller is owed a callback."""
        was = self.phase
        self.phase = Phase.DONE
        if was is Phase.QUEUED:
            self.callback = CallbackReason.DROPPED
            return [RegisterCallback(CallbackReason.DROPPED)]
        return []

    def connected(self) -> list[Action]:
        """An agent answered the waiting caller: the queue's timers stop."""
        if self.phase is not Phase.QUEUED:
            return []
        self.phase = Phase.CONNECTED
        return [CancelTimer(LONG_WAIT_TIMER), CancelTimer(MAX_WAIT_TIMER)]

    def requeued(self, queue: str) -> list[Action]:
        """Blind transfer: the agent handed the caller to a queue or another agent."""
        if self.phase is not Phase.CONNECTED:
            return []
        self.phase, self.queue = Phase.QUEUED, queue
        return [Hold(), StartTimer(MAX_WAIT_TIMER, self.config.queue_max_wait_seconds)]

    @property
    def abandoned(self) -> bool:
        return self.callback is CallbackReason.ABANDONED

    # ---------------------------------------------------------- steps

    def _menu_digit(self, digit: str) -> list[Action]:
        self.phase = Phase.MENU  # a digit during the greeting cuts it short
        if digit == REPEAT_DIGIT:
            return [CancelTimer(MENU_TIMER), Play((MENU,))]
        option = self.menu.option(digit)
        if option is None:
            return self._failed_attempt(replay=(INVALID, MENU))
        self.choice = digit
        if option.language is not None:
            self.language = option.language
        if option.queue is None:
            return [CancelTimer(MENU_TIMER), *self._callback(CallbackReason.REQUESTED)]
        if option.emergency:
            self.emergency = True
            return [CancelTimer(MENU_TIMER), *self._enqueue(option.queue), MarkEmergency()]
        return [CancelTimer(MENU_TIMER), *self._enqueue(option.queue)]

    def _failed_attempt(self, replay: tuple[str, ...]) -> list[Action]:
        self.failures += 1
        if self.failures >= self.config.menu_attempts:
            self.choice = "default"
            # A caller who chose a language before and presses nothing now waits for it.
            queue = self.menu.language_queue(self.remembered)
            if queue is not None:
                self.language = self.remembered
            return [CancelTimer(MENU_TIMER), *self._enqueue(queue or self.menu.default_queue)]
        return [CancelTimer(MENU_TIMER), Play(replay)]

    def _enqueue(self, queue: str) -> list[Action]:
        self.phase = Phase.QUEUED
        self.queue = queue
        return [
            Enqueue(queue),
            Play((self._say(QUEUE),)),
            StartTimer(LONG_WAIT_TIMER, self.config.queue_long_wait_seconds),
            StartTimer(MAX_WAIT_TIMER, self.config.queue_max_wait_seconds),
        ]

    def _callback(self, reason: CallbackReason) -> list[Action]:
        self.phase = Phase.CALLBACK
        self.callback = reason
        return [
            CancelTimer(LONG_WAIT_TIMER),
            CancelTimer(MAX_WAIT_TIMER),
            RegisterCallback(reason),
            Play((self._say(CALLBACK_OK),)),
        ]

    def _say(self, prompt: str) -> str:
        return languages.localized(prompt, self.language)
