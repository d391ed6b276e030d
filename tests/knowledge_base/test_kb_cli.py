"""The command-line contracts of DESIGN §5, through a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "knowledge_base" / "data" / "demo_kb.jsonl"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "knowledge_base", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "kb.db"
    result = run("import", str(DEMO), "--db", f"sqlite+aiosqlite:///{path}")
    assert result.returncode == 0, result.stderr
    assert "107 new" in result.stderr
    return path


def test_search_json_contract(db):
    result = run("search", "--db", str(db), "--top", "5", "--json", "身份证丢了咋补")
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert len(hits) == 5
    assert set(hits[0]) == {"id", "title", "score"}
    assert hits[0]["id"] == "KB-0020"
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_batch_queries_keep_input_order(db, tmp_path):
    queries = tmp_path / "q.jsonl"
    lines = [{"q": "护照怎么办"}, {"q": "？？"}, {"q": "路灯坏了"}]
    queries.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in lines) + "\n")
    result = run("search", "--db", str(db), "--top", "5", "--json", "--queries", str(queries))
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(answers) == 3
    assert answers[0][0]["id"] == "KB-0025"
    assert answers[1] == []
    assert answers[2][0]["id"] == "KB-0031"


def test_evaluate_scores_labelled_queries_like_search(db, tmp_path):
    data = tmp_path / "eval.jsonl"
    lines = [{"q": "护照怎么办", "id": "KB-0025"}, {"q": "路灯坏了", "id": "KB-0001"}]
    data.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in lines) + "\n")
    result = run("evaluate", "--db", str(db), "--data", str(data), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"n": 2, "top1": 0.5, "top5": 0.5}
    data.write_text('{"q": "护照怎么办"}\n')
    result = run("evaluate", "--db", str(db), "--data", str(data))
    assert result.returncode == 1
    assert "eval.jsonl:1" in result.stderr


def test_reimport_updates_instead_of_duplicating(db, tmp_path):
    changed = tmp_path / "one.jsonl"
    record = json.loads(DEMO.read_text(encoding="utf-8").splitlines()[0])
    record["answer"] = "新的答复口径。"
    changed.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    result = run("import", str(changed), "--db", str(db))
    assert result.returncode == 0, result.stderr
    assert "0 new, 1 updated" in result.stderr


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"id": "a", "title": "t"'], "bad.jsonl:1: not valid JSON"),
        (
            [
                '{"id":"a","title":"t","question":"q","answer":"a","category":"c","unit":"u"}',
                '{"id":"b","title":"t","question":"q","answer":"a","category":"c"}',
            ],
            "bad.jsonl:2: missing required field(s): unit",
        ),
    ],
)
def test_bad_import_file(tmp_path, lines, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("import", str(bad), "--db", str(tmp_path / "x.db"))
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


def test_missing_file_and_missing_database(tmp_path):
    result = run("import", str(tmp_path / "none.jsonl"), "--db", str(tmp_path / "x.db"))
    assert result.returncode == 1 and "no such file" in result.stderr
    result = run("search", "--db", str(tmp_path / "none.db"), "--json", "护照")
    assert result.returncode == 1 and "database file not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database(tmp_path):
    url = "postgresql+asyncpg://kb:secret@127.0.0.1:9/kb"
    result = run("search", "--db", url, "--json", "护照")
    assert result.returncode == 1
    assert "database unavailable" in result.stderr
    assert "Traceback" not in result.stderr and "secret" not in result.stderr


def test_unsupported_database_url(tmp_path):
    result = run("search", "--db", "mysql://u@h/db", "--json", "护照")
    assert result.returncode == 1 and "unsupported database URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_big_import_shows_progress(tmp_path):
    big = tmp_path / "big.jsonl"
    record = {
        "title": "护照办理",
        "question": "护照怎么办",
        "answer": "到出入境窗口办理。",
        "category": "出入境",
        "unit": "市公安局",
    }
    lines = (json.dumps({"id": f"P{i}", **record}, ensure_ascii=False) for i in range(1200))
    big.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("import", str(big), "--db", str(tmp_path / "big.db"))
    assert result.returncode == 0, result.stderr
    assert "imported 1200/1200 (100%)" in result.stderr
    assert "1200 new" in result.stderr
