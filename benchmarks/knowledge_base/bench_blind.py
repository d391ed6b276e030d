"""Blind paraphrases, scored the way outside evaluators do: through the CLI.

    .venv/bin/python -m benchmarks.knowledge_base.bench_blind [QUERIES.jsonl] [--kb KB.jsonl]

QUERIES.jsonl has `{"qid", "q", "id"}` lines (`id`: the expected KB entry), written by
someone who never saw the code; default `benchmarks/blind/kb_blind.jsonl`. The KB file
(default: the demo KB) is imported into a fresh SQLite database and the queries are
searched with `python -m knowledge_base search --db DB --top 5 --json --queries FILE`.
The plain char-1-2-gram BM25 baselines run in-process on the same KB file: the CLI has
no baseline mode, and they need no database.

Never tune on this set: every look at it makes it less blind.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.knowledge_base.baseline import BaselineIndex
from knowledge_base.evaluation import DEMO_KB, load_documents

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_QUERIES = ROOT / "benchmarks" / "blind" / "kb_blind.jsonl"
TOP = 5


def read_blind(path: Path) -> list[tuple[str, str]]:
    """(query, expected id) per non-empty line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    return [(r["q"], r["id"]) for r in records]


def cli(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "knowledge_base", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"python -m knowledge_base {args[0]} failed: {result.stderr.strip()}")
    return result.stdout


def cli_rankings(kb: Path, queries: Path) -> list[list[str]]:
    with tempfile.TemporaryDirectory() as directory:
        db = Path(directory) / "kb.db"
        cli("import", str(kb), "--db", str(db))
        out = cli("search", "--db", str(db), "--top", str(TOP), "--json", "--queries", str(queries))
    return [[hit["id"] for hit in json.loads(line)] for line in out.splitlines()]


def figures(rankings: list[list[str]], expected: list[str]) -> dict[str, float | int]:
    if len(rankings) != len(expected):
        raise SystemExit(f"{len(rankings)} result lines for {len(expected)} queries")
    n = len(expected)
    top1 = sum(bool(r) and r[0] == e for r, e in zip(rankings, expected, strict=True))
    top5 = sum(e in r[:TOP] for r, e in zip(rankings, expected, strict=True))
    return {"n": n, "top1": round(top1 / n, 3), "top5": round(top5 / n, 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("queries", type=Path, nargs="?", default=DEFAULT_QUERIES)
    parser.add_argument("--kb", type=Path, default=DEMO_KB, help="KB JSONL (default: demo KB)")
    args = parser.parse_args()
    blind = read_blind(args.queries)
    expected = [e for _, e in blind]
    documents = load_documents(args.kb)
    results = {"ours (CLI)": figures(cli_rankings(args.kb, args.queries), expected)}
    for name, index in {
        "baseline char-1-2 BM25 (title+q)": BaselineIndex(documents),
        "baseline char-1-2 BM25 (+answer)": BaselineIndex(documents, with_answer=True),
    }.items():
        rankings = [[h.external_id for h in index.search(q, TOP)] for q, _ in blind]
        results[name] = figures(rankings, expected)
    for name, result in results.items():
        print(f"{name:>34}: n={result['n']} top1={result['top1']:.3f} top5={result['top5']:.3f}")


if __name__ == "__main__":
    main()
