"""Duplicate scoring (并单): places written differently, the same incident in other words,
and the near misses that must stay apart (same place other problem, same problem other
place)."""

from __future__ import annotations

import pytest

from config import load_settings
from dispatch.duplicate_index import thresholds_from
from dispatch.duplicates import (
    PLACE_EXACT,
    PLACE_HEAD,
    UNKNOWN_KIND,
    compare,
    features,
    kind_agreement,
    kinds_of,
    normalize_place,
    parse_place,
    place_score,
)

# the shipped configuration: what the service runs with
THRESHOLDS = thresholds_from(load_settings(environ={}).classifiers)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("阳光花园3栋", "阳光花园小区三号楼"),
        ("东湖区湖滨街道阳光花园3幢", "阳光花园小区3号楼"),
        ("文化路与新华街交叉口", "文化路新华街路口"),
        ("文化路和新华大街十字路口", "新华街与文化路交汇处"),
        ("人民路88号", "东湖区人民路88号"),
        ("锦绣花园小区十二号楼2单元302室", "锦绣花园12栋"),
        ("幸福里小区12号楼", "幸福里十二幢"),  # a name before a building number: an estate
        ("锦华大厦B座", "锦华大厦b座"),
        ("长青路17号", "城南区长青路十七号院"),
    ],
)
def test_one_place_written_two_ways(a, b):
    assert place_score(parse_place(a), parse_place(b)) == PLACE_EXACT


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("阳光花园3栋", "锦绣花园3栋"),  # other estate
        ("文化路与新华街交叉口", "人民路与建设路交叉口"),  # other crossing
        ("文化路", "解放大道"),
    ],
)
def test_other_places_do_not_match(a, b):
    assert place_score(parse_place(a), parse_place(b)) == 0


def test_near_places_score_below_the_same_spot():
    same_estate_other_building = place_score(parse_place("阳光花园3栋"), parse_place("阳光花园5栋"))
    same_road_other_house = place_score(parse_place("人民路88号"), parse_place("人民路120号"))
    crossing_vs_road = place_score(parse_place("文化路与新华街交叉口"), parse_place("文化路"))
    assert 0 < same_estate_other_building < PLACE_EXACT
    assert 0 < same_road_other_house < PLACE_EXACT
    assert 0 < crossing_vs_road < PLACE_EXACT


def test_other_district_is_another_place():
    east, west = parse_place("人民路88号", "东湖区"), parse_place("人民路88号", "西湖区")
    assert place_score(east, west) == 0


def test_normalisation_of_numbers_and_widths():
    assert normalize_place("阳光花园 三号楼") == "阳光花园3号楼"
    assert normalize_place("十二栋") == "12栋"
    assert normalize_place("二十三幢") == "23幢"
    assert normalize_place("一百零五号") == "105号"
    assert normalize_place("ABC小区３栋") == "abc小区3栋"


def test_problem_kinds():
    assert "garbage" in kinds_of("楼道垃圾堆积没人清理")
    assert "noise" in kinds_of("晚上吵得睡不着")
    assert "streetlight" in kinds_of("路灯不亮")
    assert kinds_of("公积金怎么提取") == frozenset()


def _match(new: tuple[str, str], old: tuple[str, str]):
    return compare(features(*new), features(*old), THRESHOLDS)


def test_one_incident_in_other_words_is_certain():
    match = _match(
        ("我们锦绣花园楼道里垃圾一直没人清理,物业也不管", "东湖区湖滨街道锦绣花园小区三号楼"),
        ("锦绣花园小区楼道垃圾堆积一周无人清理,物业不管", "东湖区湖滨街道锦绣花园3栋"),
    )
    assert match is not None and match.certain and match.same_place


def test_a_crossing_told_twice():
    match = _match(
        ("路口的红绿灯坏了好几天,车辆乱成一团", "文化路新华街路口"),
        ("文化路与新华街交叉口信号灯不亮,交通混乱", "文化路与新华街交叉口"),
    )
    assert match is not None and match.same_place


def test_same_place_other_problem_is_not_a_duplicate():
    assert (
        _match(
            ("锦绣花园小区门口路灯不亮,晚上很黑", "锦绣花园"),
            ("锦绣花园小区楼道垃圾堆积一周无人清理", "锦绣花园3栋"),
        )
        is None
    )


def test_same_problem_other_place_is_not_a_duplicate():
    assert (
        _match(
            ("阳光花园小区楼道垃圾堆积一周无人清理", "阳光花园3栋"),
            ("锦绣花园小区楼道垃圾堆积一周无人清理", "锦绣花园3栋"),
        )
        is None
    )


def test_same_problem_other_building_is_at_most_a_suggestion():
    match = _match(
        ("阳光花园5栋楼道垃圾堆积没人清理", "阳光花园5栋"),
        ("阳光花园3栋楼道垃圾堆积没人清理", "阳光花园3栋"),
    )
    assert match is None or not match.certain


def test_without_any_place_nothing_is_matched():
    assert _match(("楼道垃圾没人清理", ""), ("楼道垃圾没人清理", "")) is None


def test_a_market_named_two_ways_shares_an_index_key():
    market, farmers_market = parse_place("光明菜市场"), parse_place("光明农贸市场大门")
    assert market.keys & farmers_market.keys
    assert place_score(market, farmers_market) == PLACE_EXACT


def test_a_landmark_without_suffix_meets_its_leading_name_only():
    palace = parse_place("文化宫后面居民楼")
    assert place_score(palace, parse_place("文化宫后面")) == PLACE_HEAD
    assert place_score(palace, parse_place("少年宫后面")) == 0
    # a different building of the same name is not the same place
    assert place_score(parse_place("水岸名都3期5号楼"), parse_place("水岸名都3期8号楼")) == 0


def test_a_stretch_of_road_is_no_road_name():
    assert parse_place("华山路一下雨就积水,整段路都淹了").roads == frozenset({"华山路"})


def test_two_crossings_sharing_one_road_are_apart():
    crossing = parse_place("光谷街与云杉路口")
    assert place_score(parse_place("智谷路靠近光谷街口"), crossing) < PLACE_EXACT
    assert place_score(parse_place("智谷路近光谷街口"), crossing) < PLACE_EXACT


def test_a_word_may_name_several_kinds():
    assert {"garbage", "fire_safety"} <= kinds_of("楼梯间被杂物堵满了,万一着火跑不出去")


def test_a_smell_alone_neither_matches_nor_contradicts_a_problem():
    assert kind_agreement(frozenset({"~odor"}), frozenset({"garbage"})) == UNKNOWN_KIND
    assert kind_agreement(frozenset({"noise"}), frozenset({"garbage"})) == 0


def test_pests_are_not_stray_dogs():
    dogs, rats = kinds_of("小区里流浪狗成群结队地叫"), kinds_of("小区里老鼠太多了")
    assert kind_agreement(dogs, rats) == 0
