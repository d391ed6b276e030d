"""Errors of the knowledge base; HTTP middleware and the CLI map them to answers."""

from __future__ import annotations

from app.errors import AppError, Conflict, InvalidInput, NotFound


class KnowledgeBaseError(AppError):
    """Base class: the message is meant for the user (one line)."""

    status = 503
    code = "knowledge_base_error"


class InvalidEntry(KnowledgeBaseError, InvalidInput):
    """An entry's content breaks a rule (empty title, validity window reversed ...)."""

    status, code = InvalidInput.status, InvalidInput.code


class IllegalTransition(KnowledgeBaseError, Conflict):
    """The review workflow does not allow this action from the entry's state."""

    status, code = Conflict.status, "illegal_transition"


class EntryNotFound(KnowledgeBaseError, NotFound):
    """No entry with this external id."""

    status, code = NotFound.status, "kb_entry_not_found"


class InvalidRecord(KnowledgeBaseError, InvalidInput):
    """A JSONL line cannot be read; the message names the file and line number."""

    status, code = InvalidInput.status, InvalidInput.code


class StorageUnavailable(KnowledgeBaseError):
    """The database cannot be reached or opened."""
