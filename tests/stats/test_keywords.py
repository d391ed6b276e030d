"""Keywords keep the topic words and drop counts, times and question words."""

from __future__ import annotations

from stats.keywords import top_keywords, words


def test_counts_and_times_in_characters_are_not_topics():
    text = "小区门口三个垃圾桶三天没人清运,十一点还在施工,噪音很大,怎么办"
    assert words(text) == ["门口", "垃圾桶", "清运", "施工", "噪音"]
    # ... but place names and terms that start with a numeral stay
    assert words("三元里社区两会期间停车难") == ["三元里", "社区", "两会", "期间", "停车难"]


def test_top_keywords_by_count_then_word():
    texts = ["噪音扰民", "夜间施工噪音", "路灯坏了,晚上很黑"]
    assert top_keywords(texts, 3) == [("噪音", 2), ("夜间", 1), ("扰民", 1)]
