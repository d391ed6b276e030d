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
import threading
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

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
    """Character bigrams inside each run of letters and digits (no punctuation)."""
    return frozenset(
        run[i : i + 2] for run in _SPLIT.split(text) if len(run) >= 2 for i in range(len(run) - 1)
    )


_GRAM_IDS: dict[str, int] = {}
_GRAM_LOCK = threading.Lock()  # records are also computed in the start-up build's threads


def gram_id(gram: str) -> int:
    """A bigram's number in this process, the same in every index. Records hold numbers,
    not strings: the pair features of all candidates are then array operations, and
    100,000 open orders take a fraction of the memory sets of strings took."""
    found = _GRAM_IDS.get(gram)
    if found is None:
        with _GRAM_LOCK:
            found = _GRAM_IDS.setdefault(gram, len(_GRAM_IDS))
    return found


def known_grams() -> int:
    """How many different bigrams have a number (an index sizes its counts by it)."""
    return len(_GRAM_IDS)


def _ids(grams: Iterable[str]) -> np.ndarray:
    return np.asarray(sorted(map(gram_id, grams)), dtype=np.int32)


def _codes(chars: Iterable[str]) -> np.ndarray:
    return np.asarray(sorted(map(ord, chars)), dtype=np.int32)


@dataclass(frozen=True, slots=True, eq=False)
class Record:
    """What the pair similarity needs of one order or request. Bigrams as sorted arrays
    of their `gram_id`s, characters as sorted arrays of their code points, two arrays in
    all (`grams`: whole, place, problem; `chars`: problem's, place's)."""

    grams: np.ndarray
    cuts: tuple[
        int, int, int
    ]  # where place and problem start in `grams`, problem's chars in `chars`
    chars: np.ndarray
    buildings: frozenset[str]
    units: frozenset[str]
    houses: frozenset[str]
    sides: frozenset[str]
    district: str | None
    kinds: frozenset[str]
    meaning: np.ndarray | None = None  # the problem's vector (duplicate_vectors), if known
    address: str = ""  # canonical, without the district

    @property
    def whole(self) -> np.ndarray:
        """Bigrams of address and content."""
        return self.grams[: self.cuts[0]]

    @property
    def place(self) -> np.ndarray:
        """Bigrams of the address field, else of the content."""
        return self.grams[self.cuts[0] : self.cuts[1]]

    @property
    def problem(self) -> np.ndarray:
        """Bigrams of the content without the address's, without digits."""
        return self.grams[self.cuts[1] :]

    @property
    def problem_chars(self) -> np.ndarray:
        """The content's characters without the address's and without everyday ones."""
        return self.chars[: self.cuts[2]]

    @property
    def place_chars(self) -> np.ndarray:
        """The address's characters."""
        return self.chars[self.cuts[2] :]


def record(
    content: str,
    address: str | None = None,
    district: str | None = None,
    vectors: ProblemVectors | None = None,
) -> Record:
    text, where = canonical(content), canonical(address)
    of_text, of_where = bigrams(text), bigrams(where)
    place = of_where if where else of_text
    problem = frozenset(g for g in of_text - of_where if not _has_digit(g))
    whole, place_ids, problem_ids = _ids(of_where | of_text), _ids(place), _ids(problem)
    problem_chars = _codes(set(text) - set(where) - _COMMON_CHARS)
    both = where + " " + text
    if not district and (found := _DISTRICT.match(where)):
        district = found.group(1)
    return Record(
        grams=np.concatenate([whole, place_ids, problem_ids]),
        cuts=(len(whole), len(whole) + len(place_ids), len(problem_chars)),
        chars=np.concatenate([problem_chars, _codes(set(where))]),
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

# The weights of bigrams (by id): their IDF over the open orders, scaled to 0..1
Weight = Callable[[np.ndarray], np.ndarray]

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


def idf_mass(grams: np.ndarray, weight: Weight) -> float:
    """The summed weights of `grams`."""
    return float(weight(grams).sum())


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


def pair_vector(new: Record, old: Record, weight: Weight) -> np.ndarray:
    """The features of FEATURES for one (request, open order) pair."""
    return pair_matrix(new, [old], weight)[0]


class _Parts:
    """One part (e.g. the place) of each of K records, end to end: `ids`, the record
    each belongs to (`of`), and `keys` that tell the same id of two records apart."""

    def __init__(self, parts: list[np.ndarray]) -> None:
        self.ids = np.concatenate(parts) if parts else np.zeros(0, np.int32)
        self.of = np.repeat(np.arange(len(parts)), [len(p) for p in parts])
        self.keys = (self.of.astype(np.int64) << 32) | self.ids
        self.k = len(parts)

    def per(self, values: np.ndarray) -> np.ndarray:
        """`values` (one per id) summed per record."""
        return np.bincount(self.of, values, minlength=self.k)

    def most(self, values: np.ndarray) -> np.ndarray:
        """The largest of `values` (>= 0) per record, 0 for none."""
        out = np.zeros(self.k)
        np.maximum.at(out, self.of, values)
        return out


def _tiled(ids: np.ndarray, k: int) -> _Parts:
    """The request's `ids` once for each of the k candidates."""
    return _Parts([ids] * k)


def _dice(shared: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    total = a + b
    return np.divide(2 * shared, total, out=np.zeros_like(total, dtype=float), where=total > 0)


def pair_matrix(new: Record, olds: list[Record], weight: Weight) -> np.ndarray:
    """The features of FEATURES for `new` against each of `olds` (one row each), computed
    over all of them at once."""
    k = len(olds)
    if not k:
        return np.zeros((0, len(FEATURES)))
    whole, place, problem = (
        _Parts([o.whole for o in olds]),
        _Parts([o.place for o in olds]),
        _Parts([o.problem for o in olds]),
    )
    w_whole, w_place, w_problem = weight(whole.ids), weight(place.ids), weight(problem.ids)
    w_new_place = weight(new.place)
    new_whole_mass, new_place_mass = float(weight(new.whole).sum()), float(w_new_place.sum())

    # all bigrams
    shared = w_whole * np.isin(whole.ids, new.whole)
    shared_mass = whole.per(shared)
    dice = _dice(shared_mass, np.full(k, new_whole_mass), whole.per(w_whole))
    by_weight = np.lexsort((-shared, whole.of))  # each record's shared weights, largest first
    starts = np.searchsorted(whole.of[by_weight], np.arange(k))
    ranked = np.append(shared[by_weight], [0.0, 0.0])
    sizes = np.bincount(whole.of, minlength=k)
    rarest = np.where(sizes > 0, ranked[starts], 0.0)
    second = np.where(sizes > 1, ranked[np.minimum(starts + 1, len(ranked) - 1)], 0.0)

    # places: how much of one side's place the other names anywhere
    place_old_mass = place.per(w_place)
    cover_new = whole.per(w_whole * np.isin(whole.ids, new.place))
    cover_new = cover_new / new_place_mass if new_place_mass else np.zeros(k)
    cover_old = place.per(w_place * np.isin(place.ids, new.whole))
    cover_old = np.divide(cover_old, place_old_mass, out=np.zeros(k), where=place_old_mass > 0)
    cover = np.maximum(cover_new, cover_old)

    # problems, each without the other's place
    mine = _tiled(new.problem, k)
    kept_new = ~np.isin(mine.keys, place.keys)  # new.problem - old.place
    w_mine = np.tile(weight(new.problem), k)
    kept_old = ~np.isin(problem.ids, new.place)  # old.problem - new.place
    both = kept_old & np.isin(problem.ids, new.problem) & ~np.isin(problem.keys, place.keys)
    problem_dice = _dice(
        problem.per(w_problem * both),
        mine.per(w_mine * kept_new),
        problem.per(w_problem * kept_old),
    )
    plain = _dice(problem.per(both), mine.per(kept_new), problem.per(kept_old))

    # characters of the problems, each without the other's address's
    chars_old, places_old = (
        _Parts([o.problem_chars for o in olds]),
        _Parts([o.place_chars for o in olds]),
    )
    chars_new = _tiled(new.problem_chars, k)
    left_new = ~np.isin(chars_new.keys, places_old.keys)
    left_old = ~np.isin(chars_old.ids, new.place_chars)
    common = (
        left_old
        & np.isin(chars_old.ids, new.problem_chars)
        & ~np.isin(chars_old.keys, places_old.keys)
    )
    chars = _dice(chars_old.per(common), chars_new.per(left_new), chars_old.per(left_old))

    # something rare that one side names and the other lacks
    new_places = _tiled(new.place, k)
    lacking_old = new_places.most(np.tile(w_new_place, k) * ~np.isin(new_places.keys, whole.keys))
    lacking_new = place.most(w_place * ~np.isin(place.ids, new.whole))

    kinds_same = np.asarray([bool(new.kinds and o.kinds and new.kinds & o.kinds) for o in olds])
    kinds_other = np.asarray(
        [bool(new.kinds and o.kinds and not new.kinds & o.kinds) for o in olds], dtype=float
    )
    meaning = np.asarray(
        [
            float(new.meaning @ o.meaning)
            if new.meaning is not None and o.meaning is not None
            else 0.0
            for o in olds
        ]
    )
    return np.column_stack(
        [
            dice,
            cover,
            np.minimum(cover_new, cover_old),
            rarest,
            second,
            problem_dice,
            plain,
            kinds_same,
            kinds_other,
            [float(bool(new.buildings & o.buildings)) for o in olds],
            np.minimum(cover, problem_dice),
            chars,
            cover * chars,
            cover * kinds_other,
            np.minimum(lacking_old, lacking_new),
            [_conflict(new.sides, o.sides) for o in olds],
            [_other_name(new.address, o.address) for o in olds],
            meaning,
            cover * meaning,
        ]
    ).astype(float)


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


def weights_of(held_by: np.ndarray, orders: int) -> np.ndarray:
    """`weight_of` for an array of counts."""
    share = (held_by + 1.0) / (max(orders, FLOOR) + 1)
    return np.where(held_by == 0, 1.0, np.minimum(1.0, -np.log(share) / math.log(RARE)))


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

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """`probability` of each row of a `pair_matrix`."""
        z = (rows - np.asarray(self.means)) / np.asarray(self.scales) @ np.asarray(
            self.coefficients
        ) + self.intercept
        return 1 / (1 + np.exp(-np.clip(z, -30, 30)))

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
