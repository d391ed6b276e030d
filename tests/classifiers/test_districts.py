"""District extraction with the default and a custom gazetteer."""

from __future__ import annotations

import pytest

from classifiers import Gazetteer, default_gazetteer, extract_district


@pytest.mark.parametrize(
    ("address", "district"),
    [
        ("东湖区湖滨街道12号", "东湖区"),
        ("西山路88号3栋", "西山区"),  # street only
        ("南湖区白沙街道", "南湖区"),
        ("北城区钟楼街道老菜场旁", "北城区"),
        ("高新技术开发区软件园街道", "高新区"),  # alias
        ("A市A3区学士街道", "A3区"),
        ("A7县星沙街道凉塘路", "A7县"),
        ("泉塘街道某小区", "A7县"),  # real street name from the TipDM data
        ("A市洞井街道", "A5区"),
        ("A8市玉潭镇", "A8县"),  # alias after the county became a city
        ("A1区东湖街道", "A1区"),  # street called 东湖 in another district
    ],
)
def test_default_gazetteer(address, district):
    assert extract_district(address) == district


@pytest.mark.parametrize("address", ["北京市朝阳区", "", None, "！！"])
def test_unknown_addresses(address):
    assert extract_district(address) is None


def test_match_reports_the_street():
    match = default_gazetteer().find("东湖区湖滨街道12号")
    assert match.district == "东湖区" and match.street == "湖滨街道"


def test_custom_gazetteer(tmp_path):
    path = tmp_path / "g.json"
    path.write_text(
        '{"city": "滨江市", "districts": '
        '{"江北区": {"aliases": ["江北"], "streets": ["临江街道"]}}}',
        encoding="utf-8",
    )
    gazetteer = Gazetteer.from_file(path)
    assert gazetteer.districts == ["江北区"]
    assert extract_district("临江街道5号", gazetteer) == "江北区"
    assert extract_district("东湖区湖滨街道", gazetteer) is None
