"""Synthetic KB entries for scale benchmarks: realistic phrases recombined.

Titles and questions combine a place, a topic and an action (e.g. 河西区公积金租房提取
办理流程); answers are shuffled sentences of the demo KB's real answers, so term
statistics resemble a real municipal KB. Deterministic for a given seed.
"""

from __future__ import annotations

import random
import re

from knowledge_base.domain import EntryContent, SearchDocument
from knowledge_base.evaluation import load_documents


def _words(text: str) -> list[str]:
    return text.split()


PLACES = [
    *(
        f"{name}区"
        for name in _words("河西 河东 城南 城北 高新 经开 滨江 新城 老城 江北 湖滨 临港")
    ),
    *(f"{name}街道" for name in _words("东风 解放 人民 建设 和平 胜利 长江 黄河 光明 幸福")),
    *(f"{name}镇" for name in _words("青山 白沙 桃源 石桥 柳河 马场 新桥 龙泉")),
]
TOPICS = _words(
    "养老保险 医疗保险 失业保险 工伤保险 社保卡 公积金 住房补贴 公租房 户口 身份证 居住证 "
    "护照 驾驶证 行驶证 营业执照 食品经营许可 排水许可 占道施工 广告招牌 渣土运输 "
    "物业服务 业委会选举 电梯维保 二次供水 燃气管道 供暖 路灯 井盖 公交站台 停车场 "
    "共享单车 出租车 网约车 学位申请 转学 校车 课后服务 幼儿园 助学金 低保 特困供养 "
    "高龄津贴 残疾人补贴 临时救助 婚姻登记 生育登记 疫苗接种 家庭医生 医保报销 药品采购 "
    "消防检查 危化品运输 燃放烟花 噪声 油烟 污水 垃圾分类 绿化养护 违法建设 拆迁补偿 "
    "农村宅基地 耕地补贴 农机购置补贴 退役军人安置 个税 发票 社保费 企业年报 招投标"
)
ACTIONS = _words(
    "办理流程 申请条件 所需材料 收费标准 投诉渠道 办理时限 线上办理 变更登记 注销 补办 "
    "年审 咨询 政策解读 受理窗口 进度查询 补贴发放 监督举报 整改要求 延期申请 异地办理"
)
QUESTION_TEMPLATES = [
    "{place}{topic}{action}是怎样的",
    "在{place}办{topic}要{action}吗",
    "{topic}的{action}在{place}哪里问",
    "请问{place}的{topic}{action}",
]


def _sentences() -> list[str]:
    parts: list[str] = []
    for document in load_documents():
        parts.extend(s for s in re.split(r"(?<=[。；])", document.content.answer) if s)
    return parts


def synthetic_documents(count: int, seed: int = 12345) -> list[SearchDocument]:
    rng = random.Random(seed)
    sentences = _sentences()
    categories = sorted({d.content.category for d in load_documents()})
    hotlines = [(), (), ("12345",), ("12319",), ("12358",), ("12350",)]
    documents = []
    for i in range(count):
        place, topic, action = rng.choice(PLACES), rng.choice(TOPICS), rng.choice(ACTIONS)
        fill = {"place": place, "topic": topic, "action": action}
        questions = tuple(t.format(**fill) for t in rng.sample(QUESTION_TEMPLATES, 2))
        content = EntryContent(
            title=f"{place}{topic}{action}",
            questions=questions,
            answer=place + "".join(rng.sample(sentences, 3)),
            category=rng.choice(categories),
            unit=f"{place}{rng.choice(['政务服务中心', '城管执法队', '社区服务中心'])}",
            hotlines=rng.choice(hotlines),
        )
        documents.append(SearchDocument(f"SYN-{i:06d}", content))
    return documents
