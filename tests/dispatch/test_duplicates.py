"""Duplicate scoring on hand-written pairs: same issue in other words vs other issues."""

from __future__ import annotations

from dispatch.duplicates import Candidate, find_duplicates, text_similarity

OPEN = [
    Candidate("A", "锦绣花园小区楼道垃圾堆积一周无人清理,物业不管", "东湖区湖滨街道锦绣花园3栋"),
    Candidate("B", "新华路菜市场门口占道经营严重", "东湖区东湖街道新华路"),
    Candidate("C", "小区物业不作为", None),
    Candidate("D", "锦绣花园小区门口路灯不亮", "东湖区湖滨街道锦绣花园"),
]


def test_same_issue_in_other_words_is_found():
    found = find_duplicates(
        "我们锦绣花园楼道里垃圾一直没人清理,物业也不管",
        "东湖区湖滨街道锦绣花园3栋",
        OPEN,
        threshold=0.45,
    )
    assert [d.number for d in found] == ["A"] and found[0].same_place
    assert [
        d.number
        for d in find_duplicates(
            "菜市场门口有人占道摆摊", "东湖区新华路菜市场", OPEN, threshold=0.45
        )
    ] == ["B"]


def test_same_place_other_issue_is_not_a_duplicate():
    # the street lamp at the same estate as the rubbish complaint
    found = find_duplicates(
        "锦绣花园楼道垃圾没人清理", "东湖区湖滨街道锦绣花园", OPEN[3:], threshold=0.45
    )
    assert found == []


def test_unrelated_and_empty_texts():
    assert find_duplicates("公积金怎么提取", None, OPEN, threshold=0.45) == []
    assert text_similarity("", "小区物业不作为") == 0.0
    assert text_similarity("小区物业不作为", "小区物业不作为") == 1.0
