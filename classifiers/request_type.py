"""Request type (诉求类型): 咨询 / 求助 / 投诉 / 举报 / 建议 / 表扬.

Cue words with weights; the highest score wins, ties go by ``_PRECEDENCE`` (the
rarer, more specific type first). A message without any cue is a complaint, the
most common type (a question mark alone already counts as a consultation cue).
"""

from __future__ import annotations

import re

from .text import normalize

REQUEST_TYPES = ("consultation", "help", "complaint", "report", "suggestion", "praise")
REQUEST_TYPE_NAMES = {
    "consultation": "咨询",
    "help": "求助",
    "complaint": "投诉",
    "report": "举报",
    "suggestion": "建议",
    "praise": "表扬",
}

# Precedence for ties: an explicit report or praise is rarer and more specific.
_PRECEDENCE = ("report", "praise", "complaint", "help", "suggestion", "consultation")

_CUES: dict[str, tuple[tuple[str, float], ...]] = {
    "praise": (
        (r"表扬|点赞|点个赞|称赞|赞扬|致谢|锦旗|感谢信|好评", 3.0),
        (r"(?:非常|十分|特别|衷心)感谢", 2.0),
        (r"感谢", 1.5),
        (r"负责任|热心|辛苦了|为民办实事", 1.0),
    ),
    "report": (
        (r"举报|检举|揭发|实名反映", 3.0),
        (r"违法|违规|非法|偷排|贪污|受贿|传销|无证|黑车|造假", 1.0),
    ),
    "complaint": (
        (r"投诉|不满|太差|恶劣|不作为|乱收费|欺骗|坑人|坑了|扰民|拖欠|不给|不管|没人管|推诿", 2.0),
        (r"太吵|臭|脏|骗|差劲|刁难|迟迟|一直没|还没|不合理|不公平|凭什么", 1.0),
    ),
    "help": (
        (r"求助|求求|求帮|帮帮|救救|帮忙|帮我|帮一下|帮一把|救助|走投无路|怎么办(?!理)|无助", 2.0),
        (r"困难|急需|没钱", 1.0),
    ),
    "suggestion": (
        (r"建议|提议|倡议|希望(?:政府|相关部门|能|可以)|呼吁", 2.0),
        (r"能不能|可不可以|是否可以|应该|最好|增设|增加|改进|完善", 1.0),
    ),
    "consultation": (
        (r"咨询|请问|想问|问一下|问下|了解一下|想知道", 2.0),
        (r"怎么办理|如何|哪里|什么时候|多久|多少|需要什么|哪些|吗[?？]?$|[?？]", 1.0),
        (r"怎么(?!办)|什么流程|哪个部门|找谁|有没有", 1.0),
    ),
}
_COMPILED = {kind: tuple((re.compile(p), w) for p, w in cues) for kind, cues in _CUES.items()}


def request_type_scores(text: str | None) -> dict[str, float]:
    norm = normalize(text)
    return {
        kind: sum(w * len(p.findall(norm)) for p, w in cues) for kind, cues in _COMPILED.items()
    }


def classify_request_type(text: str | None) -> str:
    """One of ``REQUEST_TYPES`` for the request ``text``."""
    scores = request_type_scores(text)
    best = max(scores.values())
    if best <= 0:
        return "complaint"
    return next(kind for kind in _PRECEDENCE if scores[kind] == best)
