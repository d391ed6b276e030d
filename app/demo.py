"""Demo data: a fictional city's units, users, catalogue and a month of orders.

Loaded only by `run.py --demo` into an empty database. Orders are driven through the
real use cases with a simulated clock, so every state, event and deadline is genuine.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import datetime, timedelta
from pathlib import Path

from aiohttp import web
from sqlalchemy import func, select

from accounts import services as accounts
from accounts.domain import Actor, Role, UnitRef
from accounts.storage import User
from app.db import unit_of_work
from app.errors import AppError
from app.keys import DISPATCH, KB, PASSWORDS, SESSIONS, SETTINGS
from dispatch import org
from dispatch.geo import DEMO_CELLS, load_demo_cells
from dispatch.services import DispatchService
from dispatch.storage import Order, Unit
from knowledge_base.records import read_records

DEMO_PASSWORD = "Hotline-Demo-2026"  # follows the password policy (accounts/policy.py)
DEMO_KB = Path(__file__).resolve().parent.parent / "knowledge_base" / "data" / "demo_kb.jsonl"

# (code, name, parent)
UNITS = [
    ("ZJJ", "市住建局", None),
    ("ZJJ-WY", "市住建局物业管理科", "ZJJ"),
    ("ZJJ-JG", "市住建局建筑市场监管科", "ZJJ"),
    ("CGJ", "市城管局", None),
    ("CGJ-ZF", "市城管执法支队", "CGJ"),
    ("CGJ-SR", "市城管局市容环卫科", "CGJ"),
    ("SCJ", "市市场监管局", None),
    ("SCJ-JG", "市市场监管局价格监督检查科", "SCJ"),
    ("YJJ", "市应急管理局", None),
    ("RSJ", "市人社局", None),
    ("RSJ-SB", "市社会保险事业中心", "RSJ"),
    ("GJJ", "市住房公积金管理中心", None),
    ("GAJ", "市公安局", None),
    ("GAJ-JJ", "市公安局交警支队", "GAJ"),
    ("HBJ", "市生态环境局", None),
    ("JYJ", "市教育局", None),
    ("WJW", "市卫健委", None),
    ("JTJ", "市交通运输局", None),
    ("SWJT", "市水务集团", None),
    ("GDGS", "市供电公司", None),
    ("RQGS", "市燃气集团", None),
    ("DHQ", "东湖区政府", None),
    ("DHQ-DH", "东湖区东湖街道办事处", "DHQ"),
    ("DHQ-HB", "东湖区湖滨街道办事处", "DHQ"),
    ("DHQ-XC", "东湖区新城街道办事处", "DHQ"),
    ("XSQ", "西山区政府", None),
    ("XSQ-XS", "西山区西山街道办事处", "XSQ"),
    ("XSQ-TY", "西山区桃源街道办事处", "XSQ"),
    ("NHQ", "南湖区政府", None),
    ("NHQ-NH", "南湖区南湖街道办事处", "NHQ"),
    ("BCQ", "北城区政府", None),
    ("GXQ", "高新区管委会", None),
]

# (username, role, unit, hotlines, display name)
USERS = [
    ("admin", Role.ADMIN, None, [], "系统管理员"),
    ("agent1", Role.AGENT, None, [], "话务员王芳"),
    ("agent2", Role.AGENT, None, [], "话务员李娜"),
    ("dispatcher1", Role.DISPATCHER, None, [], "派单员张伟"),
    ("supervisor1", Role.SUPERVISOR, None, [], "督办员刘洋"),
    ("inspector1", Role.INSPECTOR, None, [], "网格员陈静"),
    ("zjj", Role.UNIT, "ZJJ", [], "市住建局承办人"),
    ("zjj_wy", Role.UNIT, "ZJJ-WY", [], "物业管理科承办人"),
    ("cgj", Role.UNIT, "CGJ", [], "市城管局承办人"),
    ("cgj_zf", Role.UNIT, "CGJ-ZF", [], "执法支队承办人"),
    ("scj", Role.UNIT, "SCJ", [], "市场监管局承办人"),
    ("yjj", Role.UNIT, "YJJ", [], "应急管理局承办人"),
    ("rsj", Role.UNIT, "RSJ", [], "人社局承办人"),
    ("dhq", Role.UNIT, "DHQ", [], "东湖区承办人"),
    ("dhq_dh", Role.UNIT, "DHQ-DH", [], "东湖街道承办人"),
    ("zjj_leader", Role.LEADER, "ZJJ", [], "市住建局分管领导"),
    ("aq_dispatcher", Role.DISPATCHER, None, ["12350"], "12350分平台派单员"),
    ("aq_supervisor", Role.SUPERVISOR, None, ["12350"], "12350分平台督办员"),
]
DEMO_ACCOUNTS = [(u, DEMO_PASSWORD, role.value) for u, role, *_ in USERS]

# (code, name, parent, default unit). First-level names follow the TipDM categories, so a
# model trained on that data (scripts/demo.sh does) maps onto this catalogue by name.
CATEGORIES = [
    ("JY", "教育文体", None, "JYJ"),
    ("WS", "卫生计生", None, "WJW"),
    ("CJ", "城乡建设", None, "ZJJ"),
    ("CJ.WY", "物业管理", "CJ", "ZJJ-WY"),
    ("CJ.WY.01", "物业服务纠纷", "CJ.WY", "ZJJ-WY"),
    ("CJ.JZ", "建筑施工", "CJ", "ZJJ-JG"),
    ("CJ.JZ.01", "夜间施工扰民", "CJ.JZ", "ZJJ-JG"),
    ("CG", "城市管理", None, None),
    ("CG.SR", "市容环境", "CG", "CGJ-SR"),
    ("CG.SR.01", "占道经营", "CG.SR", "CGJ-ZF"),
    ("CG.SR.02", "垃圾清运", "CG.SR", "CGJ-SR"),
    ("CG.SZ", "市政设施", "CG", "CGJ"),
    ("CG.SZ.01", "道路积水", "CG.SZ", "CGJ"),
    ("SC", "商贸旅游", None, "SCJ"),
    ("SC.JG", "价格监管", "SC", "SCJ-JG"),
    ("SC.JG.01", "价格欺诈", "SC.JG", "SCJ-JG"),
    ("SC.SP", "食品安全", "SC", "SCJ"),
    ("AQ", "安全生产", None, None),
    ("AQ.YH", "安全隐患", "AQ", "YJJ"),
    ("LD", "劳动和社会保障", None, "RSJ"),
    ("LD.GZ", "拖欠工资", "LD", "RSJ"),
    ("LD.SB", "社保咨询", "LD", "RSJ-SB"),
    ("ZF", "住房保障", None, None),
    ("ZF.GJJ", "公积金", "ZF", "GJJ"),
    ("HB", "环境保护", None, "HBJ"),
    ("HB.ZS", "噪声污染", "HB", "HBJ"),
    ("JT", "交通运输", None, "JTJ"),
    ("JT.CZ", "出租车与网约车", "JT", "JTJ"),
]

# (hotline, category, type, unit, text, address)
REQUESTS = [
    (
        "12345",
        "CJ.WY.01",
        "complaint",
        "ZJJ-WY",
        "小区物业长期不清理楼道垃圾,多次反映无人处理",
        "东湖区湖滨街道锦绣花园3栋",
    ),
    (
        "12345",
        "CJ.JZ.01",
        "complaint",
        "ZJJ-JG",
        "工地晚上十一点以后还在施工,噪音太大影响休息",
        "西山区桃源街道建设路工地",
    ),
    (
        "12319",
        "CG.SR.01",
        "report",
        "CGJ-ZF",
        "菜市场门口摊贩占道经营,早上堵得车过不去",
        "东湖区东湖街道新华路菜市场",
    ),
    (
        "12319",
        "CG.SR.02",
        "complaint",
        "CGJ-SR",
        "小区门口垃圾桶三天没人清运,臭味很大",
        "南湖区南湖街道南湖新村",
    ),
    (
        "12319",
        "CG.SZ.01",
        "help",
        "CGJ",
        "下雨后路口积水很深,行人没法通过",
        "北城区北城街道解放路与中山路交叉口",
    ),
    (
        "12358",
        "SC.JG.01",
        "report",
        "SCJ-JG",
        "超市标价和结账价格不一致,多收了钱",
        "高新区高新大道华联超市",
    ),
    ("12345", "SC.SP", "complaint", "SCJ", "饭店卖的食物变质,吃了拉肚子", "东湖区新城街道美食街"),
    (
        "12350",
        "AQ.YH",
        "report",
        "YJJ",
        "厂房里堆放大量易燃物,消防通道被堵",
        "高新区科技园二期厂房",
    ),
    ("12345", "LD.GZ", "help", "RSJ", "在工地干了三个月活,老板一直拖欠工资不给", "西山区西山街道"),
    ("12345", "LD.SB", "consultation", "RSJ-SB", "想咨询一下灵活就业人员怎么缴纳社保", None),
    ("12345", "ZF.GJJ", "consultation", "GJJ", "公积金提取需要带哪些材料,可以网上办吗", None),
    (
        "12345",
        "HB.ZS",
        "complaint",
        "HBJ",
        "楼下烧烤店油烟和噪音每天到凌晨",
        "南湖区青山湖街道滨湖路",
    ),
    ("12345", "JT.CZ", "complaint", "JTJ", "出租车司机拒载还绕路,态度很差", "东湖区火车站"),
    (
        "12345",
        None,
        "suggestion",
        "DHQ",
        "建议在小区附近增设公交站点,方便老人出行",
        "东湖区湖滨街道",
    ),
    (
        "12345",
        None,
        "praise",
        "DHQ-DH",
        "感谢东湖街道工作人员及时帮忙解决了停水问题",
        "东湖区东湖街道",
    ),
]


# Reports from phones carry a position: each demo address sits at a fixed point of a grid
# cell of its district (dispatch/data/grid_cells.geojson), so the demo's maps and 位置 →
# 地址 have known addresses to show.
POSITIONED = frozenset({"web", "app", "inspector"})


def _places() -> dict[str, tuple[float, float]]:
    cells = json.loads(DEMO_CELLS.read_text(encoding="utf-8"))["features"]
    places = {}
    for address in sorted({r[5] for r in REQUESTS if r[5]}):
        mine = [c for c in cells if address.startswith(c["properties"]["district"])]
        if not mine:
            continue
        key = hashlib.sha256(address.encode()).digest()
        ring = mine[key[0] % len(mine)]["geometry"]["coordinates"][0]
        lngs, lats = [p[0] for p in ring], [p[1] for p in ring]
        fx, fy = 0.1 + 0.8 * key[1] / 255, 0.1 + 0.8 * key[2] / 255
        lat = min(lats) + fy * (max(lats) - min(lats))
        lng = min(lngs) + fx * (max(lngs) - min(lngs))
        places[address] = (round(lat, 6), round(lng, 6))
    return places


PLACES = _places()
PHONES = ["1380791{:04d}", "1397006{:04d}", "1587912{:04d}", "1860700{:04d}"]


class SimClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, rng: random.Random, lo_hours: float, hi_hours: float) -> None:
        self.at += timedelta(hours=rng.uniform(lo_hours, hi_hours))


async def _seed_organisation(app: web.Application) -> dict[str, Actor]:
    async with unit_of_work(app[SESSIONS]) as session:
        units = {}
        for code, name, parent in UNITS:
            units[code] = await org.create_unit(session, code, name, parent)
        for code, name, parent, unit in CATEGORIES:
            await org.create_category(session, code, name, parent, unit)
        actors = {}
        existing = set(await session.scalars(select(User.username)))
        for username, role, unit, hotlines, display in USERS:
            if username not in existing:  # e.g. admin from HOTLINE_ADMIN_PASSWORD
                await accounts.create_user(
                    session,
                    app[PASSWORDS],
                    username,
                    DEMO_PASSWORD,
                    role,
                    unit,
                    hotlines,
                    display,
                    must_change_password=False,  # printed for the demo, meant to be used
                )
            ref = None
            if unit:
                u = units[unit]
                ref = UnitRef(u.id, u.code, u.name, u.path)
            actors[username] = Actor(username, role, ref, frozenset(hotlines))
        return actors


def _unit_actor(actors: dict[str, Actor], code: str, units: dict[str, Unit]) -> Actor:
    """A user of the unit or of its nearest ancestor that has one."""
    for actor in actors.values():
        if actor.unit and actor.unit.code == code:
            return actor
    unit = units[code]
    for actor in actors.values():
        if actor.unit and unit.path.startswith(actor.unit.path):
            return actor
    return Actor(
        f"{code.lower()}_staff", Role.UNIT, UnitRef(unit.id, unit.code, unit.name, unit.path)
    )


async def _drive(
    service: DispatchService,
    clock: SimClock,
    rng: random.Random,
    actors: dict[str, Actor],
    units: dict[str, Unit],
    horizon: datetime,
) -> None:
    hotline, category, rtype, unit, text, address = rng.choice(REQUESTS)
    agent = actors[rng.choice(["agent1", "agent2"])]
    dispatcher = actors["aq_dispatcher" if hotline == "12350" else "dispatcher1"]
    supervisor = actors["aq_supervisor" if hotline == "12350" else "supervisor1"]
    phone = rng.choice(PHONES).format(rng.randrange(10_000))
    fields = {
        "channel": rng.choice(["phone"] * 6 + ["web", "app", "wechat", "inspector"]),
        "hotline": hotline,
        "content": text,
        "caller_phone": phone,
        "caller_name": rng.choice(["王先生", "李女士", "张先生", "刘女士", "市民"]),
        "address": address,
        "district": address[:3] if address else None,
        "type": rtype,
        "urgency": "urgent" if rng.random() < 0.05 else "normal",
    }
    if fields["channel"] in POSITIONED and address in PLACES:  # a phone's GPS
        fields["latitude"], fields["longitude"] = PLACES[address]
    detail = await service.register(agent, fields)
    number = detail.order.number
    fate = rng.random()
    stop = rng.random()  # some orders are caught mid-way: waiting for dispatch, accept, ...
    if stop < 0.04:
        return

    async def step(actor: Actor, action: str, lo: float, hi: float, **payload) -> bool:
        clock.advance(rng, lo, hi)
        if clock.at > horizon:
            return False
        await service.act(actor, number, action, payload)
        return True

    if fate < 0.6 and rtype == "consultation":
        await step(agent, "answer", 0.05, 0.2, text="已根据知识库口径答复市民")
        if await step(supervisor, "review", 1, 8, approve=True):
            await step(agent, "callback", 2, 30, satisfaction="satisfied", resolved=True)
        return
    if fate < 0.03:
        await step(agent, "invalidate", 0.05, 0.2, reason="骚扰电话,无实际诉求")
        return
    body = {"unit": unit, **({"category": category} if category else {})}
    if not await step(dispatcher, "dispatch", 0.2, 3, **body) or stop < 0.08:
        return
    handler = _unit_actor(actors, unit, units)
    if fate < 0.12:  # returned: wrong unit, the dispatcher re-dispatches
        if not await step(handler, "return", 0.5, 4, reason="不属于本单位职责范围,建议改派"):
            return
        if stop < 0.3:
            return
        unit = rng.choice(["DHQ", "XSQ", "NHQ"])
        handler = _unit_actor(actors, unit, units)
        if not await step(dispatcher, "redispatch", 0.5, 6, unit=unit):
            return
    if not await step(handler, "accept", 0.2, 6):
        return
    if fate > 0.9:
        await step(handler, "extend_request", 24, 72, days=5, reason="需现场勘查并协调多部门")
        await step(supervisor, "extend_decide", 1, 10, approve=True)
    if not await step(
        handler, "reply", 24, 24 * 12, text="经核查,已安排人员现场处理,问题已整改完毕。"
    ):
        return
    if not await step(supervisor, "review", 1, 20, approve=True):
        return
    satisfied = rng.random() < 0.85
    rated = await step(
        agent,
        "callback",
        2,
        40,
        satisfaction=rng.choice(["satisfied", "basic"]) if satisfied else "dissatisfied",
        resolved=satisfied,
    )
    if satisfied or not rated:
        return
    # 差评核实: some complaints are valid and reopen the order, others are closed
    if rng.random() < 0.5:
        reopened = await step(supervisor, "verify", 2, 8, valid=True, note="核实属实,要求整改")
        if reopened and await step(handler, "accept", 1, 6):
            await step(handler, "reply", 24, 24 * 8, text="已按要求整改到位")
    else:
        await step(supervisor, "verify", 2, 8, valid=False, note="诉求超出职责范围,已向市民解释")


async def load_demo(
    app: web.Application, days: int = 30, per_day: int = 10, seed: int = 12345
) -> bool:
    """Fill an empty database with demo data; a database with orders is left alone."""
    sessions = app[SESSIONS]
    async with sessions() as session:
        await load_demo_cells(session)  # the demo city's grid (maps, 位置 → 地址)
        if await session.scalar(select(func.count(Order.id))):
            return False
    actors = await _seed_organisation(app)
    await app[KB].import_records(read_records(DEMO_KB), by="demo")
    async with sessions() as session:
        units = {u.code: u for u in await session.scalars(select(Unit))}
    live: DispatchService = app[DISPATCH]
    now = live.now()
    rng = random.Random(seed)
    clock = SimClock(now - timedelta(days=days))
    service = DispatchService(sessions, app[SETTINGS], clock)
    service.policy = live.policy
    service.subscribers = list(live.subscribers)
    for day in range(days):
        for _ in range(per_day):
            start = now - timedelta(days=days - day) + timedelta(hours=rng.uniform(0, 14))
            clock.at = start
            try:
                await _drive(service, clock, rng, actors, units, now)
            except AppError as exc:  # e.g. a return after its window: real rules apply
                app.logger.debug("demo step refused: %s", exc.message)
    await live.scan()
    return True
