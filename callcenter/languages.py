"""多语种服务: the languages the IVR offers besides 普通话, one key each in the menu.

GB/T 33358 advises against deep menus: a language is one key of the first menu (no
sub-menu), spoken in its own language ("For English, press 6"). A caller who chose one
waits in its queue (`lang_<code>`) for an agent with that skill; after `overflow_seconds`
the language desk (`lang_desk`: multilingual staff or an interpreter line) may take the
call too, never a general agent. The IVR's later prompts (queue, callback offer,
goodbye) are in the chosen language. The choice is remembered by the caller's number
(table `caller_languages`): shown in the screen pop, and the queue a caller who presses
nothing next time is put in.

Prompts are placeholders synthesised by espeak-ng (its cmn, yue, en-us, ug, kk voices);
recorded prompts replace them (callcenter/prompts.py).
"""

from __future__ import annotations

from dataclasses import dataclass

MANDARIN = "zh"
QUEUE_PREFIX = "lang_"
LANGUAGE_DESK = "lang_desk"


@dataclass(frozen=True)
class Language:
    code: str
    name: str  # in Chinese, for staff screens
    digit: str  # its key in the first menu
    voice: str  # espeak-ng voice of the placeholder prompts
    menu: str  # "for <language> press <digit>", in the language itself
    queue_text: str  # "connecting you to an agent, please hold"
    callback_offer: str  # "the wait is long: press 1 to be called back"
    callback_ok: str  # "we will call you back, goodbye"

    @property
    def queue(self) -> str:
        return queue_of(self.code)


LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in (
        Language(
            "yue",
            "粤语",
            "5",
            "yue",
            "廣東話服務請按5。",
            "正在為你轉接人工服務,請稍候。",
            "等候時間較長,需要回電請按1。",
            "已經為你登記回電,再見。",
        ),
        Language(
            "en",
            "英语",
            "6",
            "en-us",
            "For English, press 6.",
            "Please hold, we are connecting you to an agent.",
            "The wait is long. To be called back, press 1.",
            "We will call you back. Goodbye.",
        ),
        Language(
            "ug",
            "维吾尔语",
            "7",
            "ug",
            "ئۇيغۇرچە مۇلازىمەت ئۈچۈن 7 نى بېسىڭ.",
            "سىزنى خىزمەتچىگە ئۇلاۋاتىمىز، سەل ساقلاڭ.",
            "ساقلاش ۋاقتى ئۇزۇن، قايتۇرۇپ تېلېفون قىلىشنى خالىسىڭىز 1 نى بېسىڭ.",
            "قايتۇرۇپ تېلېفون قىلىمىز، خەير خوش.",
        ),
        Language(
            "kk",
            "哈萨克语",
            "8",
            "kk",
            "Қазақ тілі үшін 8 басыңыз.",
            "Сізді операторға қосып жатырмыз, күте тұрыңыз.",
            "Күту ұзақ, кері қоңырау үшін 1 басыңыз.",
            "Сізге кері қоңырау шаламыз, сау болыңыз.",
        ),
    )
}


def of_queue(queue: str | None) -> Language | None:
    """The language a queue serves (None: a Mandarin queue)."""
    if queue is None or not queue.startswith(QUEUE_PREFIX):
        return None
    return LANGUAGES.get(queue.removeprefix(QUEUE_PREFIX))


def queue_of(code: str) -> str:
    """The queue of a language's callers (`lang_en`)."""
    return QUEUE_PREFIX + code


def is_language_queue(queue: str) -> bool:
    """Queues only agents with the language skill take (and the language desk)."""
    return queue == LANGUAGE_DESK or of_queue(queue) is not None


def label(code: str | None) -> str:
    if code is None or code == MANDARIN:
        return "普通话"
    language = LANGUAGES.get(code)
    return language.name if language else code


def localized(prompt: str, code: str | None) -> str:
    """The prompt's name in `code` (`queue.en`); Mandarin prompts keep their name."""
    return prompt if code in (None, MANDARIN) else f"{prompt}.{code}"


def base_name(prompt: str) -> str:
    return prompt.partition(".")[0]
