"""Possible duplicates (重复件): is a new request the same incident as an open order?

One incident told twice shares a place and a kind of problem, seldom the words. Each
text is reduced once to `Features` (pure functions, no I/O besides the word lists in
`data/`):

- the place: estates (阳光花园 = 阳光花园小区), roads (文化路, 新华大街 = 新华街), building
  and house numbers (三号楼 = 3号楼 = 3栋 = 3幢), whether it is a crossing (交叉口 = 路口 =
  与/和 between two roads), the district;
- the topic: problem kinds from a small lexicon (`data/problem_kinds.txt`: 垃圾, 噪音, 路灯
  ...) and jieba words of the content with the place taken out.

`compare` scores a pair: same place and other problem, or same problem and other place,
is no match at all. `Thresholds` (configuration) says which scores are shown to the
agent (`suggest`) and which are certain enough to merge without asking (`certain`,
国办函〔2025〕66号).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

import jieba

from knowledge_base.text import normalize as normalize_words

jieba.setLogLevel(logging.WARNING)
DATA_DIR = Path(__file__).with_name("data")
KINDS_FILE = DATA_DIR / "problem_kinds.txt"
STOPWORDS_FILE = DATA_DIR / "topic_stopwords.txt"

# How well two places agree, from "names the same spot" down to "merely the same road".
# These define the levels `compare` reports; the thresholds that act on them are config.
PLACE_EXACT = 1.0  # same estate (and building, when both say), same crossing, same house
PLACE_ROAD = 0.7  # same road, one side is less precise
PLACE_OTHER_BUILDING = 0.4  # same estate or road, different building or house numbers
PLACE_NEAR = 0.3  # different estates on the same road
PLACE_HEAD = 0.7  # only the addresses' leading names agree (no estate or road known)
HEAD = 3  # characters of an address's leading name that must agree
UNKNOWN_KIND = 0.3  # one side names no known kind of problem: neither match nor conflict


@dataclass(frozen=True)
class Thresholds:
    """From `[classifiers]`: the levels at which a pair is suggested or certain."""

    suggest: float
    certain: float
    place_weight: float  # similarity = place_weight * place + (1 - place_weight) * topic
    kind_weight: float  # topic = kind_weight * kinds + (1 - kind_weight) * words


@dataclass(frozen=True)
class Place:
    estates: frozenset[str]  # name stems: 阳光 for 阳光花园 / 阳光花园小区 / 阳光小区
    roads: frozenset[str]  # 文化路, 新华街
    numbers: frozenset[str]  # building and house numbers
    crossing: bool
    district: str | None
    # the name an address field starts with (its first HEAD characters, administrative
    # levels taken off): 文化宫 for 文化宫后面居民楼, 水岸名 for 水岸名都3期车库入口 —
    # a landmark or estate without a known suffix still meets the same name
    head: str | None = None

    @property
    def keys(self) -> frozenset[str]:
        """What an index files this place under (a place with no key is never matched)."""
        # an estate by the last two characters of its stem, so 家阳光 meets 阳光
        # a road by the last two characters of its name, so 投诉码头街 (a word of the
        # sentence stuck to it) meets 码头街
        # and by its first two, so 光明 meets 光明农贸 (光明菜市场 = 光明农贸市场)
        estates = {"e:" + e[-2:] for e in self.estates} | {"e:" + e[:2] for e in self.estates}
        heads = {"h:" + self.head} if self.head else set()
        return frozenset(estates | heads | {"r:" + _road_key(r) for r in self.roads})


@dataclass(frozen=True)
class Features:
    place: Place
    kinds: frozenset[str]
    words: frozenset[str]
    bigrams: frozenset[str]


@dataclass(frozen=True)
class Match:
    similarity: float
    place: float
    same_place: bool
    certain: bool


# ------------------------------------------------------------------ word lists


def _read_lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@lru_cache(maxsize=1)
def _kinds() -> dict[str, frozenset[str]]:
    """word -> the kinds it names (杂物 is litter and a blocked fire escape)."""
    kinds_of: dict[str, set[str]] = {}
    for line in _read_lines(KINDS_FILE):
        kind, *words = line.split()
        for word in words:
            kinds_of.setdefault(word, set()).add(kind)
    return {word: frozenset(kinds) for word, kinds in kinds_of.items()}


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    return frozenset(word for line in _read_lines(STOPWORDS_FILE) for word in line.split())


# ------------------------------------------------------------------ place


_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_NUMBER = re.compile(r"[零〇一二两三四五六七八九十百]+(?=号|栋|幢|座|单元|楼|层|期|室|弄)")
_BUILDING = re.compile(r"(\d+|(?<![a-z])[a-z])(?:号楼|号院|栋楼|栋|幢|座|号(?!线|院|楼))")
# a name right before a building number is an estate's, suffix or not (幸福里12幢)
_NAMED_BUILDING = re.compile(r"([\u4e00-\u9fff]{2,6})(?=(?:\d+|[a-z])(?:号楼|栋|幢|座))")
_IGNORED_NUMBER = re.compile(r"\d+(?:单元|层|楼|室|户|期)")
# Administrative levels in front of the place (东湖区湖滨街道...); the district is compared
# on its own. A district name is short: 阳光花园东区 is a part of an estate, not a district.
_ADMIN = re.compile(
    r"[\u4e00-\u9fff]{1,6}?(?:省|(?<![超城])市(?!场)|县|街道办事处|街道|镇|乡(?!村))"
    r"|[\u4e00-\u9fff]{1,3}?(?<![小社园景校厂矿])区"
)
_CROSSING = re.compile(r"交叉口|交叉路口|十字路口|丁字路口|交汇处|交界处|路口|街口")
# Words that end a place name: whatever comes before them is not part of the next name
# (single characters only when they hardly occur in names: 都 and 有 do, as in 富都家园).
_BREAK = re.compile(
    r"[^\u4e00-\u9fff0-9]+|我们|你们|他们|咱们|你好|马路|道路|公路|走路|在|的|我|了|是|住|从|到|对|向|与|及|跟|这|那|个|被"
    r"|附近|靠近|临近|接近|门口|门前|旁边|对面|楼下|楼上|一带|路边|边上|里面|东侧|西侧|南侧|北侧|交叉口|路口"
    r"|投诉|反映|举报|来电|市民|咨询|希望|要求|请求|报修"
)
_NAME = r"[\u4e00-\u9fff]{2,6}?"
_ESTATE = re.compile(
    _NAME + r"(?P<suffix>小区|花园|家园|新村|新城|公寓|大厦|广场|社区|宿舍|苑|庭|府|湾|园|城|村|院"
    r"|郡|邸|阁|墅|轩|庄|坊|公馆|华庭|首府|小镇"
    r"|医院|小学|中学|学校|幼儿园|公园|菜市场|菜场|市场|商场|超市|车站|地铁站)(?![管民林区长委])"
)
# not a verb before 路/街 (走路, 过马路, 上街) nor a word after it (路灯, 街道)
_ROAD = re.compile(
    _NAME + r"(?<![走过上下马铁公网线出进让修拦挡堵封带问来去逛沿临满当段条])"
    r"(?P<suffix>大道|大街|胡同|路|街|巷|弄)(?![灯面边段牌况旁人线费子过程道])"
)
_CONNECTOR = "和与及跟同"


_ROAD_SUFFIX = re.compile(r"(?:大道|街|胡同|路|巷|弄)$")


def _road_key(road: str) -> str:
    suffix = _ROAD_SUFFIX.search(road)
    start = suffix.start() if suffix else len(road)
    return road[max(0, start - 2) :]


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


def normalize_place(text: str | None) -> str:
    """NFKC, no spaces, Chinese numbers before 号/栋/楼... as digits (三号楼 → 3号楼)."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = re.sub(r"\s+", "", text)
    return _CN_NUMBER.sub(_arabic, text)


def _estate_stem(name: str, suffix: str) -> str:
    # the stem alone: 阳光 for 阳光花园, 阳光小区 and 阳光花园小区 alike
    return name[: -len(suffix)]


def _as_estate(match: re.Match[str]) -> str:
    name = match.group(1)
    if _ESTATE.search(name) or re.search(r"[栋幢楼座号和与及跟路街道巷弄]", name):
        return name
    return name + "小区 "


def _head(text: str) -> str | None:
    """The first HEAD characters of the address's first name, after administrative levels."""
    for chunk in _BREAK.split(re.sub(r"[\da-z]+", " ", text)):
        while admin := _ADMIN.match(chunk):
            chunk = chunk[admin.end() :]
        if len(chunk) >= HEAD:
            return chunk[:HEAD]
        if chunk:
            return None
    return None


def parse_place(text: str | None, district: str | None = None) -> Place:
    """The place a free text names (an address, or the content when there is none)."""
    text = normalize_place(text)
    head = _head(text)
    text = _NAMED_BUILDING.sub(_as_estate, text)
    crossing = bool(_CROSSING.search(text))
    numbers = frozenset(_BUILDING.findall(_IGNORED_NUMBER.sub(" ", text)))
    # 梧桐路口 is the crossing at 梧桐路 (十字路口, 那个路口 are not roads)
    text = re.sub(r"(?<=[\u4e00-\u9fff]{2})(?<![字丁这那个的在])路口", "路 路口", text)
    text = re.sub(r"\d+", " ", text)
    estates: set[str] = set()
    roads: set[str] = set()
    for chunk in _BREAK.split(text):
        while admin := _ADMIN.match(chunk):
            chunk = chunk[admin.end() :]
        if len(chunk) < 3:
            continue
        pieces, start = [], 0
        for match in _ROAD.finditer(chunk):
            road = match.group(0).replace("大街", "街")
            if road[0] in _CONNECTOR and len(road) > 3 and match.start() > 0:
                road = road[1:]
            roads.add(road)
            pieces.append(chunk[start : match.start()])
            start = match.end()
        pieces.append(chunk[start:])
        for piece in pieces:  # an estate's name never runs across a road's
            for match in _ESTATE.finditer(piece):
                estates.add(_estate_stem(match.group(0), match.group("suffix")))
    # a road named inside an estate's stem (文化路小区) is the estate's name, not a road
    roads = {r for r in roads if not any(r in e for e in estates)}
    if len(roads) >= 2:
        crossing = crossing or bool(re.search(r"路[与和及]|街[与和及]", text))
    return Place(frozenset(estates), frozenset(roads), numbers, crossing, district or None, head)


def _same_estate(a: frozenset[str], b: frozenset[str]) -> bool:
    # containment: a name may carry a word of the sentence before it (家阳光 for 阳光)
    return any(x in y or y in x for x in a for y in b)


def place_score(a: Place, b: Place) -> float:
    """How surely two places are the same spot (0: not the same, or unknown)."""
    if a.district and b.district and a.district != b.district:
        return 0.0
    numbers_conflict = bool(a.numbers and b.numbers and not a.numbers & b.numbers)
    if a.estates and b.estates and _same_estate(a.estates, b.estates):
        return PLACE_OTHER_BUILDING if numbers_conflict else PLACE_EXACT
    # by key, so that 光谷街 and 近光谷街 (a word stuck to it) count as one road
    roads = {_road_key(x) for x in a.roads for y in b.roads if x.endswith(y) or y.endswith(x)}
    if not roads:
        # neither estate nor road in common: the same leading name, when nothing else
        # tells the two apart (no estates or roads that differ, no other building)
        known = (a.estates and b.estates) or (a.roads and b.roads)
        same_head = a.head is not None and a.head == b.head
        return PLACE_HEAD if same_head and not known and not numbers_conflict else 0.0
    if a.estates and b.estates:  # other estates on the same road
        return PLACE_NEAR
    if numbers_conflict:
        return PLACE_OTHER_BUILDING
    if a.crossing and b.crossing and len(a.roads) >= 2 and len(b.roads) >= 2:
        # two crossings: the same one, or two along one road (no place in common)
        return PLACE_EXACT if len(roads) >= 2 else 0.0
    if a.numbers & b.numbers:
        return PLACE_EXACT
    if a.crossing != b.crossing and len(a.roads | b.roads) > len(roads):
        return PLACE_NEAR  # a crossing of two roads vs somewhere along one of them
    return PLACE_ROAD


# ------------------------------------------------------------------ topic


def kinds_of(text: str) -> frozenset[str]:
    """The problems a text names; qualifiers (~odor: a smell) only when nothing else is."""
    # every word, overlaps too: 自来水管爆裂 is about the supply and a burst pipe
    kinds = frozenset(k for word, named in _kinds().items() if word in text for k in named)
    problems = frozenset(k for k in kinds if not k.startswith("~"))
    return problems or kinds


def _topic_text(content: str, place: Place) -> str:
    text = normalize_place(content)
    for name in sorted(place.estates | place.roads, key=len, reverse=True):
        text = text.replace(name, " ")
    return normalize_words(text)


@lru_cache(maxsize=4096)
def features(content: str, address: str | None = None, district: str | None = None) -> Features:
    """Everything `compare` needs about one request; computed once per order.

    Cached: a registration files the order and then asks for its duplicates.
    """
    place = parse_place(address, district)
    from_content = parse_place(content, district)
    if address and (from_content.estates or from_content.roads):
        # the content often names the place more precisely than the address field
        place = Place(
            place.estates | from_content.estates,
            place.roads | from_content.roads,
            place.numbers | from_content.numbers,
            place.crossing or from_content.crossing,
            place.district,
            place.head,
        )
    elif not address:
        place = replace(from_content, head=None)  # a sentence's first words are no name
    topic = _topic_text(content, place)
    stop = _stopwords()
    words = frozenset(w for w in word_tokens(topic) if len(w) >= 2 and w not in stop)
    chars = [c for c in topic if not c.isspace()]
    bigrams = frozenset(a + b for a, b in pairwise(chars))
    return Features(place, kinds_of(normalize_place(content)), words, bigrams)


@lru_cache(maxsize=1)
def _tokenizer() -> jieba.Tokenizer:
    """A private jieba tokenizer, so our settings never leak into other packages."""
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def word_tokens(normalized: str) -> list[str]:
    """jieba words of each run (precise mode, no HMM: stable and about twice as fast)."""
    tokenizer = _tokenizer()
    return [word for run in normalized.split() for word in tokenizer.lcut(run, HMM=False)]


def _dice(a: frozenset[str], b: frozenset[str]) -> float:
    return 2 * len(a & b) / (len(a) + len(b)) if a and b else 0.0


def kind_agreement(a: frozenset[str], b: frozenset[str]) -> float:
    """1: the same problems; 0: different ones; UNKNOWN_KIND when a side names none.

    Between: the mean of Dice and overlap, so that one text naming a second problem
    beside the other's (a burst pipe that also floods the road) keeps most of it.
    """
    if not a or not b:
        return UNKNOWN_KIND
    if _qualifiers_only(a) != _qualifiers_only(b):
        return UNKNOWN_KIND  # a smell alone neither matches nor contradicts a problem
    common = len(a & b)
    return 0.5 * (2 * common / (len(a) + len(b)) + common / min(len(a), len(b)))


def _qualifiers_only(kinds: frozenset[str]) -> bool:
    return all(k.startswith("~") for k in kinds)


def compare(new: Features, old: Features, thresholds: Thresholds) -> Match | None:
    """The pair's score, or None when it is not even a candidate for the agent."""
    place = place_score(new.place, old.place)
    if place == 0:
        return None
    kinds = kind_agreement(new.kinds, old.kinds)
    if kinds == 0:
        return None
    words = 0.5 * _dice(new.words, old.words) + 0.5 * _dice(new.bigrams, old.bigrams)
    topic = thresholds.kind_weight * kinds + (1 - thresholds.kind_weight) * words
    similarity = thresholds.place_weight * place + (1 - thresholds.place_weight) * topic
    if similarity < thresholds.suggest:
        return None
    # certain: the same spot, and every problem one side names is named by the other
    subset = bool(new.kinds) and (new.kinds <= old.kinds or old.kinds <= new.kinds)
    certain = similarity >= thresholds.certain and place >= PLACE_EXACT and subset
    return Match(round(similarity, 3), place, place >= PLACE_EXACT, certain)
