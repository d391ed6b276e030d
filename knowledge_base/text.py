"""Text normalisation and the two token streams the search index uses.

Pure functions, no I/O besides loading the synonym and filler tables shipped in
`data/` (once per process).

- characters: unigrams and bigrams of the normalised text (robust to word-boundary
  differences between a caller's phrasing and the entry); a jieba word channel was
  dropped in issue 13: it added nothing under cross-validation and cost most of the
  tokenizing time;
- pinyin: toneless syllable unigrams and bigrams, so homophone typos typed through a
  pinyin input method (公基金 for 公积金, 社报卡 for 社保卡) still match.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

from pypinyin.pinyin_dict import pinyin_dict

DATA_DIR = Path(__file__).with_name("data")
SYNONYMS_FILE = DATA_DIR / "synonyms.txt"
FILLERS_FILE = DATA_DIR / "fillers.txt"

# Anything that is not a CJK ideograph, a latin letter or a digit separates tokens.
_SEPARATORS = re.compile(r"[^0-9a-z\u3400-\u4dbf\u4e00-\u9fff]+")
_UNITS = re.compile(r"[0-9a-z]+|[\u3400-\u4dbf\u4e00-\u9fff]")
_TONE_MARKS = str.maketrans("āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜüńňǹḿ", "aaaaeeeeiiiioooouuuuvvvvvnnnm")


def _read_lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@lru_cache(maxsize=1)
def _synonym_pattern() -> tuple[re.Pattern[str], dict[str, str]]:
    """Variants → canonical form; each line of synonyms.txt is `canonical variant ...`."""
    canonical: dict[str, str] = {}
    for line in _read_lines(SYNONYMS_FILE):
        head, *variants = line.split()
        for variant in variants:
            canonical[variant] = head
    # Longest variant first, so 共享单车 wins over 单车.
    alternatives = sorted(canonical, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, alternatives))), canonical


@lru_cache(maxsize=1)
def _filler_pattern() -> re.Pattern[str]:
    """Question words and politeness that carry no topic (怎么, 咋整, 请问 ...)."""
    fillers = sorted(_read_lines(FILLERS_FILE), key=len, reverse=True)
    return re.compile("|".join(map(re.escape, fillers)))


def plain_normalize(text: str) -> str:
    """NFKC, lower case, punctuation out; no synonyms, no fillers (the BM25 backbone)."""
    return _SEPARATORS.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def normalize(text: str) -> str:
    """NFKC, lower case, synonyms to their canonical form, fillers and punctuation out."""
    text = unicodedata.normalize("NFKC", text).lower()
    pattern, canonical = _synonym_pattern()
    text = pattern.sub(lambda match: canonical[match.group(0)], text)
    text = _filler_pattern().sub(" ", text)
    return _SEPARATORS.sub(" ", text).strip()


def _units(run: str) -> list[str]:
    """A run split into ideographs and whole latin/digit sequences (12345, app)."""
    return _UNITS.findall(run)


def char_tokens(normalized: str) -> list[str]:
    """Character unigrams and bigrams inside each separator-free run."""
    tokens: list[str] = []
    for run in normalized.split():
        units = _units(run)
        tokens.extend(units)
        tokens.extend(a + b for a, b in itertools.pairwise(units))
    return tokens


def char_bigrams(normalized: str) -> list[str]:
    """Character bigrams inside each separator-free run (the alias table's terms)."""
    return [a + b for run in normalized.split() for a, b in itertools.pairwise(_units(run))]


@lru_cache(maxsize=65536)
def _syllable(char: str) -> str:
    readings = pinyin_dict.get(ord(char)) if len(char) == 1 else None
    if readings is None:
        return char
    # The first reading is the most common one; polyphones err the same way on both sides.
    return readings.split(",", 1)[0].translate(_TONE_MARKS)


def pinyin_tokens(normalized: str) -> list[str]:
    """Toneless syllable unigrams and bigrams, prefixed so they never meet char tokens."""
    tokens: list[str] = []
    for run in normalized.split():
        syllables = [_syllable(unit) for unit in _units(run)]
        tokens.extend("p:" + s for s in syllables)
        tokens.extend(f"p:{a}_{b}" for a, b in itertools.pairwise(syllables))
    return tokens
