"""A hand-built week of orders, driven through the real API with the FakeClock.

The clock starts on Monday 23 November 2026, 10:00 Shanghai; every time below is local.
Accept deadline: 2 working hours (working hours 09:00–12:00, 13:30–17:30);
consultation: 2 working days (14 h), complaint: 15 working days.

Orders (registered by, hotline, channel, district, type; what happens; lead unit at
the end):

- O1 agent, 12345, phone, 东湖区, complaint, category HJ: dispatch CGJ Mon 10:00,
  accepted 10:30, replied 11:00, rated 不满意/unresolved Mon 14:00, 核实 valid ->
  reopened, replied Wed 09:30, rated 满意/resolved and closed Thu 10:00 (CGJ).
- O2 agent, 12345, web, 东湖区, consultation: dispatch CGJ Mon 10:00 (accept due
  12:00), accepted Mon 14:00 (late), replied Thu 10:00 (due Wed 10:00: late), rated
  满意/resolved, closed Thu 10:00 (CGJ).
- O3 agent, 12345, phone, 西湖区, consultation: dispatch ZJJ Mon 10:00, ZJJ returns
  (退单) 10:30, redispatch DHQ 11:00 (accept due 14:30), accepted Mon 14:00, extension
  approved, replied Wed 09:30 (DHQ).
- O4 agent, 12345, wechat, 西湖区, consultation: answered directly Mon 10:00, reviewed,
  rated 基本满意/resolved, closed Mon 10:30 (no unit).
- O5 agent, 12345, phone, no district: invalidated (not a request: in no KPI).
- O6 dispatcher, 12319, phone, 东湖区, consultation: dispatch CGJ Mon 10:00, never
  accepted (due 12:00 passed) (CGJ).
- O7 agent, 12345, phone, 东湖区, consultation: dispatch ZJJ Mon 10:00, accepted
  10:30, sub-dispatched to ZJJ-WY which hands it back (not a 退单), ZJJ replies Mon
  11:00 (ZJJ).
- O8 agent, 12345, phone, 西湖区, consultation: registered and dispatched to DHQ Thu
  10:00; its accept due (Thu 12:00) is still ahead at the query time (DHQ).
- O9 agent, 12345, phone, 东湖区, consultation: dispatch ZJJ-WY Mon 10:00, accepted
  Mon 14:00 (late) (ZJJ-WY).

The queries run at Thursday 26 November 10:00 (after the last action).
"""

from __future__ import annotations

from tests.api.conftest import Api
from tests.conftest import FakeClock


async def build(api: Api, clock: FakeClock) -> dict[str, str]:
    await api.call(
        "POST", "/api/v1/categories", "admin", {"code": "HJ", "name": "环境卫生"}, expect=201
    )
    east, west = "东湖区", "西湖区"

    async def reg(user="agent", **fields) -> str:
        fields.setdefault("type", "consultation")
        return (await api.register(user, **fields))["number"]

    o = {}
    # ---- Monday 10:00
    o["O1"] = await reg(type="complaint", district=east, category="HJ")
    o["O2"] = await reg(channel="web", district=east)
    o["O3"] = await reg(district=west)
    o["O4"] = await reg(channel="wechat", district=west)
    o["O5"] = await reg()
    o["O6"] = await reg("dispatcher", hotline="12319", district=east)
    o["O7"] = await reg(district=east)
    o["O9"] = await reg(district=east)
    for name, unit in (("O1", "CGJ"), ("O2", "CGJ"), ("O3", "ZJJ"), ("O6", "CGJ")):
        await api.act("dispatcher", o[name], "dispatch", unit=unit)
    await api.act("dispatcher", o["O7"], "dispatch", unit="ZJJ")
    await api.act("dispatcher", o["O9"], "dispatch", unit="ZJJ-WY")
    await api.act("agent", o["O4"], "answer", text="已告知办理流程")
    await api.act("agent", o["O5"], "invalidate", reason="骚扰电话")

    # ---- Monday 10:30
    clock.advance(minutes=30)
    await api.act("cgj", o["O1"], "accept")
    await api.act("zjj", o["O3"], "return", reason="不属于本单位职责")
    await api.act("zjj", o["O7"], "accept")
    await api.act("zjj", o["O7"], "subdispatch", unit="ZJJ-WY")
    await api.act("zjj_wy", o["O7"], "return", reason="请主办单位直接办理")
    await api.act("supervisor", o["O4"], "review", approve=True)
    await api.act("agent", o["O4"], "callback", satisfaction="basic", resolved=True)

    # ---- Monday 11:00
    clock.advance(minutes=30)
    await api.act("cgj", o["O1"], "reply", text="已清理")
    await api.act("dispatcher", o["O3"], "redispatch", unit="DHQ")
    await api.act("zjj", o["O7"], "reply", text="已处理")

    # ---- Monday 14:00
    clock.advance(hours=3)
    await api.act("cgj", o["O2"], "accept")
    await api.act("dhq", o["O3"], "accept")
    await api.act("zjj_wy", o["O9"], "accept")
    await api.act("dhq", o["O3"], "extend_request", days=1, reason="需现场核查")
    await api.act("supervisor", o["O3"], "extend_decide", approve=True)
    await api.act("supervisor", o["O1"], "review", approve=True)
    await api.act("agent", o["O1"], "callback", satisfaction="dissatisfied", resolved=False)
    await api.act("supervisor", o["O1"], "verify", valid=True, note="核实属实")
    await api.act("cgj", o["O1"], "accept")

    # ---- Wednesday 09:30
    clock.advance(days=1, hours=19, minutes=30)
    await api.act("dhq", o["O3"], "reply", text="已答复")
    await api.act("cgj", o["O1"], "reply", text="整改完毕")

    # ---- Thursday 10:00
    clock.advance(days=1, minutes=30)
    await api.act("cgj", o["O2"], "reply", text="已答复")
    for name in ("O2", "O1"):
        await api.act("supervisor", o[name], "review", approve=True)
        await api.act("agent", o[name], "callback", satisfaction="satisfied", resolved=True)
    o["O8"] = await reg(district=west)
    await api.act("dispatcher", o["O8"], "dispatch", unit="DHQ")
    return o
