"""The project's error hierarchy; HTTP middleware maps it to status codes in one place.

Each package subclasses these in its own `exceptions.py`; the `code` is the stable,
machine-readable part of `{"error": {"code", "message"}}`, the message is Chinese text
a person can act on.
"""

from __future__ import annotations


class AppError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidInput(AppError):
    status = 400
    code = "validation_error"


class Unauthenticated(AppError):
    status = 401
    code = "unauthenticated"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class NotFound(AppError):
    status = 404
    code = "not_found"


class Conflict(AppError):
    status = 409
    code = "conflict"


class TooLarge(AppError):
    status = 413
    code = "too_large"


class RateLimited(AppError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, code: str | None = None, retry_after: int = 0) -> None:
        super().__init__(message, code)
        self.retry_after = retry_after  # seconds, answered as Retry-After when > 0
