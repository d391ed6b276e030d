"""The in-memory index of open orders: add, remove, state changes, age-out, visibility,
and the pair model's decisions on the near misses that must stay apart.

Every index holds synthetic background orders (other estates and roads, other
problems than the tests' rubbish), as a centre's index does: a bigram's weight is its
rarity among the open orders, which three orders alone cannot tell."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from accounts.domain import Actor, Role, UnitRef
from benchmarks.duplicates.synthetic import World
from config import load_settings
from dispatch.duplicate_index import DuplicateIndex, thresholds_from

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
DISPATCHER = Actor("d", Role.DISPATCHER, hotlines=frozenset({"12345", "12350"}))
RUBBISH = "锦绣花园小区楼道垃圾堆积一周无人清理,物业不管"
REPEAT = ("我们锦绣花园楼道里垃圾一直没人清理,物业也不管", "锦绣花园小区三号楼", "东湖区")


BACKGROUND = [
    order for order in World(seed=5).orders(400) if not {"锦", "绣"} & set(order["address"])
]


@pytest.fixture
def index() -> DuplicateIndex:
    thresholds = thresholds_from(load_settings(environ={}).classifiers)
    index = DuplicateIndex(thresholds, days=30, max_candidates=1000)
    for order in BACKGROUND:
        index.add(
            order["id"],
            order["content"],
            order["address"],
            order["district"],
            state="registered",
            created_at=NOW,
            hotline="12399",  # nobody in these tests dispatches it
            created_by="agent",
        )
    return index


def _add(index, number, *, content=RUBBISH, address="锦绣花园3栋", age=0, **kw):
    fields = {
        "state": "registered",
        "created_at": NOW - timedelta(days=age),
        "hotline": "12345",
        "created_by": "agent",
        **kw,
    }
    index.add(number, content, address, "东湖区", **fields)


def _numbers(index, actor=DISPATCHER, now=NOW, **kw):
    return [d.number for d in index.query(*REPEAT, actor, now, **kw)]


def _found(index, content, address, district="东湖区"):
    return index.query(content, address, district, DISPATCHER, NOW)


def test_a_repeat_finds_the_open_order_with_what_the_agent_needs(index):
    _add(index, "A")
    _add(index, "B", content="锦绣花园小区门口路灯不亮", address="锦绣花园")
    _add(index, "C", content=RUBBISH.replace("锦绣", "阳光"), address="阳光花园3栋")
    found, *others = index.query(*REPEAT, DISPATCHER, NOW)
    assert found.number == "A" and found.certain and found.same_place
    # the same words at another estate may be shown below it, never as certain
    assert [d.number for d in others] in ([], ["C"]) and not any(d.certain for d in others)
    shown = found.as_json()
    assert shown["content"] == RUBBISH and shown["address"] == "锦绣花园3栋"
    assert shown["state"] == "registered" and shown["created_at"] == NOW.isoformat()
    assert set(shown) >= {"number", "similarity", "same_place", "certain"}


def test_long_contents_are_clipped(index):
    _add(index, "A", content=RUBBISH + "。" + "物业一直推诿" * 30)
    [found] = index.query(*REPEAT, DISPATCHER, NOW)
    assert len(found.as_json()["content"]) <= 81


def test_removed_and_settled_orders_are_not_found(index):
    _add(index, "A")
    _add(index, "B")
    index.remove("A")
    index.remove("unknown")  # harmless
    assert _numbers(index) == ["B"]
    index.update("B", "dispatched", ["/1/"])
    assert _numbers(index) == ["B"]
    for state in ("replied", "closed", "merged", "invalid"):
        _add(index, "B")
        index.update("B", state, [])
        assert _numbers(index) == [] and "B" not in index


def test_the_order_itself_is_excluded(index):
    _add(index, "A")
    assert _numbers(index, exclude="A") == []


def test_orders_age_out_of_the_window(index):
    _add(index, "OLD", age=31)
    _add(index, "NEW", age=29)
    assert _numbers(index) == ["NEW"]
    assert "OLD" not in index and len(index) == len(BACKGROUND) + 1
    assert _numbers(index, now=NOW + timedelta(days=2)) == []
    assert len(index) == len(BACKGROUND)


def test_a_re_added_order_is_not_dropped_by_its_old_age_entry(index):
    _add(index, "A", age=31)
    _add(index, "A", age=0)
    assert _numbers(index) == ["A"]


def test_visibility(index):
    _add(index, "ZJJ-ORDER", unit_paths=["/1/2/"])
    _add(index, "AQ-ORDER", hotline="12350")
    _add(index, "INSPECTED", created_by="inspector", unit_paths=["/3/"])
    everyone = set(_numbers(index))
    assert everyone == {"ZJJ-ORDER", "AQ-ORDER", "INSPECTED"}
    parent = Actor("zjj", Role.UNIT, UnitRef(1, "ZJJ", "市住建局", "/1/"))
    child = Actor("wy", Role.UNIT, UnitRef(2, "ZJJ-WY", "物业科", "/1/2/"))
    other = Actor("cgj", Role.UNIT, UnitRef(3, "CGJ", "市城管局", "/3/"))
    assert _numbers(index, parent) == ["ZJJ-ORDER"]
    assert _numbers(index, child) == ["ZJJ-ORDER"]
    assert _numbers(index, other) == ["INSPECTED"]
    assert _numbers(index, Actor("x", Role.UNIT)) == []
    assert _numbers(index, Actor("aq", Role.DISPATCHER, hotlines=frozenset({"12350"}))) == [
        "AQ-ORDER"
    ]
    assert _numbers(index, Actor("inspector", Role.INSPECTOR)) == ["INSPECTED"]


def test_a_busy_place_is_capped(index):
    for i in range(300):
        _add(index, f"N{i}", content=f"锦绣花园{i}栋门口路灯不亮", address=f"锦绣花园{i}栋")
    _add(index, "A")
    # only the cap is scored, but the estate's orders are all filed
    assert len(index) == len(BACKGROUND) + 301
    assert len(index.query(*REPEAT, DISPATCHER, NOW, limit=10)) <= 10


def test_one_incident_in_other_words_is_certain(index):
    _add(index, "A")
    [found] = _found(index, "锦绣花园三号楼楼道的垃圾一直没人清理,物业也不管", "锦绣花园小区三号楼")
    assert found.number == "A" and found.certain


def test_same_place_other_problem_is_not_a_duplicate(index):
    _add(index, "A", content="锦绣花园小区门口路灯不亮,晚上很黑", address="锦绣花园")
    assert _found(index, "锦绣花园小区楼道垃圾堆积一周无人清理", "锦绣花园3栋") == []


def test_same_problem_other_building_or_district_is_not_a_duplicate(index):
    _add(index, "A", address="锦绣花园5栋")
    _add(index, "B", address="锦绣花园3栋")
    index.add("C", RUBBISH, "锦绣花园3栋", "西湖区", state="registered", created_at=NOW,
              hotline="12345", created_by="agent")  # fmt: skip
    assert [d.number for d in _found(index, RUBBISH, "锦绣花园3栋")] == ["B"]


def test_without_an_address_it_is_at_most_a_suggestion(index):
    _add(index, "A", content="楼道垃圾没人清理", address="")
    assert not any(d.certain for d in _found(index, "楼道垃圾没人清理", "", None))


def test_slots_are_reused_without_stale_postings(index):
    """A removed order's postings are left behind and compacted later: an order filed in
    its slot afterwards is not found by the removed one's words."""
    for i in range(200):
        _add(index, f"S{i}", content=f"翠竹苑{i}栋楼道灯坏了", address=f"翠竹苑{i}栋")
    for i in range(195):
        index.remove(f"S{i}")
    _add(index, "A")  # takes a freed slot
    assert len(index) == len(BACKGROUND) + 6
    assert _numbers(index)[:1] == ["A"]
    # the estate's name is held by 5 orders now: its posting was compacted on the way
    grams = index.held("S199").whole.tolist()
    assert all(len(index._postings[g]) <= 2 * index._counts[g] + 16 for g in grams)
    lamp = index.query("翠竹苑楼道灯坏了", "翠竹苑", None, DISPATCHER, NOW, limit=10)
    assert {d.number for d in lamp} <= {f"S{i}" for i in range(195, 200)}
    assert index.memory() > 0
