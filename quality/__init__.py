"""质检 (call quality inspection): weekly samples of recordings, checklist scores, the
agent quality KPI.

domain.py      pure: ISO weeks, the deterministic sample, the checklist and its total
storage.py     the `qa_reviews` table and its queries
services.py    use cases: sample a week, list reviews, score one
exceptions.py  ReviewNotFound, ReviewScored, InvalidWeek
routes.py      /api/v1/quality/... (supervisors, admins; agents read their own)
__main__.py    `python -m quality sample --week 2026-W49 --db URL`
"""
