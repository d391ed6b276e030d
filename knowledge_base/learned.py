"""What KB search learned from paraphrases: aliases, query-term weights, re-ranker,
and each paraphrased entry's callers' words.

Four small files in `data/`, written by `knowledge_base.training` (run through
`python -m benchmarks.knowledge_base.bench_loso --write`) and read once per process.
The first three name no KB entry:
- aliases map a caller's character bigram to bigrams that entries use for the same
  thing (出国 → 护照, 的士 → 出租);
- term weights say how often a query term, when a caller uses it, is also in the entry
  that answers them (怎么, 一下, 我家 rarely; 护照, 公积 nearly always): fillers learned
  from data instead of a hand list;
- the re-ranker weighs features of a (query, entry) pair that any KB has.
So those three carry over to another centre's KB; how well is measured leave-one-set-
out, and with the test entries' own paraphrases kept out of the learning (`bench_loso
--strict`).

The fourth (issue 13, sixth round) is the demo KB's own memory: for each entry with
paraphrases, the character terms its callers used (document expansion, as from a
query log). It applies to an entry only while both its external id and its title are
the ones learned on, so another centre's KB (or an edited title) gets none of it, and
the re-ranker has a feature saying whether an entry has such terms, fitted with half
the entries stripped of them so that entries added later still compete.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

DATA_DIR = Path(__file__).with_name("data")
ALIASES_FILE = DATA_DIR / "aliases.tsv"
TERM_WEIGHTS_FILE = DATA_DIR / "term_weights.tsv"
RANKER_FILE = DATA_DIR / "ranker.json"
PARAPHRASE_TERMS_FILE = DATA_DIR / "paraphrase_terms.tsv"

# Feature names, in the order of `Ranker.coefficients` (see search.SearchIndex.features).
FEATURES = (
    "all",
    "questions",
    "answer",
    "pinyin",
    "synonyms",
    "aliases",
    "weighted",
    "fuzzy",
    "paraphrases",
    "paraphrased",
)

AliasTable = dict[str, dict[str, float]]
TermWeights = dict[str, float]


@dataclass(frozen=True, slots=True)
class EntryParaphrases:
    """Callers' character terms for one entry, valid while the entry has this title."""

    title: str
    terms: dict[str, int]  # char unigram / bigram -> how many paraphrases used it


ParaphraseTerms = dict[str, EntryParaphrases]  # by external id


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


@dataclass(frozen=True, slots=True)
class Learned:
    ranker: Ranker
    aliases: AliasTable = field(default_factory=dict)
    # Terms not listed weigh 1.0 (no evidence that they are fillers).
    term_weights: TermWeights = field(default_factory=dict)
    paraphrases: ParaphraseTerms = field(default_factory=dict)


def write_aliases(table: AliasTable, path: Path = ALIASES_FILE) -> None:
    lines = [
        "# Mined by knowledge_base.training from paraphrase sets; do not edit by hand.",
        "# caller bigram <TAB> entry bigram:strength ...",
    ]
    for term in sorted(table):
        targets = " ".join(f"{u}:{w:.3f}" for u, w in sorted(table[term].items()))
        lines.append(f"{term}\t{targets}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_aliases(path: Path = ALIASES_FILE) -> AliasTable:
    table: AliasTable = {}
    for term, targets in _rows(path):
        table[term] = {u: float(w) for u, w in (t.rsplit(":", 1) for t in targets.split())}
    return table


def write_term_weights(weights: TermWeights, path: Path = TERM_WEIGHTS_FILE) -> None:
    lines = [
        "# Learned by knowledge_base.training from paraphrase sets; do not edit by hand.",
        "# query term <TAB> weight (terms not listed: 1.0)",
    ]
    lines += [f"{t}\t{w:.3f}" for t, w in sorted(weights.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_term_weights(path: Path = TERM_WEIGHTS_FILE) -> TermWeights:
    return {term: float(weight) for term, weight in _rows(path)}


def _rows(path: Path) -> list[tuple[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t", 1)) for line in lines if line.strip() and line[0] != "#"]


def write_paraphrase_terms(
    paraphrases: ParaphraseTerms, path: Path = PARAPHRASE_TERMS_FILE
) -> None:
    lines = [
        "# Learned by knowledge_base.training from paraphrase sets; do not edit by hand.",
        "# external id <TAB> title <TAB> term:count ... (applies while id and title match)",
    ]
    for external_id in sorted(paraphrases):
        entry = paraphrases[external_id]
        terms = " ".join(f"{t}:{n}" for t, n in sorted(entry.terms.items()))
        lines.append(f"{external_id}\t{entry.title}\t{terms}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_paraphrase_terms(path: Path = PARAPHRASE_TERMS_FILE) -> ParaphraseTerms:
    if not path.exists():
        return {}
    paraphrases: ParaphraseTerms = {}
    for external_id, rest in _rows(path):
        title, terms = rest.split("\t", 1)
        counts = {t: int(n) for t, n in (item.rsplit(":", 1) for item in terms.split())}
        paraphrases[external_id] = EntryParaphrases(title, counts)
    return paraphrases


def write_ranker(ranker: Ranker, path: Path = RANKER_FILE) -> None:
    path.write_text(json.dumps(ranker.as_json(), indent=1) + "\n", encoding="utf-8")


def write(learned: Learned) -> None:
    write_aliases(learned.aliases)
    write_term_weights(learned.term_weights)
    write_ranker(learned.ranker)
    write_paraphrase_terms(learned.paraphrases)


@lru_cache(maxsize=1)
def shipped() -> Learned:
    """The files in data/, read once per process."""
    ranker = Ranker.from_json(json.loads(RANKER_FILE.read_text(encoding="utf-8")))
    return Learned(ranker, read_aliases(), read_term_weights(), read_paraphrase_terms())
