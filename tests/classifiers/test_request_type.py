"""Request type (咨询/求助/投诉/举报/建议/表扬)."""

from __future__ import annotations

import pytest

from classifiers import REQUEST_TYPE_NAMES, REQUEST_TYPES, classify_request_type


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("请问社保卡丢了怎么补办", "consultation"),
        ("咋办理居住证", "consultation"),
        ("想了解一下公租房申请条件", "consultation"),
        ("我家老人走丢了，求求你们帮帮忙", "help"),
        ("我们被困在这里了，救救我们", "help"),
        ("我要投诉物业乱收费", "complaint"),
        ("楼下餐馆油烟太大，没人管", "complaint"),
        ("小区停水两天了", "complaint"),
        ("举报有人在河道非法采砂", "report"),
        ("实名举报某局干部收受贿赂", "report"),
        ("建议在路口增设红绿灯", "suggestion"),
        ("希望政府多建几个公园", "suggestion"),
        ("感谢城管局的工作人员，必须表扬一下", "praise"),
        ("给社区张书记点赞，办事热心", "praise"),
    ],
)
def test_request_types(text, kind):
    assert classify_request_type(text) == kind


def test_every_type_has_a_chinese_name():
    assert set(REQUEST_TYPE_NAMES) == set(REQUEST_TYPES)


@pytest.mark.parametrize("text", ["", None, "！！！", "hello"])
def test_odd_input_still_returns_a_type(text):
    assert classify_request_type(text) in REQUEST_TYPES
