import time
from dataclasses import replace

import numpy as np
import pytest
from kb_helpers import content

from benchmarks.knowledge_base.bench_loso import SETS, read_pairs
from knowledge_base import search
from knowledge_base.domain import SearchDocument
from knowledge_base.evaluation import Paraphrase, evaluate, evaluate_variants, load_documents
from knowledge_base.learned import (
    FEATURES,
    read_paraphrase_terms,
    shipped,
    write_paraphrase_terms,
)
from knowledge_base.search import SearchIndex
from knowledge_base.text import normalize
from knowledge_base.training import learn, learn_paraphrase_terms


@pytest.fixture(scope="module")
def demo_index() -> SearchIndex:
    return SearchIndex(load_documents())


@pytest.fixture(scope="module")
def paraphrase_sets() -> dict:
    return {name: read_pairs(path) for name, path in SETS.items()}


@pytest.mark.parametrize(
    ("held_out", "top1", "top5"),
    # measured (bench_loso, eight writers): own 0.991 / 1.000, kb_dev3 0.869 / 0.984;
    # plain BM25 over title + questions + answer: own 0.941 / 0.994, kb_dev3 0.617 / 0.847
    [("own", 0.97, 0.99), ("kb_dev3", 0.84, 0.97)],
)
def test_floors_on_a_set_held_out_from_the_learning(paraphrase_sets, held_out, top1, top5):
    """The aliases and the re-ranker learned from every paraphrase set but one, scored
    on that one: the shipped files learned from all sets, so no set they saw can carry
    a floor. kb_dev3 is the hardest set (0.869 held out, below issue 13's 0.93)."""
    documents = load_documents()
    training = {name: pairs for name, pairs in paraphrase_sets.items() if name != held_out}
    index = SearchIndex(documents, learned=learn(training, documents))
    queries = [Paraphrase(q, e) for q, e in paraphrase_sets[held_out]]
    accuracy = evaluate(index, queries)
    assert accuracy.top1 >= top1, accuracy.misses
    assert accuracy.top5 >= top5, accuracy.misses


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


def test_callers_terms_apply_only_to_the_entry_learned_on(tmp_path):
    """Document expansion names entries: it must follow the external id *and* the
    title, so another KB reusing the id (or an edited entry) does not inherit it."""
    documents = [
        SearchDocument("KB-A", content(title="失业保险金申领", questions=("失业金怎么领",))),
        SearchDocument("KB-B", content(title="身份证丢失补办", questions=("身份证丢了",))),
    ]
    learned_terms = learn_paraphrase_terms([("丢了饭碗能领补助吗", "KB-A")], documents)
    assert learned_terms["KB-A"].title == "失业保险金申领"
    assert learned_terms["KB-A"].terms["饭碗"] == 1
    path = tmp_path / "terms.tsv"
    write_paraphrase_terms(learned_terms, path)
    assert read_paraphrase_terms(path) == learned_terms

    learned = replace(shipped(), paraphrases=learned_terms)
    index = SearchIndex(documents, learned=learned)
    pool, features = index.features("丢了饭碗怎么领")
    row = dict(zip(pool.tolist(), features.tolist(), strict=True))
    paraphrases, paraphrased = FEATURES.index("paraphrases"), FEATURES.index("paraphrased")
    assert row[0][paraphrases] == 1.0 and row[0][paraphrased] == 1.0
    assert row[1][paraphrased] == 0.0

    edited = [SearchDocument("KB-A", content(title="失业金领取", questions=("失业金怎么领",)))]
    pool, features = SearchIndex(edited, learned=learned).features("丢了饭碗怎么领")
    assert not features[:, paraphrased].any()


def test_an_entry_added_after_the_learning_is_still_found(demo_index):
    """Entries with learned callers' terms must not crowd out one that has none."""
    added = SearchDocument(
        "NEW-1",
        content(
            title="犬只登记和狂犬疫苗",
            questions=("养狗要去哪里登记", "狗打狂犬疫苗在哪里"),
            answer="养犬人应到居住地派出所办理犬只登记，并按时为犬只接种狂犬病疫苗。",
            category="公安",
            unit="市公安局",
        ),
    )
    index = SearchIndex([*demo_index.documents, added])
    for query in ("家里新养了条狗要登记吗", "小狗打狂犬疫苗去哪"):
        assert index.search(query, top=1)[0].external_id == "NEW-1"


def test_gathered_and_sliced_postings_score_alike(monkeypatch):
    """BM25 sums read by one index array (short postings) or by a slice per term (long
    ones) are the same to the bit, weights and repeated terms included."""
    docs = [list(text) for text in ("路灯不亮", "路灯坏了没人修", "小区路面坑洼", "灯", "")]
    channel = search.Bm25Channel(docs, 1.2, 0.75)
    terms = {"路": 1.0, "灯": 0.37, "坑": 2.5, "无": 1.0, "修": 0.1}
    monkeypatch.setattr(search, "GATHER_POSTINGS", 10**9)
    gathered = channel.weighted_scores(terms)
    monkeypatch.setattr(search, "GATHER_POSTINGS", 0)
    sliced = channel.weighted_scores(terms)
    assert gathered.tobytes() == sliced.tobytes() and gathered[0] > 0 and gathered[4] == 0
    assert not channel.weighted_scores({"无": 1.0}).any()
    assert np.array_equal(channel.scores(["灯"]), channel.weighted_scores({"灯": 1.0}))
