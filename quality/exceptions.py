"""质检 errors; the app's middleware turns them into JSON errors (app/errors.py)."""

from __future__ import annotations

from app.errors import Conflict, InvalidInput, NotFound


class ReviewNotFound(NotFound):
    def __init__(self, review_id: int | str) -> None:
        super().__init__(f"质检记录不存在: {review_id}", code="qa_review_not_found")


class ReviewScored(Conflict):
    def __init__(self, review_id: int) -> None:
        super().__init__(f"质检记录 {review_id} 已评分", code="qa_review_scored")


class InvalidWeek(InvalidInput):
    def __init__(self, text: str) -> None:
        super().__init__(f"周次格式不正确: {text[:20]},应为 YYYY-Www(如 2026-W49)")
