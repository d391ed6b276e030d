"""District extraction from free-text addresses (地址 → 行政区) with a gazetteer.

The gazetteer is configuration: a JSON file ``{"city", "districts": {name: {"aliases":
[...], "streets": [...]}}}``. The shipped default (data/gazetteer.json) covers a
fictional demo city and the TipDM data's city. Matching is longest-name-first, so
"东湖区" wins over the street "东湖街道" of another district when both fit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .text import normalize

DEFAULT_GAZETTEER_FILE = Path(__file__).parent / "data" / "gazetteer.json"


@dataclass(frozen=True)
class DistrictMatch:
    """``district`` found, via the ``street`` (街道/镇) if the district was not named."""

    district: str
    street: str | None
    matched: str


class Gazetteer:
    """Place-name index: district names/aliases and street names -> district."""

    def __init__(self, districts: dict[str, dict], city: str | None = None):
        self.city = city
        self._district_of: dict[str, str] = {}
        self._street_of: dict[str, str] = {}
        for name, entry in districts.items():
            for alias in [name, *entry.get("aliases", [])]:
                self._district_of[normalize(alias)] = name
            for street in entry.get("streets", []):
                self._street_of.setdefault(normalize(street), name)
        names = sorted([*self._district_of, *self._street_of], key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, names))) if names else None

    @classmethod
    def from_file(cls, path: str | Path) -> Gazetteer:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(doc["districts"], city=doc.get("city"))

    @property
    def districts(self) -> list[str]:
        return sorted(set(self._district_of.values()))

    def find(self, address: str | None) -> DistrictMatch | None:
        if not address or self._pattern is None:
            return None
        text = normalize(address)
        district = street = None
        for match in self._pattern.finditer(text):
            name = match.group(0)
            if name in self._district_of:
                district = district or name
            else:
                street = street or name
        if district is not None:
            return DistrictMatch(self._district_of[district], street, district)
        if street is not None:
            return DistrictMatch(self._street_of[street], street, street)
        return None


@lru_cache(maxsize=1)
def default_gazetteer() -> Gazetteer:
    return Gazetteer.from_file(DEFAULT_GAZETTEER_FILE)


def extract_district(address: str | None, gazetteer: Gazetteer | None = None) -> str | None:
    """District name for ``address`` or None; ``gazetteer`` defaults to the shipped one."""
    match = (gazetteer or default_gazetteer()).find(address)
    return match.district if match else None
