import time

import pytest
from conftest import content

from knowledge_base.domain import SearchDocument
from knowledge_base.evaluation import (
    evaluate,
    evaluate_variants,
    load_documents,
    load_paraphrases,
)
from knowledge_base.search import SearchIndex
from knowledge_base.text import normalize


@pytest.fixture(scope="module")
def demo_index() -> SearchIndex:
    return SearchIndex(load_documents())


def test_paraphrase_floors_on_held_out_half(demo_index):
    """Issue 13's blind target, checked on the half whose figures are reported: the odd
    lines (`held_out`). Weights are chosen by 2-fold CV, never on this half alone; the
    tuning half has no floor here, since passing it would prove nothing."""
    accuracy = evaluate(demo_index, load_paraphrases(split="held_out"))
    assert accuracy.n >= 150
    assert accuracy.top1 >= 0.93, accuracy.misses
    assert accuracy.top5 >= 0.99, accuracy.misses


def test_leave_one_variant_out_floor():
    """Each title / question variant, taken out of its entry, still finds the entry."""
    accuracy = evaluate_variants(SearchIndex)
    assert accuracy.n >= 400
    assert accuracy.top1 >= 0.92, accuracy.misses
    assert accuracy.top5 >= 0.99, accuracy.misses


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("公基金怎么取", "KB-0016"),  # homophone typo, pinyin channel
        ("身分證丟了", "KB-0020"),  # variant character + traditional-looking
        ("ＫＢ社保卡丢了！！", "KB-0005"),  # full-width letters and punctuation
    ],
)
def test_robust_queries(demo_index, query, expected):
    ids = [hit.external_id for hit in demo_index.search(query, top=3)]
    assert expected in ids


@pytest.mark.parametrize("query", ["", "   ", "？？！！", "的了吗"])
def test_queries_without_content_find_nothing(demo_index, query):
    assert demo_index.search(query) == []


def test_huge_query_is_fast_and_sane(demo_index):
    query = "公积金租房提取" * 15_000  # ~100 kB
    started = time.perf_counter()
    hits = demo_index.search(query, top=3)
    # a guard against a pathological blow-up, not a latency figure (see benchmarks/)
    assert time.perf_counter() - started < 20
    assert hits and hits[0].external_id == "KB-0014"


def test_results_are_ordered_and_limited(demo_index):
    hits = demo_index.search("公积金", top=4)
    assert len(hits) == 4
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_category_filter(demo_index):
    hits = demo_index.search("投诉", top=10, category="交通")
    assert hits and {h.category for h in hits} == {"交通"}


def test_hotline_filter_keeps_general_entries():
    documents = [
        SearchDocument("general", content(title="占道经营投诉A")),
        SearchDocument("city", content(title="占道经营投诉B", hotlines=("12319",))),
        SearchDocument("price", content(title="占道经营投诉C", hotlines=("12358",))),
    ]
    index = SearchIndex(documents)
    found = {h.external_id for h in index.search("占道经营", top=5, hotline="12319")}
    assert found == {"general", "city"}
    assert {h.external_id for h in index.search("占道经营", top=5)} == {
        "general",
        "city",
        "price",
    }


def test_empty_index():
    assert SearchIndex([]).search("公积金") == []


def test_normalize_maps_synonyms_and_drops_fillers():
    assert normalize("请问驾照咋整？") == normalize("驾驶证怎么办")
