"""Knowledge-base domain (知识库): entry life cycle, validity and search documents.

Plain classes and functions, no I/O. The review workflow lives here and only here:

    draft ──review──► reviewed ──publish──► published ──expire──► expired
      ▲                  │                                           │
      └──── reject ──────┘          any edit makes a new draft version

Imports by an administrator publish directly (`import_publish`), because an import is
an admin act over an already approved regulation set.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date

from knowledge_base.exceptions import IllegalTransition, InvalidEntry


class Status(enum.StrEnum):
    DRAFT = "draft"
    REVIEWED = "reviewed"
    PUBLISHED = "published"
    EXPIRED = "expired"


class Action(enum.StrEnum):
    REVIEW = "review"
    REJECT = "reject"
    PUBLISH = "publish"
    EXPIRE = "expire"


# action -> (allowed source states, target state)
TRANSITIONS: dict[Action, tuple[frozenset[Status], Status]] = {
    Action.REVIEW: (frozenset({Status.DRAFT}), Status.REVIEWED),
    Action.REJECT: (frozenset({Status.REVIEWED}), Status.DRAFT),
    Action.PUBLISH: (frozenset({Status.REVIEWED}), Status.PUBLISHED),
    Action.EXPIRE: (frozenset({Status.PUBLISHED}), Status.EXPIRED),
}


def next_status(current: Status, action: Action) -> Status:
    """The state after `action`, or IllegalTransition when `current` does not allow it."""
    sources, target = TRANSITIONS[action]
    if current not in sources:
        raise IllegalTransition(f"cannot {action.value} an entry that is {current.value}")
    return target


@dataclass(frozen=True, slots=True)
class EntryContent:
    """What one version of an entry says; every edit produces a new one."""

    title: str
    questions: tuple[str, ...]
    answer: str
    category: str
    unit: str
    hotlines: tuple[str, ...] = ()
    valid_from: date | None = None
    valid_to: date | None = None

    def __post_init__(self) -> None:
        for name in ("title", "answer", "category", "unit"):
            if not getattr(self, name).strip():
                raise InvalidEntry(f"field '{name}' must not be empty")
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise InvalidEntry("valid_to is before valid_from")

    def is_valid_on(self, day: date) -> bool:
        """Inside the validity window (both ends inclusive; open ends are unbounded)."""
        if self.valid_from is not None and day < self.valid_from:
            return False
        return self.valid_to is None or day <= self.valid_to


def is_searchable(status: Status, content: EntryContent, day: date) -> bool:
    """Agents only ever see published entries that are valid today."""
    return status is Status.PUBLISHED and content.is_valid_on(day)


@dataclass(frozen=True, slots=True)
class SearchDocument:
    """An entry as the in-memory index sees it."""

    external_id: str
    content: EntryContent
    version: int = 0


@dataclass(frozen=True, slots=True)
class SearchHit:
    external_id: str
    title: str
    score: float
    category: str
    unit: str
    answer: str = field(repr=False)

    def as_json(self) -> dict[str, object]:
        """The CLI / API shape: {"id", "title", "score"}."""
        return {"id": self.external_id, "title": self.title, "score": round(self.score, 4)}
