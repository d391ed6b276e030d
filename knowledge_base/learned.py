"""What KB search learned from paraphrases: an alias table and the re-ranker weights.

Both are small files in `data/`, written by `knowledge_base.training` (run through
`python -m benchmarks.knowledge_base.bench_loso --write`) and read once per process.
Neither names a KB entry: aliases map a caller's character bigram to bigrams that
entries use for the same thing (出国 → 护照, 的士 → 出租), and the re-ranker weighs
features of a (query, entry) pair that any KB has. So both carry over to another
centre's KB; how well is measured leave-one-set-out, and with the test entries' own
paraphrases kept out of the mining (`bench_loso`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA_DIR = Path(__file__).with_name("data")
ALIASES_FILE = DATA_DIR / "aliases.tsv"
RANKER_FILE = DATA_DIR / "ranker.json"

# Feature names, in the order of `Ranker.coefficients` (see search.SearchIndex._features).
FEATURES = ("all", "questions", "answer", "pinyin", "synonyms", "aliases", "fuzzy")

AliasTable = dict[str, dict[str, float]]


@dataclass(frozen=True, slots=True)
class Ranker:
    """Logistic regression over the features of a candidate: score = w · x + b."""

    coefficients: tuple[float, ...]
    intercept: float

    def __post_init__(self) -> None:
        if len(self.coefficients) != len(FEATURES):
            raise ValueError(f"{len(FEATURES)} coefficients expected")

    def as_json(self) -> dict[str, object]:
        return {
            "features": list(FEATURES),
            "coefficients": [round(c, 6) for c in self.coefficients],
            "intercept": round(self.intercept, 6),
        }

    @classmethod
    def from_json(cls, data: dict) -> Ranker:
        if list(data["features"]) != list(FEATURES):
            raise ValueError(f"ranker features {data['features']} are not {list(FEATURES)}")
        return cls(tuple(float(c) for c in data["coefficients"]), float(data["intercept"]))


def write_aliases(table: AliasTable, path: Path = ALIASES_FILE) -> None:
    lines = [
        "# Mined by knowledge_base.training from paraphrase sets; do not edit by hand.",
        "# caller bigram <TAB> entry bigram:strength ...",
    ]
    for term in sorted(table):
        targets = " ".join(f"{u}:{w:.3f}" for u, w in sorted(table[term].items()))
        lines.append(f"{term}\t{targets}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_aliases(path: Path) -> AliasTable:
    table: AliasTable = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        term, targets = line.split("\t", 1)
        table[term] = {u: float(w) for u, w in (t.rsplit(":", 1) for t in targets.split())}
    return table


@lru_cache(maxsize=1)
def shipped_aliases() -> AliasTable:
    return read_aliases(ALIASES_FILE) if ALIASES_FILE.is_file() else {}


@lru_cache(maxsize=1)
def shipped_ranker() -> Ranker:
    return Ranker.from_json(json.loads(RANKER_FILE.read_text(encoding="utf-8")))


def write_ranker(ranker: Ranker, path: Path = RANKER_FILE) -> None:
    path.write_text(json.dumps(ranker.as_json(), indent=1) + "\n", encoding="utf-8")
