"""Registration proposes category and unit from a trained model, urgency, type, district."""

from __future__ import annotations

import asyncio
import threading

from sqlalchemy import select

from accounts.domain import Actor, Role, UnitRef
from app.db import unit_of_work
from app.factory import create_app
from app.keys import DUPLICATES, SESSIONS, SUGGESTER
from app.metrics import METRICS, read_all
from classifiers import Record, train
from dispatch import duplicate_index
from dispatch.reading_pool import read_text
from dispatch.storage import Category, Unit
from tests.api.conftest import Api, make_api, seed
from tests.conftest import FakeClock, make_settings

TRAINING = {
    "城乡建设": [
        "小区物业不管楼道垃圾",
        "物业费乱收费",
        "小区电梯坏了物业不修",
        "楼上漏水物业推诿",
        "小区停车位被物业占用",
        "物业公司不作为",
    ],
    "交通运输": [
        "公交车不按站停车",
        "出租车拒载绕路",
        "公交线路调整不合理",
        "网约车乱收费",
        "地铁站出口太少",
        "公交车司机态度差",
    ],
}


def _model_dir(tmp_path):
    records = [
        Record(id=f"{label}-{i}", text=text, title=None, raw={"text": text, "label": label}, line=i)
        for label, texts in TRAINING.items()
        for i, text in enumerate(texts)
    ]
    model = train(records, use_keywords=False, cv_folds=0)
    path = tmp_path / "model"
    model.save(path)
    return path


async def test_registration_suggestions(aiohttp_client, sqlite_url, tmp_path):
    # auto-dispatch off here; see test_confident_orders_are_dispatched_automatically
    api = await _client_with_model(aiohttp_client, sqlite_url, tmp_path, 1.01)

    order = await api.register(
        content="我们小区物业很久不打扫楼道了", address="东湖区湖滨街道锦绣花园"
    )
    suggestions = order["suggestions"]
    assert suggestions["category"][0]["label"] == "城乡建设"
    assert suggestions["category"][0]["code"] == "CJ"
    assert 0 < suggestions["category"][0]["score"] <= 1
    assert suggestions["unit"][0]["unit"] == "ZJJ"
    assert {c["label"] for c in suggestions["category"]} == {"城乡建设", "交通运输"}
    assert order["district"] == "东湖区"
    assert suggestions["urgency"]["urgent"] is False

    fire = await api.register(content="快来人,楼下着火了,有人被困在三楼")
    assert fire["suggestions"]["urgency"]["urgent"] is True
    assert fire["suggestions"]["urgency"]["type"]


async def test_without_a_model_the_service_still_registers(api):
    order = await api.register(content="咨询公积金怎么提取")
    assert order["suggestions"]["category"] == [] and order["suggestions"]["unit"] == []
    assert order["suggestions"]["type"] == "consultation"


async def _client_with_model(aiohttp_client, sqlite_url, tmp_path, threshold):
    settings = make_settings(sqlite_url)
    settings.classifiers.category_model = str(_model_dir(tmp_path))
    settings.classifiers.auto_dispatch_confidence = threshold
    api = Api(await aiohttp_client(create_app(settings, now=FakeClock(), scanner=False)))
    await seed(api)
    await api.call(
        "POST",
        "/api/v1/categories",
        "admin",
        {"code": "CJ", "name": "城乡建设", "default_unit": "ZJJ"},
        expect=201,
    )
    return api


async def test_confident_orders_are_dispatched_automatically(aiohttp_client, sqlite_url, tmp_path):
    api = await _client_with_model(aiohttp_client, sqlite_url, tmp_path, 0.5)
    order = await api.register(content="小区物业不管楼道垃圾,物业公司不作为", type="complaint")
    assert order["suggestions"]["category"][0]["score"] >= 0.5
    assert order["state"] == "dispatched" and order["lead_unit"] == "ZJJ"
    assert order["category"] == "CJ"
    last = order["events"][-1]
    assert last["action"] == "dispatch" and last["by"] == "system"
    assert last["note"].startswith("智能派单:城乡建设")
    # an agent's proposal does not stop 智能派单; it stays on record beside it
    order = await api.register(
        content="小区物业不管楼道垃圾,物业公司不作为", type="complaint", proposed_unit="CGJ"
    )
    assert (order["state"], order["lead_unit"], order["proposed_unit"]) == (
        "dispatched",
        "ZJJ",
        "CGJ",
    )

    # not for consultations, urgent orders, other hotline modes, or weak predictions
    for fields in ({"type": "consultation"}, {"urgency": "urgent"}, {"hotline": "12358"}):
        kept = await api.register(content="小区物业不管楼道垃圾,物业公司不作为", **fields)
        assert kept["state"] == "registered", fields
    weak = await _client_with_model(
        aiohttp_client, sqlite_url.replace(".db", "2.db"), tmp_path, 0.99
    )
    order = await weak.register(content="小区物业不管楼道垃圾", type="complaint")
    assert order["state"] == "registered"


async def test_possible_duplicates(api):
    first = await api.register(
        content="锦绣花园小区楼道垃圾堆积一周无人清理,物业不管", address="东湖区湖滨街道锦绣花园3栋"
    )
    await api.register(content="新华路菜市场门口占道经营严重", address="东湖区东湖街道新华路")
    # a paraphrase at the same road, less precisely placed: shown, not certain
    again = await api.register(
        content="锦绣花园楼道里的垃圾好多天都没人收,臭得很", address="东湖区湖滨街道锦绣花园"
    )
    [duplicate] = again["suggestions"]["duplicates"]
    assert duplicate["number"] == first["number"]
    assert duplicate["same_place"] is True and duplicate["similarity"] > 0.6
    assert duplicate["content"] == "锦绣花园小区楼道垃圾堆积一周无人清理,物业不管"
    assert duplicate["address"] == "东湖区湖滨街道锦绣花园3栋"
    assert duplicate["state"] == "registered" and duplicate["created_at"]
    other = await api.register(content="公积金怎么提取", type="consultation")
    assert other["suggestions"]["duplicates"] == []
    # unit users do not register orders
    await api.call(
        "POST",
        "/api/v1/orders",
        "zjj",
        {"channel": "phone", "hotline": "12345", "content": "x"},
        expect=403,
    )


async def test_suggestions_without_registering(aiohttp_client, sqlite_url, tmp_path):
    """POST /api/v1/suggestions: what the console asks while the agent types (DESIGN §9)."""
    api = await _client_with_model(aiohttp_client, sqlite_url, tmp_path, 0.5)
    first = await api.register(
        content="锦绣花园小区楼道垃圾堆积一周无人清理,物业不管", address="东湖区湖滨街道锦绣花园3栋"
    )
    before = (await api.call("GET", "/api/v1/orders", "dispatcher"))["total"]
    body = {
        "content": "我们锦绣花园楼道里垃圾一直没人清理,物业也不管",
        "address": "东湖区湖滨街道锦绣花园3栋",
        "caller_phone": "13800138000",
    }
    answer = await api.call("POST", "/api/v1/suggestions", "agent", body)
    assert set(answer) >= {"category", "unit", "kb", "duplicates", "type", "urgency"}
    assert answer["category"][0]["code"] == "CJ" and answer["unit"][0]["unit"] == "ZJJ"
    assert [d["number"] for d in answer["duplicates"]] == [first["number"]]
    assert answer["urgency"] == {"urgent": False, "type": None, "linkage": None, "matched": []}
    fire = await api.call("POST", "/api/v1/suggestions", "dispatcher", {"content": "楼下着火了"})
    assert fire["urgency"]["linkage"] == "119" and fire["urgency"]["matched"] == ["着火"]
    assert (await api.call("GET", "/api/v1/orders", "dispatcher"))["total"] == before

    for user in ("zjj", "inspector"):
        await api.call("POST", "/api/v1/suggestions", user, body, expect=403)
    for bad in ({}, {"content": ""}, {"content": "x", "caller_phone": "abc"}, {"text": "x"}):
        err = await api.call("POST", "/api/v1/suggestions", "agent", bad, expect=400)
        assert err["error"]["code"]


async def test_a_certain_repeat_is_merged_and_settled_orders_are_not_offered(api):
    first = await api.register(
        content="文化路与新华街交叉口的红绿灯坏了,车辆乱成一团",
        address="东湖区文化路与新华街交叉口",
    )
    # certain: the same crossing and problem, nearly the same words (a paraphrase such as
    # 文化路新华街路口信号灯不亮 is shown to the agent, not merged without asking)
    repeat = await api.register(
        content="文化路与新华街交叉口的红绿灯坏了,车都乱了", address="文化路与新华街交叉口"
    )
    [duplicate] = repeat["suggestions"]["duplicates"]
    assert duplicate["number"] == first["number"] and duplicate["certain"] is True
    assert repeat["state"] == "merged" and repeat["parent"] == first["number"]
    merge = repeat["events"][-1]
    assert (merge["action"], merge["by"]) == ("merge", "system")
    # a merged order is no parent for the next repeat; once the first is settled, none is
    await api.act("dispatcher", first["number"], "invalidate", reason="测试")
    third = await api.register(
        content="文化路和新华街十字路口红绿灯不工作", address="文化路新华街交叉口"
    )
    assert third["suggestions"]["duplicates"] == [] and third["state"] == "registered"


async def test_duplicates_respect_the_callers_scope(api):
    first = await api.register(
        content="锦绣花园小区楼道垃圾堆积一周无人清理", address="东湖区锦绣花园3栋"
    )
    # an urgent repeat is left for a person even when certain
    urgent = await api.register(
        content="锦绣花园3号楼楼道垃圾没人清理", address="锦绣花园小区三号楼", urgency="urgent"
    )
    assert [d["number"] for d in urgent["suggestions"]["duplicates"]] == [first["number"]]
    assert urgent["suggestions"]["duplicates"][0]["certain"] is True
    assert urgent["state"] == "registered"
    # a sub-platform dispatcher of 12350 does not see 12345's orders
    hidden = await api.register(
        "aq_dispatcher",
        hotline="12350",
        content="锦绣花园3号楼楼道垃圾没人清理",
        address="锦绣花园小区三号楼",
    )
    assert hidden["suggestions"]["duplicates"] == [] and hidden["state"] == "registered"


async def test_the_index_is_rebuilt_from_the_database_at_start(aiohttp_client, sqlite_url, clock):
    api = await make_api(aiohttp_client, sqlite_url, clock)
    old = await api.register(content="幸福小区垃圾没人清运", address="幸福小区2栋")
    clock.advance(days=20)
    kept = await api.register(content="阳光花园5栋电梯坏了三天没人修", address="阳光花园5栋")
    gone = await api.register(content="锦绣花园门口路灯不亮", address="锦绣花园")
    await api.act("dispatcher", gone["number"], "invalidate", reason="重复来电")
    await api.act("dispatcher", kept["number"], "dispatch", unit="ZJJ-WY")
    clock.advance(days=15)  # `old` is now 35 days old, out of the 30-day window

    app = create_app(make_settings(sqlite_url), now=clock, scanner=False)
    restarted = await aiohttp_client(app)
    index = restarted.server.app[DUPLICATES]
    await _ready(Api(restarted))
    assert len(index) == 1 and kept["number"] in index
    assert old["number"] not in index and gone["number"] not in index
    # the unit it was dispatched to was loaded with it: its staff see it, others do not
    zjj = Actor("zjj", Role.UNIT, UnitRef(1, "ZJJ", "市住建局", "/1/"))
    cgj = Actor("cgj", Role.UNIT, UnitRef(3, "CGJ", "市城管局", "/3/"))
    ask = ("阳光花园五号楼的电梯坏了没人管", "阳光花园小区5号楼", None)
    assert [d.number for d in index.query(*ask, zjj, clock())] == [kept["number"]]
    assert index.query(*ask, cgj, clock()) == []


async def _ready(api: Api) -> dict:
    """/healthz once the duplicate index is built (in the background since start-up)."""
    for _ in range(200):
        health = await api.call("GET", "/healthz")
        if health["parts"]["duplicate_index"] != "building":
            return health
        await asyncio.sleep(0.02)
    raise AssertionError("the duplicate index was not built")


async def test_the_node_serves_while_the_index_is_built_and_keeps_the_changes_meanwhile(
    aiohttp_client, sqlite_url, clock, monkeypatch
):
    """A node answers before its duplicate index is built (without duplicates, /healthz
    and /metrics say it builds); what changes during the build is in the index after it."""
    api = await make_api(aiohttp_client, sqlite_url, clock)
    closed = await api.register(content="阳光花园5栋电梯坏了三天没人修", address="阳光花园5栋")
    await api.register(content="锦绣花园门口路灯不亮", address="锦绣花园")

    release = threading.Event()
    indexed = duplicate_index._indexed

    def held_back(*args):  # the build's feature step (a worker thread) waits for the test
        release.wait(10)
        return indexed(*args)

    monkeypatch.setattr(duplicate_index, "_indexed", held_back)
    app = create_app(make_settings(sqlite_url), now=clock, scanner=False)
    restarted = Api(await aiohttp_client(app))
    index = app[DUPLICATES]
    assert (await restarted.call("GET", "/healthz"))["parts"]["duplicate_index"] == "building"
    await read_all(app[METRICS])  # as the background refresh does
    metrics = await (await restarted.client.get("/metrics")).text()
    assert "hotline_duplicate_index_ready 0.0" in metrics
    repeat = {"content": "阳光花园五号楼电梯坏了没人修", "address": "阳光花园5号楼"}
    # served meanwhile, without duplicates
    added = await restarted.register(content="幸福小区垃圾没人清运", address="幸福小区2栋")
    assert added["suggestions"]["duplicates"] == []
    await restarted.act("dispatcher", closed["number"], "invalidate", reason="重复来电")
    release.set()

    health = await _ready(restarted)
    assert health["parts"]["duplicate_index"] == 2 == len(index)
    assert added["number"] in index and closed["number"] not in index
    found = await restarted.call("POST", "/api/v1/suggestions", "agent", repeat)
    assert found["duplicates"] == []  # the invalidated order is not suggested
    again = await restarted.call(
        "POST",
        "/api/v1/suggestions",
        "agent",
        {"content": "幸福小区2栋的垃圾一直没人清运", "address": "幸福小区2栋"},
    )
    assert [d["number"] for d in again["duplicates"]] == [added["number"]]


async def test_the_catalogue_is_read_once_and_forgotten_when_it_changes(
    aiohttp_client, sqlite_url, tmp_path
):
    """Suggestions keep the catalogue in memory; a change to a category or unit reaches
    the next suggestion at once (no stale default unit)."""
    api = await _client_with_model(aiohttp_client, sqlite_url, tmp_path, 1.01)
    body = {"content": "我们小区物业很久不打扫楼道了"}
    first = await api.call("POST", "/api/v1/suggestions", "agent", body)
    assert first["unit"][0]["unit"] == "ZJJ"
    suggester = api.client.app[SUGGESTER]
    assert suggester.catalogue is not None and "城乡建设" in suggester.catalogue
    async with unit_of_work(api.client.app[SESSIONS]) as session:  # as the admin screen does
        category = await session.get(Category, "CJ")
        category.default_unit_id = await session.scalar(select(Unit.id).where(Unit.code == "CGJ"))
    assert suggester.catalogue is None
    again = await api.call("POST", "/api/v1/suggestions", "agent", body)
    assert again["unit"][0]["unit"] == "CGJ"


async def test_a_text_is_read_once_but_duplicates_are_always_fresh(
    aiohttp_client, sqlite_url, tmp_path
):
    """The console asks on every pause in typing and the registration asks again: the
    model runs once per text; the duplicates of the same text change as orders come."""
    api = await _client_with_model(aiohttp_client, sqlite_url, tmp_path, 1.01)
    suggester = api.client.app[SUGGESTER]
    model, runs = suggester.category_model, []
    predict = model.predict
    model.predict = lambda *args, **kw: runs.append(1) or predict(*args, **kw)
    body = {"content": "幸福路12号小区物业很久不打扫楼道了", "address": "幸福路12号"}
    first = await api.call("POST", "/api/v1/suggestions", "agent", body)
    assert first["duplicates"] == [] and len(runs) == 1
    number = (await api.register(**body))["number"]  # the same text: no second model run
    again = await api.call("POST", "/api/v1/suggestions", "agent", body)
    assert len(runs) == 1
    assert again["category"] == first["category"] and again["kb"] == first["kb"]
    assert [d["number"] for d in again["duplicates"]] == [number]
    other = await api.call("POST", "/api/v1/suggestions", "agent", {"content": "公交车不按站停车"})
    assert len(runs) == 2 and other["category"][0]["label"] == "交通运输"


async def test_a_new_category_is_known_to_the_next_registration(api):
    """Registrations check categories against a per-process copy, forgotten on commit."""
    await api.register()  # the copy is read
    body = {"channel": "phone", "hotline": "12345", "content": "路灯不亮", "category": "LD"}
    refused = await api.call("POST", "/api/v1/orders", "agent", body, expect=400)
    assert refused["error"]["code"] == "unknown_category"
    new = {"code": "LD", "name": "路灯", "default_unit": "CGJ"}
    await api.call("POST", "/api/v1/categories", "admin", new, expect=201)
    order = await api.call("POST", "/api/v1/orders", "agent", body, expect=201)
    assert order["category"] == "LD"


async def test_unseen_texts_are_read_by_worker_processes_with_the_same_answers(
    aiohttp_client, sqlite_url, tmp_path
):
    """dispatch/reading_pool.py: the reading of a new text moves to a worker process (off
    the event loop) and answers exactly what the process itself would; a KB edit reaches
    the workers with the next reading."""
    settings = make_settings(sqlite_url)
    settings.classifiers.category_model = str(_model_dir(tmp_path))
    settings.classifiers.reading_workers = 1
    api = Api(await aiohttp_client(create_app(settings, now=FakeClock(), scanner=False)))
    await seed(api)
    suggester = api.client.app[SUGGESTER]
    pool = suggester.pool
    assert pool is not None and pool.workers == 1

    async def ask(text: str) -> dict:
        return await api.call("POST", "/api/v1/suggestions", "agent", {"content": text})

    await ask("小区物业不管楼道垃圾")  # starts the workers; answered in-process meanwhile
    for i in range(300):
        if pool.ready:
            break
        await ask(f"公交车不按站停车 {i}")  # a new text each time: read, not remembered
        await asyncio.sleep(0.1)
    assert pool.ready
    texts = ["物业费乱收费,电梯也坏了", "出租车拒载还绕路", "楼下着火了有人被困", "公积金怎么提取"]
    before = pool.answered
    for text in texts:
        answer = await ask(text)
        kb, urgency, labels, request_type = read_text(
            suggester.category_model, suggester.kb.index, text, None, "12345", 3
        )
        assert answer["kb"] == kb and answer["urgency"] == urgency
        assert answer["type"] == request_type
        assert [(c["label"], c["score"]) for c in answer["category"]] == [
            (label, round(score, 4)) for label, score in labels
        ]
    assert pool.answered == before + len(texts)
    assert (await ask("楼下着火了"))["urgency"]["linkage"] == "119"

    # a new KB entry: the next unseen text is searched in the new index by the workers
    entry = {
        "id": "kb-dog-001",
        "title": "犬只登记办理指南",
        "questions": ["养狗怎么办理犬只登记"],
        "answer": "携带犬只免疫证明到辖区派出所办理犬只登记。",
        "category": "GA",
        "unit": "ZJJ",
    }
    await api.call("POST", "/api/v1/kb/entries", "supervisor", entry, expect=201)
    await api.call("POST", "/api/v1/kb/entries/kb-dog-001/review", "supervisor", {})
    await api.call("POST", "/api/v1/kb/entries/kb-dog-001/publish", "supervisor", {})
    for i in range(100):
        found = await ask(f"我家养了条狗要去哪里登记 {i}")
        if pool.ready and found["kb"]:
            break
        await asyncio.sleep(0.1)
    assert found["kb"][0]["id"] == "kb-dog-001"
    assert pool.answered > before + len(texts)
