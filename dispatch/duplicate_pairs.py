"""A learned pair similarity for duplicates (并单) that needs no list of place suffixes.

A place is recognised by what is rare among the open orders, not by a list of estate
or road suffixes: an invented name (雁栖大道, 星桥) is a few character bigrams that hardly
any other open order contains, so their inverse document frequency (over the orders the
index holds) makes them weigh; 垃圾, 反映, 小区 are everywhere and weigh little. Numbers
are written one way first (五栋 = 5号楼 = 5栋 = 5幢, 12-1 = 12栋1单元), and two records
that name different districts, buildings, house numbers, units, floors, phases, flats,
vehicles, bus lines, zones or only other sides (北门 / 南门) are `apart`: never one
incident.

Per record (`Record`, computed once): the bigrams of the whole text (address and
content), of the place (the address field, else the content) and of the problem (the
content without the address's bigrams), as sorted arrays of bigram ids (`gram_id`), the
building / unit / house / floor / phase numbers, the sides, the district, the problem
kinds of the lexicon and, with `ProblemVectors`, the problem's LSA vector. Per pair
(`pair_matrix`, every candidate of a request at once with array operations): IDF-weighted
overlaps of these, the rarest shared bigrams and how many rare ones both hold, a
differing side or short name, the problems' cosine. A logistic regression
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
# 3-2-501: building, unit and flat, as 3栋2单元501室
_DASHED_FLAT = re.compile(r"(?<![\d.])(\d{1,3})[-—–_](\d{1,2})[-—–_](\d{3,4})(?![\d.])")
# 6F / 18f: a floor
_FLOOR_F = re.compile(r"(?<=\d)f(?![a-z])")
# an estate's generic word: 金桂花园小区 / 金桂园 / 香樟家园 name one estate (name + 园)
# (小区 after a name is dropped, 花园 / 家园 become 园)
_ESTATE_WORD = re.compile(r"(?<=[\u4e00-\u9fff]{2})小区")
_ESTATE = re.compile(r"(?<=[\u4e00-\u9fff])[花家]园")
_BUILDING = re.compile(r"(\d+|(?<![a-z])[a-z])(?:栋|座)|(?<![a-z])([a-z])区")
# a side of a place: 北门 and 南门, 东侧 and 西侧, 西段 and 北段 are other spots
_SIDE = re.compile(r"[东西南北](?:门|侧|段|头|口|边|面|岸(?!区)|区)")
# the direction of a side, as a rule: 北门 and 北侧 are one side, 北门 and 南门 two
_DIRECTION = re.compile(r"([东西南北])(?:门|侧|段|头|口|边|岸)(?![区县市])")
_FLOOR = re.compile(r"(?<![\d栋号])(\d+)(?:楼|层)(?!道|梯|房)")  # 9楼 / 8楼 of one building
_PHASE = re.compile(r"(\d+)期")  # 一期 / 二期 of one estate
_UNIT = re.compile(r"(\d+)单元")
# flats of one building (2栋1202 / 2栋1502), vehicles (尾号205 / 尾号739), bus lines
# (312路公交 / n8路末班车) and zones of an estate (北区 / 南区): other incidents
_ROOM = re.compile(r"(?:栋|单元)(\d{3,4})(?![\d号栋楼层米])|(\d{3,4})(?:室|户)")
_PLATE = re.compile(r"尾号(?:是|为)?([0-9a-z]{3,6})")
_LINE = re.compile(r"(?<![0-9a-z])([0-9a-z]{1,4})路(?=公交|车|末班|夜班|首班|汽车)")
_ZONE = re.compile(r"(?<=[\u4e00-\u9fff]{2})([东西南北中])区")
_HOUSE = re.compile(r"(\d+)号(?!线)")
# a crossing of two roads (光明路与建设街交叉口, 榕溪路金桐街路口, 杏坛路/芦花街路口), each road
# by the two characters before its suffix: the next crossing of one road is another spot
_ROAD = r"([\u4e00-\u9fff]{2})(?:大道|大街|路|街)"
_CROSSING = re.compile(
    _ROAD + r"(?:与|和|跟|同|/|、)??" + _ROAD + r"(?=交叉|交口|路口|口|交汇|十字)"
)
_NO_ROAD = frozenset({"十字", "交叉", "路口"})  # 栎川街十字路口 names one road
# a shop, branch or factory the address names (智果编程翠屏店 / 柳岸店, 涂料厂 / 塑料厂 of one
# industrial park, 便利店 / 面包店 of one street), by the two characters before 店 / 厂
_SHOP = re.compile(r"([\u4e00-\u9fff]{2})(?:分店|店|厂)(?![长主员])")
_NO_SHOP = frozenset({"那家", "这家", "一家", "家的", "个小", "那个", "这个", "一个", "家小"})
_CITY = re.compile(r"^[\u4e00-\u9fff]{2,4}市")
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
    text = _DASHED_FLAT.sub(r"\1栋\2单元\3室", text)
    text = _DASHED.sub(r"\1栋\2单元", text)
    text = _FLOOR_F.sub("楼", text)
    text = _ESTATE.sub("园", _ESTATE_WORD.sub("", text))
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
    directions: frozenset[str]
    floors: frozenset[str]
    phases: frozenset[str]
    others: frozenset[str]  # flats, plates, bus lines, zones, each tagged (see `_others`)
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
    if not district and (found := _DISTRICT.match(where)):
        district = found.group(1)
    # the city and district are compared as such (`apart`), not as words of the place:
    # one caller names them and the other does not
    core = _CITY.sub("", _DISTRICT.sub("", where))
    of_text, of_where = bigrams(text), bigrams(where)
    place = of_where if where else of_text
    problem = frozenset(g for g in of_text - of_where if not _has_digit(g))
    whole, place_ids, problem_ids = _ids(of_where | of_text), _ids(place), _ids(problem)
    problem_chars = _codes(set(text) - set(where) - _COMMON_CHARS)
    both = where + " " + text
    return Record(
        grams=np.concatenate([whole, place_ids, problem_ids]),
        cuts=(len(whole), len(whole) + len(place_ids), len(problem_chars)),
        chars=np.concatenate([problem_chars, _codes(set(where))]),
        buildings=frozenset(a or b for a, b in _BUILDING.findall(both)),
        units=frozenset(_UNIT.findall(both)),
        houses=frozenset(_HOUSE.findall(both)),
        sides=frozenset(_SIDE.findall(both)),
        directions=frozenset(_DIRECTION.findall(both)),
        floors=frozenset(_FLOOR.findall(both)),
        phases=frozenset(_PHASE.findall(both)),
        others=_others(both, core),
        district=(district or "")[:2] or None,
        kinds=kinds_of(text),
        meaning=vectors.vector(problem) if vectors is not None else None,
        address=core,
    )


def _others(both: str, address: str) -> frozenset[str]:
    """Flats, vehicle plates, bus lines and crossings the texts name, zones (北区) and
    shops the address names after its district, each tagged by its kind (r, p, l, x,
    z, s) so that only one kind is compared with the same kind."""
    found = {"r" + (a or b) for a, b in _ROOM.findall(both)}
    found.update("p" + plate for plate in _PLATE.findall(both))
    found.update("l" + line for line in _LINE.findall(both))
    found.update("z" + zone for zone in _ZONE.findall(address))
    found.update("s" + shop for shop in _SHOP.findall(address) if shop not in _NO_SHOP)
    found.update(
        "x" + "".join(sorted(pair))
        for pair in _CROSSING.findall(both)
        if pair[0] != pair[1] and not _NO_ROAD & set(pair)
    )
    return frozenset(found)


def _other_kinds(a: frozenset[str], b: frozenset[str]) -> bool:
    """Both name a flat (or plate, line, zone) and none of that kind is shared."""
    if not a or not b:
        return False
    for kind in {x[0] for x in a} & {x[0] for x in b}:
        if not {x for x in a if x[0] == kind} & {x for x in b if x[0] == kind}:
            return True
    return False


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
    "rare_shared",  # how many rare bigrams (weight >= RARE_SHARED) both hold, of 5
    "place_x_kinds_same",  # place_cover * kinds_same: same place, same kind of problem
)
WITH_VECTORS = frozenset({"problem_sem", "place_x_sem"})  # features that need the vectors
RARE_SHARED = 0.7  # a bigram this rare names something (a name, a shop): counted shared
RARE_COUNT = 5.0


PLACE_COVER = FEATURES.index("place_cover")
NAME_OTHER = FEATURES.index("name_other")


def _conflict(a: frozenset[str], b: frozenset[str]) -> float:
    return float(bool(a and b and not a & b))


def apart(new: Record, old: Record) -> bool:
    """Two places told apart by what both say: other districts, other buildings, house
    numbers, units, floors or phases (12栋 and 15栋 of one estate, 8楼 and 9楼 of one
    tower are two incidents), only other sides (北门 / 南门, 东段 / 西头), other flats,
    vehicles, bus lines or zones of an estate (`_others`). Not one repeat in the nine
    labelled sets (341 repeats) breaks this, so it is a rule, not a weight."""
    return bool(
        (new.district and old.district and new.district != old.district)
        or _conflict(new.buildings, old.buildings)
        or _conflict(new.houses, old.houses)
        or _conflict(new.units, old.units)
        or _conflict(new.floors, old.floors)
        or _conflict(new.phases, old.phases)
        or _conflict(new.directions, old.directions)
        or _other_kinds(new.others, old.others)
    )


def pair_vector(new: Record, old: Record, weight: Weight) -> np.ndarray:
    """The features of FEATURES for one (request, open order) pair."""
    return pair_matrix(new, [old], weight)[0]


PART = 32  # keys: (record * parts + part) << 32 | id


class _Joined:
    """The arrays of K records end to end (`Record.grams` or `Record.chars`), each id
    with its record (`of`), its part (`part`) and a key that is ascending over all of
    them (the parts' arrays are sorted), so that membership in one record's part is a
    binary search."""

    def __init__(self, arrays: list[np.ndarray], cuts: list[tuple[int, ...]]) -> None:
        self.k = len(arrays)
        self.parts = len(cuts[0]) + 1
        self.ids = np.concatenate(arrays)
        lengths = [len(a) for a in arrays]
        bounds = np.asarray([(0, *c, n) for c, n in zip(cuts, lengths, strict=True)])
        self.bin = np.repeat(np.arange(self.k * self.parts), np.diff(bounds).ravel())
        self.of, self.part = np.divmod(self.bin, self.parts)
        self.keys = (self.bin << PART) | self.ids  # record * parts + part, as bits above

    def sums(self, values: np.ndarray) -> np.ndarray:
        """`values` summed per record (rows) and part (columns)."""
        return np.bincount(self.bin, values, minlength=self.k * self.parts).reshape(
            self.k, self.parts
        )

    def most(self, values: np.ndarray) -> np.ndarray:
        """The largest of `values` (>= 0) per record and part, 0 for none."""
        out = np.zeros(self.k * self.parts)
        np.maximum.at(out, self.bin, values)
        return out.reshape(self.k, self.parts)

    def key(self, of: np.ndarray, part: int, ids: np.ndarray) -> np.ndarray:
        """The keys of `ids` in record `of[i]`'s `part`, for `holds`."""
        return ((of * self.parts + part) << PART) | ids

    def holds(self, keys: np.ndarray) -> np.ndarray:
        """Whether each of `keys` is held."""
        if not len(self.keys):
            return np.zeros(len(keys), bool)
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return self.keys[at] == keys


IN_WHOLE, IN_PLACE, IN_PROBLEM = 1, 2, 4  # the bits of `_marks` for a request's bigrams


def _marks(ids: np.ndarray, *sets: np.ndarray) -> np.ndarray:
    """For each of `ids`, a bit per set of `sets` (sorted ids) it is in."""
    top = max((int(s[-1]) for s in sets if len(s)), default=0) + 1
    table = getattr(_SCRATCH, "table", None)
    if table is None or len(table) <= top:  # table[top] stays 0: every larger id lands there
        table = _SCRATCH.table = np.zeros(max(2 * top, 1 << 16), np.uint8)
    for bit, members in enumerate(sets):
        table[members] |= 1 << bit
    found = table[np.minimum(ids, top)]
    for members in sets:
        table[members] = 0
    return found


# a lookup table per thread, zero between calls: a fresh one as large as the bigram ids
# (100,000s) costs more than the rest of the features
_SCRATCH = threading.local()


def _dice(shared: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    total = a + b
    return 2 * shared / np.where(total > 0, total, 1.0)


def _tiled(ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """`ids` once for each of k records, and the record of each."""
    return np.tile(ids, k), np.repeat(np.arange(k), len(ids))


# Below this many ids (bigrams and characters of the request and its candidates) the
# features are computed in plain Python, one candidate at a time (`_plain_rows`):
# numpy's cost per call (~70 array operations, ~0.25 ms) is a floor that Python's cost
# per id only passes at about this many (measured on TipDM and labelled texts, 1 to 10
# candidates: plain 76 us vs 250 us below 500 ids, even at 2,000-3,000, slower above).
PLAIN_BELOW = 2000


def pair_matrix(new: Record, olds: list[Record], weight: Weight) -> np.ndarray:
    """The features of FEATURES for `new` against each of `olds` (one row each): for a
    few, one candidate at a time in plain Python, else over all of them at once with
    array operations (the same figures either way)."""
    k = len(olds)
    if not k:
        return np.zeros((0, len(FEATURES)))
    size = len(new.grams) + len(new.chars)
    for o in olds:
        size += len(o.grams) + len(o.chars)
    if size < PLAIN_BELOW:
        return _plain_rows(new, olds, weight)
    return _array_rows(new, olds, weight)


def _array_rows(new: Record, olds: list[Record], weight: Weight) -> np.ndarray:
    """`pair_matrix` over all of `olds` at once."""
    k = len(olds)
    out = np.zeros((k, len(FEATURES)))
    grams = _Joined([o.grams for o in olds], [o.cuts[:2] for o in olds])
    weights = weight(np.concatenate([new.grams, grams.ids]))  # one call for all
    w_new, w = weights[: len(new.grams)], weights[len(new.grams) :]
    c0, c1 = new.cuts[0], new.cuts[1]
    new_whole_mass, new_place_mass = float(w_new[:c0].sum()), float(w_new[c0:c1].sum())
    marks = _marks(grams.ids, new.whole, new.place, new.problem)
    in_whole, in_place = (marks & IN_WHOLE) > 0, (marks & IN_PLACE) > 0
    # the request's problem and place against each record's place and whole
    mine, mine_of = _tiled(new.problem, k)
    places, places_of = _tiled(new.place, k)
    held = grams.holds(
        np.concatenate(
            [
                grams.key(mine_of, 1, mine),
                grams.key(grams.of, 1, grams.ids),
                grams.key(places_of, 0, places),
            ]
        )
    )
    in_their_place, in_own_place, in_their_whole = np.split(
        held, np.cumsum([len(mine), len(grams.ids)])
    )
    mass, mass_shared = grams.sums(w), grams.sums(w * in_whole)

    # all bigrams: Dice, the rarest two shared
    out[:, 0] = _dice(mass_shared[:, 0], new_whole_mass, mass[:, 0])
    shared = w * (in_whole & (grams.part == 0))
    ranked = np.append(shared[np.argsort(grams.of * 2 - shared, kind="stable")], [0.0, 0.0])
    lengths = np.asarray([(o.cuts[0], len(o.grams)) for o in olds])
    starts = np.cumsum(lengths[:, 1]) - lengths[:, 1]
    out[:, 3] = np.where(lengths[:, 0] > 0, ranked[starts], 0.0)
    out[:, 4] = np.where(lengths[:, 0] > 1, ranked[starts + 1], 0.0)
    out[:, 19] = np.minimum(grams.sums(shared >= RARE_SHARED)[:, 0], RARE_COUNT) / RARE_COUNT

    # places: how much of one side's place the other names anywhere
    cover_new = grams.sums(w * in_place)[:, 0] / (new_place_mass or 1.0)
    cover_old = mass_shared[:, 1] / np.where(mass[:, 1] > 0, mass[:, 1], 1.0)
    cover = out[:, 1] = np.maximum(cover_new, cover_old)
    out[:, 2] = np.minimum(cover_new, cover_old)

    # problems, each without the other's place
    kept_new = ~in_their_place  # new.problem - old.place
    kept_old = ~in_place  # old.problem - new.place
    both = kept_old & ((marks & IN_PROBLEM) > 0) & ~in_own_place
    new_mass = np.bincount(mine_of, np.tile(w_new[c1:], k) * kept_new, minlength=k)
    problem = out[:, 5] = _dice(
        grams.sums(w * both)[:, 2], new_mass, grams.sums(w * kept_old)[:, 2]
    )
    out[:, 6] = _dice(
        grams.sums(both)[:, 2],
        np.bincount(mine_of, kept_new, minlength=k),
        grams.sums(kept_old)[:, 2],
    )
    out[:, 10] = np.minimum(cover, problem)

    # characters of the problems, each without the other's address's
    chars = _Joined([o.chars for o in olds], [o.cuts[2:] for o in olds])
    char_marks = _marks(chars.ids, new.problem_chars, new.place_chars)
    theirs, theirs_of = _tiled(new.problem_chars, k)
    held = chars.holds(
        np.concatenate([chars.key(theirs_of, 1, theirs), chars.key(chars.of, 1, chars.ids)])
    )
    in_their_address, in_own_address = held[: len(theirs)], held[len(theirs) :]
    left_new = np.bincount(theirs_of, ~in_their_address, minlength=k)
    left_old = (char_marks & 2) == 0
    common = left_old & ((char_marks & 1) > 0) & ~in_own_address
    char_dice = out[:, 11] = _dice(chars.sums(common)[:, 0], left_new, chars.sums(left_old)[:, 0])
    out[:, 12] = cover * char_dice

    # something rare that one side names and the other lacks
    lacking_old = np.zeros(k)
    np.maximum.at(lacking_old, places_of, np.tile(w_new[c0:c1], k) * ~in_their_whole)
    out[:, 14] = np.minimum(lacking_old, grams.most(w * ~in_whole)[:, 1])

    _named(new, olds, out)
    return out


def _named(new: Record, olds: list[Record], out: np.ndarray) -> None:
    """The columns both ways share: what the lexicon, the numbers and the vectors say,
    and their products with the place cover (column 1, filled before)."""
    for i, o in enumerate(olds):
        if new.kinds and o.kinds:
            out[i, 7 if new.kinds & o.kinds else 8] = 1.0
        if new.buildings and o.buildings:
            out[i, 9] = float(bool(new.buildings & o.buildings))
        if new.sides and o.sides:
            out[i, 15] = _conflict(new.sides, o.sides)
        if new.address and o.address:
            out[i, 16] = _other_name(new.address, o.address)
    meant = [i for i, o in enumerate(olds) if o.meaning is not None]
    if new.meaning is not None and meant:
        out[meant, 17] = np.stack([olds[i].meaning for i in meant]) @ new.meaning
    out[:, 13] = out[:, 1] * out[:, 8]
    out[:, 20] = out[:, 1] * out[:, 7]
    out[:, 18] = out[:, 1] * out[:, 17]


def _share(shared: float, a: float, b: float) -> float:
    total = a + b
    return 2 * shared / (total if total > 0 else 1.0)


def _plain_rows(new: Record, olds: list[Record], weight: Weight) -> np.ndarray:
    """`pair_matrix`, one candidate at a time on Python sets and lists: the same
    features as `_array_rows` (sums in the same order), cheaper for a few candidates."""
    weights = weight(np.concatenate([new.grams, *(o.grams for o in olds)])).tolist()
    c0, c1 = new.cuts[0], new.cuts[1]
    n_ids = new.grams.tolist()
    w_new = weights[: len(n_ids)]
    new_whole, new_place, new_problem = set(n_ids[:c0]), set(n_ids[c0:c1]), n_ids[c1:]
    new_problem_set = set(new_problem)
    new_problem_w = w_new[c1:]
    new_place_w = list(zip(n_ids[c0:c1], w_new[c0:c1], strict=True))
    new_whole_mass = float(new.whole.size and np.asarray(w_new[:c0]).sum())
    new_place_mass = float(c1 > c0 and np.asarray(w_new[c0:c1]).sum()) or 1.0
    new_chars = new.problem_chars.tolist()
    new_char_set, new_place_chars = set(new_chars), set(new.place_chars.tolist())
    out = np.zeros((len(olds), len(FEATURES)))
    start = len(n_ids)
    for i, o in enumerate(olds):
        ids = o.grams.tolist()
        w = weights[start : start + len(ids)]
        start += len(ids)
        a, b = o.cuts[0], o.cuts[1]
        own_place = set(ids[a:b])
        # all bigrams
        mass = shared_mass = 0.0
        shared = []
        for g, x in zip(ids[:a], w[:a], strict=True):
            mass += x
            if g in new_whole:
                shared_mass += x
                shared.append(x)
            else:
                shared.append(0.0)
        row = out[i]
        row[0] = _share(shared_mass, new_whole_mass, mass)
        shared.sort(reverse=True)
        row[3] = shared[0] if a > 0 else 0.0
        row[4] = shared[1] if a > 1 else 0.0
        rare = 0
        for x in shared:
            if x < RARE_SHARED:
                break
            rare += 1
        row[19] = min(rare, RARE_COUNT) / RARE_COUNT
        # places
        in_place = 0.0
        for g, x in zip(ids[:a], w[:a], strict=True):
            if g in new_place:
                in_place += x
        place_mass = place_shared = 0.0
        lacking_new = 0.0  # the rarest of its place the request lacks
        for g, x in zip(ids[a:b], w[a:b], strict=True):
            place_mass += x
            if g in new_whole:
                place_shared += x
            elif x > lacking_new:
                lacking_new = x
        cover_new = in_place / new_place_mass
        cover_old = place_shared / (place_mass if place_mass > 0 else 1.0)
        cover = row[1] = max(cover_new, cover_old)
        row[2] = min(cover_new, cover_old)
        # problems, each without the other's place
        new_mass, new_count = 0.0, 0
        for g, x in zip(new_problem, new_problem_w, strict=True):
            if g not in own_place:
                new_mass += x
                new_count += 1
        both_mass = old_mass = 0.0
        both_count = old_count = 0
        for g, x in zip(ids[b:], w[b:], strict=True):
            if g not in new_place:
                old_mass += x
                old_count += 1
                if g in new_problem_set and g not in own_place:
                    both_mass += x
                    both_count += 1
        problem = row[5] = _share(both_mass, new_mass, old_mass)
        row[6] = _share(both_count, new_count, old_count)
        row[10] = min(cover, problem)
        # characters of the problems, each without the other's address's
        chars = o.chars.tolist()
        cut = o.cuts[2]
        own_address = set(chars[cut:])
        left_new = sum(1 for c in new_chars if c not in own_address)
        left_old = common = 0
        for c in chars[:cut]:
            if c not in new_place_chars:
                left_old += 1
                if c in new_char_set and c not in own_address:
                    common += 1
        char_dice = row[11] = _share(common, left_new, left_old)
        row[12] = cover * char_dice
        # something rare that one side names and the other lacks
        old_whole = set(ids[:a])
        lacking_old = max((x for g, x in new_place_w if g not in old_whole), default=0.0)
        row[14] = min(lacking_old, lacking_new)
    _named(new, olds, out)
    return out


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
    """`weight_of` for an array of counts (an unseen bigram's share is below 1/RARE:
    it weighs 1 too)."""
    top = math.log(max(orders, FLOOR) + 1)
    return np.minimum(1.0, (top - np.log1p(held_by)) / math.log(RARE))


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
