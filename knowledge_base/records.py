"""Reading KB JSONL files: `{"id", "title", "question", "answer", "category", "unit"}`.

Optional fields: `question` may be a list of variants; `hotlines` (list of numbers),
`valid_from` / `valid_to` (ISO dates). Every error names the file and line number.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from knowledge_base.domain import EntryContent
from knowledge_base.exceptions import InvalidEntry, InvalidRecord

REQUIRED = ("id", "title", "question", "answer", "category", "unit")


@dataclass(frozen=True, slots=True)
class ImportRecord:
    external_id: str
    content: EntryContent


def _values(path: Path) -> Iterator[tuple[int, object]]:
    """Each non-empty line of a JSONL file, decoded, with its line number."""
    for number, line in _lines(path):
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidRecord(f"{path}:{number}: not valid JSON ({exc.msg})") from None


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8") as file:
            for number, line in enumerate(file, start=1):
                if line.strip():
                    yield number, line
    except FileNotFoundError:
        raise InvalidRecord(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InvalidRecord(f"{path}: is a directory, not a JSONL file") from None
    except UnicodeDecodeError as exc:
        raise InvalidRecord(f"{path}: not UTF-8 text ({exc.reason})") from None


def _text(record: dict, key: str) -> str:
    value = record[key]
    if isinstance(value, int | float) and not isinstance(value, bool) and key == "id":
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise InvalidEntry(f"field '{key}' must be a non-empty string")
    return value.strip()


def _strings(value: object, key: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise InvalidEntry(f"field '{key}' must be a string or a list of strings")
    return tuple(i.strip() for i in items if i.strip())


def _date(record: dict, key: str) -> date | None:
    value = record.get(key)
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidEntry(f"field '{key}' must be a date like 2026-01-31") from None


def parse_record(record: object) -> ImportRecord:
    """One decoded JSON value → ImportRecord, or InvalidEntry saying what is wrong."""
    if not isinstance(record, dict):
        raise InvalidEntry("a record must be a JSON object")
    missing = [key for key in REQUIRED if key not in record]
    if missing:
        raise InvalidEntry(f"missing required field(s): {', '.join(missing)}")
    content = EntryContent(
        title=_text(record, "title"),
        questions=_strings(record["question"], "question"),
        answer=_text(record, "answer"),
        category=_text(record, "category"),
        unit=_text(record, "unit"),
        hotlines=_strings(record.get("hotlines", []), "hotlines"),
        valid_from=_date(record, "valid_from"),
        valid_to=_date(record, "valid_to"),
    )
    external_id = _text(record, "id")
    if len(external_id) > 64:
        raise InvalidEntry("field 'id' is longer than 64 characters")
    return ImportRecord(external_id, content)


def read_records(path: Path) -> list[ImportRecord]:
    """All records of a KB JSONL file; the first bad line stops the whole import."""
    records: list[ImportRecord] = []
    seen: dict[str, int] = {}
    for number, value in _values(path):
        try:
            record = parse_record(value)
        except InvalidEntry as exc:
            raise InvalidRecord(f"{path}:{number}: {exc}") from None
        if record.external_id in seen:
            raise InvalidRecord(
                f"{path}:{number}: id '{record.external_id}' already on line "
                f"{seen[record.external_id]}"
            )
        seen[record.external_id] = number
        records.append(record)
    return records


def read_queries(path: Path) -> list[str]:
    """Query file for batch search: one `{"q": ...}` per line, in order."""
    queries = []
    for number, record in _values(path):
        if not isinstance(record, dict) or not isinstance(record.get("q"), str):
            raise InvalidRecord(f'{path}:{number}: expected an object with a string "q"')
        queries.append(record["q"])
    return queries


def read_labelled_queries(path: Path) -> list[tuple[str, str]]:
    """Evaluation file: `{"q", "id"}` per line (`expected` is accepted for `id`)."""
    pairs = []
    for number, record in _values(path):
        if not isinstance(record, dict):
            record = {}
        query, expected = record.get("q"), record.get("id", record.get("expected"))
        if not isinstance(query, str) or not isinstance(expected, str):
            raise InvalidRecord(f'{path}:{number}: expected an object with strings "q" and "id"')
        pairs.append((query, expected))
    return pairs
