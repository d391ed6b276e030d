"""Reading JSONL record files with errors that name the file and line."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .exceptions import DataError


@dataclass(frozen=True)
class Record:
    """One message: ``{"id", "title"?, "text", <label field>?}``; ``raw`` keeps extras."""

    id: str
    text: str
    title: str | None
    raw: dict
    line: int

    def value(self, field: str) -> str | None:
        value = self.raw.get(field)
        return None if value is None else str(value)


def read_records(path: str | Path, required: tuple[str, ...] = ("text",)) -> list[Record]:
    """Parse a JSONL file; blank lines are skipped, every other line must be an object."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"数据文件不存在: {path}")
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"无法读取数据文件 {path}: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}: JSON 格式错误 ({exc.msg})") from exc
        if not isinstance(raw, dict):
            raise DataError(f"{path}:{number}: 每行必须是一个 JSON 对象")
        for name in required:
            if raw.get(name) is None:
                raise DataError(f"{path}:{number}: 缺少字段 '{name}'")
        text = raw.get("text")
        if not isinstance(text, str):
            raise DataError(f"{path}:{number}: 字段 'text' 必须是字符串")
        title = raw.get("title")
        records.append(
            Record(
                id=str(raw.get("id", number)),
                text=text,
                title=title if isinstance(title, str) else None,
                raw=raw,
                line=number,
            )
        )
    if not records:
        raise DataError(f"数据文件为空: {path}")
    return records


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
