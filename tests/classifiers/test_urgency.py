"""Urgency detection: examples, tricky ordinary requests, set-level recall/precision."""

from __future__ import annotations

import json

import pytest
from clf_helpers import OWN_DATA

from classifiers import detect_urgency


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("我们楼下着火了，烟好大", "fire"),
        ("樓下著火了", "fire"),
        ("家里煤气泄漏了，满屋子都是味道", "gas"),
        ("河水漫上来了，村里好多人被困在屋顶上", "flood"),
        ("电梯突然停了，我们被困在里面", "trapped"),
        ("有人拿刀在街上砍人", "violence"),
        ("我不想活了", "self_harm"),
        ("学校好多学生吃了午饭后中毒了", "poisoning"),
        ("房子塌了，里面可能有人", "collapse"),
        ("有人触电了，倒在地上不动了", "electric"),
        ("路上有个老人晕倒了，没有呼吸", "medical"),
    ],
)
def test_dangerous_requests_are_urgent(text, kind):
    result = detect_urgency(text)
    assert result.urgent and result.type == kind
    assert result.matched and all(isinstance(m, str) and m for m in result.matched)
    assert result.linkage in {"110", "119", "120", "122"}


@pytest.mark.parametrize(
    "text",
    [
        "上次火灾后的补偿款到现在还没发",
        "楼道里堆满杂物，万一着火了怎么办",
        "燃气费怎么比上个月多了这么多",
        "被困扰很久的停车难问题能不能解决",
        "学校的洪水防范演练安排在哪天",
        "前天有人在小区门口打架，现在没事了，建议加强巡逻",
        "爆炸头造型的理发店收费太贵",
        "请问杀虫剂哪里有卖的",
        "路灯不亮，晚上走路很危险",
        "医保缴费截止日期快到了，来不及了怎么办",
        "孩子入学报名，学校说打过架的学生不收",
        "学校对打架的学生怎么处理",
        "打疫苗后有点发烧，正常吗",
        "",
        None,
    ],
)
def test_ordinary_requests_are_not_urgent(text):
    result = detect_urgency(text)
    assert not result.urgent
    assert result.matched == () and result.linkage is None


def _rates(name):
    rows = [json.loads(line) for line in (OWN_DATA / name).read_text().splitlines()]
    flags = [(row["urgent"], detect_urgency(row["text"]).urgent) for row in rows]
    tp = sum(want and got for want, got in flags)
    recall = tp / sum(want for want, _ in flags)
    precision = tp / sum(got for _, got in flags)
    return recall, precision


# Floors only on sets never used for fitting or tuning (the learned part's training
# files and the retired evaluation sets of urgency_corpus.jsonl are fitted). Measured:
# fresh 0.975 / 0.951, near-miss 1.000 / 0.909 (RESULTS.md, issue 13 fourth round).
@pytest.mark.parametrize(
    ("name", "min_recall", "min_precision"),
    [("urgency_fresh.jsonl", 0.95, 0.9), ("urgency_nearmiss_test.jsonl", 0.95, 0.9)],
)
def test_held_out_urgency_sets_meet_floors(name, min_recall, min_precision):
    recall, precision = _rates(name)
    assert recall >= min_recall
    assert precision >= min_precision


def test_held_out_sets_are_not_training_rows():
    from classifiers.text import normalize
    from classifiers.urgency import training_rows

    trained = {normalize(row["text"]) for row in training_rows()}
    for name in ("urgency_fresh.jsonl", "urgency_nearmiss_test.jsonl"):
        rows = [json.loads(line) for line in (OWN_DATA / name).read_text().splitlines()]
        assert not trained & {normalize(row["text"]) for row in rows}


def test_an_alarm_without_a_danger_word_shows_what_weighed():
    """No rule or type cue names this danger; the learned part, very sure, raises the
    alarm and the banner shows the character pairs that weighed most."""
    result = detect_urgency("隔壁楼的阳台整个往下掉水泥块，下面还有人在走")
    assert result.urgent and result.type == "other" and result.linkage == "110"
    assert 1 <= len(result.matched) <= 3
    assert all(
        len(m) == 2 and m in "隔壁楼的阳台整个往下掉水泥块下面还有人在走" for m in result.matched
    )
    # the same learned evidence never overrides a hazard report or a past event
    assert not detect_urgency("隔壁楼的阳台老是往下掉水泥块，担心砸到人").urgent
    assert not detect_urgency("上个星期隔壁楼的阳台往下掉水泥块").urgent


def test_long_ordinary_web_message_is_not_urgent():
    # The learned model (fitted on short spoken requests) scores this above its threshold;
    # on long texts only the rules decide (LEARNED_MAX_CHARS).
    text = (
        "本人在某公司工作三年,公司一直拖欠工资,老板跑路了,现在几十个工人的血汗钱都拿不到,"
        "家里老人生病急需用钱,请劳动部门帮帮我们讨回工资。"
    )
    assert detect_urgency(text).urgent is False


def test_every_flag_names_its_evidence_and_emergency_line():
    by_rule = detect_urgency("闻到很大的煤气味,楼道里都是")
    assert by_rule.matched == ("煤气味",) and by_rule.linkage == "119"
    learned = detect_urgency("电梯里困了人一直在喊")  # no rule lists this phrasing
    assert learned.urgent and learned.matched == ("困",) and learned.linkage == "119"
    assert detect_urgency("燃气费怎么比上个月多了这么多").linkage is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("楼上有人在喊救命", "other"),
        ("孩子把一整瓶药吃了", "medical"),
        ("家里老人呼吸不上来脸发紫", "medical"),
        ("有个人在河里扑腾快沉下去了", "medical"),
    ],
)
def test_spoken_emergencies_without_a_danger_word_are_urgent(text, kind):
    result = detect_urgency(text)
    assert result.urgent and result.type == kind


def test_a_figure_of_speech_is_no_cry_for_help():
    assert not detect_urgency("医保是老百姓的救命钱,报销太慢").urgent
    assert not detect_urgency("救命啊,公积金提取的材料到底要交几次").urgent
    assert not detect_urgency("停电一整天了,快来人修一下").urgent
    assert not detect_urgency("前天楼道里着过火,赶紧把烧坏的东西清走吧").urgent
    assert not detect_urgency("救救我吧,楼上天天装修吵到半夜").urgent
    assert detect_urgency("救命,楼道里着火了,我们下不去").urgent


@pytest.mark.parametrize(
    ("not_now", "now"),
    [
        ("上星期我们楼里有户人家着火了，物业后来也没说法", "我们楼里有户人家着火了，火很大"),
        ("昨晚有人在烧烤店打起来了，今天想问问结果", "烧烤店里有人打起来了，快派人"),
        ("我们单元老是有一股煤气味，能不能来查查", "我们单元现在有一股很浓的煤气味"),
        ("要是河堤决堤了，我们村往哪里撤", "河堤决堤了，水往村里灌"),
        ("晚上没灯，有人掉进沟里怎么办", "我家孩子掉进沟里了怎么办，快来人"),
        ("仓库里有人中毒过，现在通风还是很差", "仓库里有人中毒了，现在倒在地上"),
    ],
)
def test_a_past_habitual_or_hypothetical_event_is_not_urgent(not_now, now):
    assert not detect_urgency(not_now).urgent
    assert detect_urgency(now).urgent


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("孩子刚把洗洁精喝下去了", "poisoning"),
        ("车开进桥洞里熄火了，水已经没过车窗", "flood"),
        ("路口出车祸了，有辆车翻在路中间", "traffic"),
        ("有个男的把我儿子拽上车开走了", "violence"),
        ("电梯一下子往下掉，我们在里面", "trapped"),
        ("一辆电动车被大货车撞了，骑车的人躺着不会动", "medical"),
    ],
)
def test_more_spoken_emergencies(text, kind):
    result = detect_urgency(text)
    assert result.urgent and result.type == kind and result.linkage
