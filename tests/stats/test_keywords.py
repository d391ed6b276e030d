"""Keywords keep the topic words and drop counts, times and question words."""

from __future__ import annotations

import sys
from pathlib import Path

from stats.keywords import CORPUS_STOPWORDS_FILE, stopwords, top_keywords, words


def test_counts_and_times_in_characters_are_not_topics():
    text = "小区门口三个垃圾桶三天没人清运,十一点还在施工,噪音很大,怎么办"
    assert words(text) == ["垃圾桶", "清运", "施工", "噪音"]
    # ... but place names and terms that start with a numeral stay
    assert words("三元里社区两会期间停车难") == ["三元里", "社区", "两会", "期间", "停车难"]


def test_top_keywords_by_count_then_word():
    texts = ["噪音扰民", "夜间施工噪音", "路灯坏了,晚上很黑"]
    assert top_keywords(texts, 3) == [("噪音", 2), ("夜间", 1), ("扰民", 1)]


def test_filler_is_not_a_hotspot_keyword():
    text = "请问需要哪些材料,以后早上门口的垃圾桶能不能清运,噪音也大"
    assert words(text) == ["材料", "垃圾桶", "清运", "噪音"]


def test_the_corpus_stop_list_holds_filler_not_topics():
    corpus = set(CORPUS_STOPWORDS_FILE.read_text(encoding="utf-8").split())
    assert {"需要", "以后", "希望", "已经"} <= corpus
    assert not {"噪音", "工资", "学校", "垃圾", "医院", "公交", "物业"} & corpus
    assert {"需要", "以后"} <= stopwords()


def test_the_builder_keeps_words_concentrated_in_one_category():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "stats"))
    from build_stopwords import spread

    labels = ["交通运输", "劳动和社会保障", "卫生计生", "商贸旅游"]
    labels += ["城乡建设", "教育文体", "环境保护"]
    rows = [{"label": label, "text": f"需要反馈 {label}问题"} for label in labels] * 3
    rows += [{"label": "环境保护", "text": "工厂噪音需要处理"}] * 20
    found = {word: entropy for word, _, entropy in spread(rows, min_docs=3)}
    assert found["需要"] > 0.9
    assert "噪音" not in found  # used in one category only
