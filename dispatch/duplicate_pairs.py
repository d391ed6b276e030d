"""A learned pair similarity for duplicates (并单) that needs no list of place suffixes.

A place is recognised by what is rare among the open orders, not by a list of estate
or road suffixes: an invented name (雁栖大道, 星桥) is a few character bigrams that hardly
any other open order contains, so their inverse document frequency (over the orders the
index holds) makes them weigh; 垃圾, 反映, 小区 are everywhere and weigh little. Numbers
are written one way first (五栋 = 5号楼 = 5栋 = 5幢, 12-1 = 12栋1单元), and two records
that name different districts, buildings, house numbers or units are `apart`: never
one incident.

Per record (`Record`, computed once): the bigrams of the whole text (address and
content), of the place (the address field, else the content) and of the problem (the
content without the address's bigrams), the building / unit / house numbers, the
district, the problem kinds of the lexicon and, with `ProblemVectors`, the problem's
LSA vector. Per pair (`pair_vector`): IDF-weighted overlaps of these, the rarest shared
bigrams, a differing side or short name, the problems' cosine. A logistic regression
(`PairModel`, coefficients and thresholds in `data/duplicate_model.json`, fitted by
`benchmarks/duplicates/bench_loso.py` on sets written by several people) turns them
into a probability; from which one a pair is suggested or certain is the model's
choice unless configuration overrides it.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from sys import intern

import numpy as np

from dispatch.duplicate_vectors import ProblemVectors
from dispatch.problem_kinds import kinds_of

MODEL_FILE = Path(__file__).with_name("data") / "duplicate_model.json"

_CN_DIGITS = dict(
    zip("零〇一二两三四五六七八九", (0, 0, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9), strict=True)
)
# a Chinese number counts only before a unit that makes it one (一直, 十分 stay words)
_CN_NUMBER = re.compile(
    r"[零〇一二两三四五六七八九十百]+(?=号|栋|幢|座|单元|楼|层|期|室|弄|米|排|户|路公交|路车)"
)
_BUILDING_FORMS = re.compile(r"(\d+)(?:号楼|栋楼|幢楼|幢|座|栋|号院楼)")
_DASHED = re.compile(r"(?<![\d.])(\d{1,3})[-—–_](\d{1,2})(?![\d.])")
_BUILDING = re.compile(r"(\d+|(?<![a-z])[a-z])(?:栋|座)|(?<![a-z])([a-z])区")
# a side of a place: 北门 and 南门, 东侧 and 西侧, 西段 and 北段 are other spots
_SIDE = re.compile(r"[东西南北](?:门|侧|段|头|口|边|面|岸|区)")
_UNIT = re.compile(r"(\d+)单元")
_HOUSE = re.compile(r"(\d+)号(?!线)")
_DISTRICT = re.compile(r"^(?:[\u4e00-\u9fff]{1,4}市)?([\u4e00-\u9fff]{2})(?<![小社园景校厂矿])区")
# characters of any sentence (particles, pronouns, digits): no problem is told by them
_COMMON_CHARS = frozenset(
    "的了是在我你他她们有个这那就也都还很太么吗呢吧啊呀和与跟说要会能去来到上下里边"
    "一不没人家好多天点些把被让给对从为着过得地又才再已经请帮忙麻烦谢您喂想反映"
    "0123456789,.!?，。！？、；：（）() "
)
_SPLIT = re.compile(r"[^\u4e00-\u9fff0-9a-z]+")


def _arabic(match: re.Match[str]) -> str:
    total = current = 0
    for char in match.group(0):
        if char == "百":
            total, current = total + (current or 1) * 100, 0
        elif char == "十":
            total, current = total + (current or 1) * 10, 0
        else:
            current = current * 10 + _CN_DIGITS[char]
    return str(total + current)


def canonical(text: str | None) -> str:
    """NFKC, lower case, numbers as digits, one way to write a building (5栋 / 12栋1单元)."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = re.sub(r"\s+", "", text)
    text = _CN_NUMBER.sub(_arabic, text)
    text = _DASHED.sub(r"\1栋\2单元", text)
    return _BUILDING_FORMS.sub(r"\1栋", text)


def bigrams(text: str) -> frozenset[str]:
    """Character bigrams inside each run of letters and digits (no punctuation).

    Interned: 100,000 open orders hold a few million bigrams but only some ten thousand
    different ones (this halves the index's memory)."""
    return frozenset(
        intern(run[i : i + 2])
        for run in _SPLIT.split(text)
        if len(run) >= 2
        for i in range(len(run) - 1)
    )


@dataclass(frozen=True, slots=True, eq=False)
class Record:
    """What the pair similarity needs of one order or request."""

    whole: frozenset[str]  # bigrams of address and content
    place: frozenset[str]  # of the address field, else of the content
    problem: frozenset[str]  # of the content, without the address's and without digits
    problem_chars: frozenset[str]  # the content's characters, without the address's
    place_chars: frozenset[str]  # the address's characters
    buildings: frozenset[str]
    units: frozenset[str]
    houses: frozenset[str]
    sides: frozenset[str]
    district: str | None
    kinds: frozenset[str]
    meaning: np.ndarray | None = None  # the problem's vector (duplicate_vectors), if known
    address: str = ""  # canonical, without the district


def record(
    content: str,
    address: str | None = None,
    district: str | None = None,
    vectors: ProblemVectors | None = None,
) -> Record:
    text, where = canonical(content), canonical(address)
    place = bigrams(where) if where else bigrams(text)
    problem = frozenset(g for g in bigrams(text) - bigrams(where) if not _has_digit(g))
    both = where + " " + text
    if not district and (found := _DISTRICT.match(where)):
        district = found.group(1)
    return Record(
        whole=bigrams(where) | bigrams(text),
        place=place,
        problem=problem,
        problem_chars=frozenset(map(intern, text)) - frozenset(where) - _COMMON_CHARS,
        place_chars=frozenset(map(intern, where)),
        buildings=frozenset(a or b for a, b in _BUILDING.findall(both)),
        units=frozenset(_UNIT.findall(both)),
        houses=frozenset(_HOUSE.findall(both)),
        sides=frozenset(_SIDE.findall(both)),
        district=(district or "")[:2] or None,
        kinds=kinds_of(text),
        meaning=vectors.vector(problem) if vectors is not None else None,
        address=_DISTRICT.sub("", where),
    )


def _has_digit(gram: str) -> bool:
    return gram[0].isdigit() or gram[1].isdigit()


# ------------------------------------------------------------------ pair features

Weight = Callable[[str], float]  # a bigram's IDF over the open orders, scaled to 0..1

FEATURES = (
    "whole_dice",  # IDF-weighted Dice of all bigrams
    "place_cover",  # share of one side's place (IDF) found anywhere in the other, the larger
    "place_cover_min",  # the same, the smaller of the two directions
    "rarest",  # IDF of the rarest shared bigram
    "second",  # IDF of the second rarest
    "problem_dice",  # IDF-weighted Dice of the problem bigrams (places of both taken out)
    "problem_plain",  # unweighted Dice of the same
    "kinds_same",  # the lexicon's problem kinds: both name some and share one
    "kinds_other",  # both name some, none shared
    "building_same",
    "place_and_problem",  # min(place_cover, problem_dice): both must hold
    "problem_chars",  # Dice of the contents' characters, both addresses' taken out
    "place_x_chars",  # place_cover * problem_chars
    "place_x_kinds_other",  # place_cover * kinds_other: same place, other problem
    "unmatched",  # each side names something rare the other lacks: the smaller of the two
    "side_other",  # 北门 / 南门: the same place's other side
    "name_other",  # the addresses differ only by a short name: 阳光花园3栋 / 锦绣花园3栋
    "problem_sem",  # cosine of the problems' vectors (duplicate_vectors); 0 without them
    "place_x_sem",  # place_cover * problem_sem
)
WITH_VECTORS = frozenset({"problem_sem", "place_x_sem"})  # features that need the vectors


PLACE_COVER = FEATURES.index("place_cover")


def idf_mass(grams: frozenset[str], weight: Weight) -> float:
    """The summed weights of `grams`."""
    # fsum: exact, so the same whatever order a set's hash seed iterates it in
    return math.fsum(map(weight, grams))


def _dice(a: frozenset[str], b: frozenset[str], weight: Weight) -> float:
    total = idf_mass(a, weight) + idf_mass(b, weight)
    return 2 * idf_mass(a & b, weight) / total if total else 0.0


def _conflict(a: frozenset[str], b: frozenset[str]) -> float:
    return float(bool(a and b and not a & b))


def apart(new: Record, old: Record) -> bool:
    """Two places told apart by what both say: other districts, other buildings, house
    numbers or units (12栋 and 15栋 of one estate are two incidents). Not one repeat in
    the seven labelled sets (226 repeats) breaks this, so it is a rule, not a weight."""
    return bool(
        (new.district and old.district and new.district != old.district)
        or _conflict(new.buildings, old.buildings)
        or _conflict(new.houses, old.houses)
        or _conflict(new.units, old.units)
    )


def pair_vector(
    new: Record, old: Record, weight: Weight, new_mass: tuple[float, float] | None = None
) -> list[float]:
    """The features of FEATURES for one (request, open order) pair. `new_mass`: the
    IDF masses of `new.whole` and `new.place` under `weight`, when the caller scores
    several orders against one request (the same values, computed once)."""
    whole_new, place_new = new_mass or (idf_mass(new.whole, weight), idf_mass(new.place, weight))
    shared = sorted(map(weight, new.whole & old.whole), reverse=True)
    shared_mass = math.fsum(shared)  # exact: the same as idf_mass(new.whole & old.whole)
    whole_total = whole_new + idf_mass(old.whole, weight)
    place_old = idf_mass(old.place, weight)
    covers = (
        idf_mass(new.place & old.whole, weight) / place_new if place_new else 0.0,
        idf_mass(old.place & new.whole, weight) / place_old if place_old else 0.0,
    )
    problem_new = new.problem - old.place
    problem_old = old.problem - new.place
    problem = _dice(problem_new, problem_old, weight)
    plain = (
        2 * len(problem_new & problem_old) / (len(problem_new) + len(problem_old))
        if problem_new or problem_old
        else 0.0
    )
    both_kinds = bool(new.kinds and old.kinds)
    meaning = (
        float(new.meaning @ old.meaning)
        if new.meaning is not None and old.meaning is not None
        else 0.0
    )
    chars_new = new.problem_chars - old.place_chars
    chars_old = old.problem_chars - new.place_chars
    chars = (
        2 * len(chars_new & chars_old) / (len(chars_new) + len(chars_old))
        if chars_new or chars_old
        else 0.0
    )
    return [
        2 * shared_mass / whole_total if whole_total else 0.0,
        max(covers),
        min(covers),
        shared[0] if shared else 0.0,
        shared[1] if len(shared) > 1 else 0.0,
        problem,
        plain,
        float(both_kinds and bool(new.kinds & old.kinds)),
        float(both_kinds and not new.kinds & old.kinds),
        float(bool(new.buildings & old.buildings)),
        min(max(covers), problem),
        chars,
        max(covers) * chars,
        max(covers) * float(both_kinds and not new.kinds & old.kinds),
        min(_unmatched(new.place, old.whole, weight), _unmatched(old.place, new.whole, weight)),
        _conflict(new.sides, old.sides),
        _other_name(new.address, old.address),
        meaning,
        max(covers) * meaning,
    ]


_NAME = re.compile(r"[\u4e00-\u9fff]{2,4}")


def _other_name(a: str, b: str) -> float:
    """1 when the two addresses, their common start and end taken off, leave two short
    names without a character in common (薄荷 / 茴香 in 桔梗路与薄荷街 / 桔梗路与茴香街)."""
    if not a or not b:
        return 0.0
    start = _shared_start(a, b)
    end = _shared_start(a[start:][::-1], b[start:][::-1])
    rest_a, rest_b = a[start : len(a) - end], b[start : len(b) - end]
    named = _NAME.fullmatch(rest_a) and _NAME.fullmatch(rest_b)
    return float(bool(named and not set(rest_a) & set(rest_b)))


def _shared_start(a: str, b: str) -> int:
    """How many characters `a` and `b` start with in common."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def _unmatched(part: frozenset[str], whole: frozenset[str], weight: Weight) -> float:
    """The IDF of the rarest bigram of `part` that `whole` does not have."""
    return max(map(weight, part - whole), default=0.0)


RARE = 1000  # a bigram in one order of this many (or fewer) weighs 1: it names something
FLOOR = 1000  # an index holding fewer orders counts as holding this many


def weight_of(held_by: int, orders: int) -> float:
    """A bigram's IDF from 0 to 1: `held_by` of `orders` open orders contain it.

    Scaled by the share of orders, not their number, so that it reads alike at 1,000 and
    100,000 open orders; an unseen bigram weighs 1.
    """
    if held_by == 0:
        return 1.0
    share = (held_by + 1) / (max(orders, FLOOR) + 1)
    return min(1.0, math.log(1 / share) / math.log(RARE))


# ------------------------------------------------------------------ the model


@dataclass(frozen=True)
class PairModel:
    """Logistic regression over `pair_vector` (standardised features), and the
    probabilities from which a pair is suggested and certain, chosen with it on
    out-of-set scores (benchmarks/duplicates/bench_loso.py; config may override them)."""

    coefficients: tuple[float, ...]
    intercept: float
    means: tuple[float, ...]
    scales: tuple[float, ...]
    suggest: float = 0.5
    certain: float = 1.01

    def probability(self, vector: list[float]) -> float:
        z = self.intercept
        for x, c, m, s in zip(vector, self.coefficients, self.means, self.scales, strict=True):
            z += c * (x - m) / s
        return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))

    def as_json(self) -> dict:
        return {
            "features": list(FEATURES),
            "coefficients": list(self.coefficients),
            "intercept": self.intercept,
            "means": list(self.means),
            "scales": list(self.scales),
            "suggest": self.suggest,
            "certain": self.certain,
        }

    @classmethod
    def from_json(cls, data: dict) -> PairModel:
        if list(data["features"]) != list(FEATURES):
            raise ValueError("duplicate model: fitted on other features, fit it again")
        return cls(
            tuple(data["coefficients"]),
            float(data["intercept"]),
            tuple(data["means"]),
            tuple(data["scales"]),
            float(data.get("suggest", 0.5)),
            float(data.get("certain", 1.01)),
        )


def load_model(with_vectors: bool, path: Path = MODEL_FILE) -> PairModel:
    """The pair model fitted with the problem vectors, or the one fitted without them."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return PairModel.from_json(data["with_vectors" if with_vectors else "without_vectors"])
