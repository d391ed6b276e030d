"""Build stats/data/stopwords_corpus.txt: words the TipDM corpus uses in every category
alike (哪些, 需要, 以后, 早上 ...): filler for the hotspot keyword cloud, not topics.

    .venv/bin/python benchmarks/stats/build_stopwords.py [--data ../shared/data/tipdm2020]

A word qualifies when it appears in at least MIN_DOCS of the 495 labelled messages, in
every one of the 7 categories, and is spread over them evenly: the normalised entropy
of its per-category document rate (each category's share of messages using it, divided
by the category's size) is at least MIN_ENTROPY. A topic word (噪音, 工资, 学校) is
concentrated in one or two categories and stays. The word list is printed with its
figures to stderr for a person to read; the file gets the words.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from stats.keywords import CORPUS_STOPWORDS_FILE, candidate_words  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "tipdm2020"
if not DEFAULT_DATA.is_dir():
    DEFAULT_DATA = ROOT.parent.parent / "shared" / "data" / "tipdm2020"
MIN_DOCS = 15
MIN_ENTROPY = 0.93


def spread(rows: list[dict], min_docs: int = MIN_DOCS) -> list[tuple[str, int, float]]:
    """(word, document count, normalised entropy) of every word used in all categories."""
    size: Counter[str] = Counter()
    df: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        label = row["label"]
        size[label] += 1
        for word in set(candidate_words(f"{row.get('title') or ''} {row['text']}")):
            df[word][label] += 1
    labels = sorted(size)
    out = []
    for word, per_label in df.items():
        total = sum(per_label.values())
        if total < min_docs or any(per_label[label] == 0 for label in labels):
            continue
        rates = [per_label[label] / size[label] for label in labels]
        shares = [r / sum(rates) for r in rates]
        entropy = -sum(p * math.log(p) for p in shares) / math.log(len(labels))
        out.append((word, total, round(entropy, 3)))
    return sorted(out, key=lambda item: (-item[1], item[0]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=CORPUS_STOPWORDS_FILE)
    args = parser.parse_args()
    lines = (args.data / "labelled.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    chosen = [(w, n, e) for w, n, e in spread(rows) if e >= MIN_ENTROPY]
    for word, n, entropy in chosen:
        print(f"{word}\t{n}\t{entropy}", file=sys.stderr)
    header = [
        "# Built by benchmarks/stats/build_stopwords.py from the TipDM labelled messages:",
        f"# words in >= {MIN_DOCS} messages, used in all 7 categories alike "
        f"(normalised entropy >= {MIN_ENTROPY}). Do not edit by hand.",
    ]
    args.out.write_text("\n".join(header + sorted(w for w, _, _ in chosen)) + "\n", "utf-8")
    print(f"{len(chosen)} words -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
