"""Synthetic open orders and repeat requests for the duplicate benchmark (并单).

Places are drawn from made-up estate and road names (900 of each), problems from a few
kinds each told in several ways, so a repeat is the same place and problem in other
words, and a near miss shares one of the two. Deterministic for a seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

FIRST = "阳锦金幸和翠碧龙万绿滨东世书紫华康安富丽恒泰宏盛嘉怡君晨星"
SECOND = "光绣色福谐湖水庭科地江方纪香荆苑宁居贵都庆达源兴禾悦雅曦辰"
ESTATE_SUFFIXES = ["花园", "家园", "小区", "苑", "新村", "公寓"]
ROAD_SUFFIXES = ["路", "街", "大道"]
DISTRICTS = ["东湖区", "西湖区", "南山区", "北城区", "江滨区"]
# kind -> ways of telling it (a repeat picks another one)
PROBLEMS = {
    "garbage": [
        "楼道垃圾堆积一周无人清理,臭气熏天",
        "垃圾好几天没人收,都堆到路边了",
        "垃圾桶满了没人清运,味道很大",
    ],
    "noise": [
        "晚上工地施工噪音扰民,吵得睡不着",
        "半夜还在施工,声音太大影响休息",
        "夜间作业轰鸣声不断,居民无法入睡",
    ],
    "streetlight": [
        "路灯不亮已经一个星期了,晚上出行不安全",
        "一排路灯都坏了,晚上黑漆漆的",
        "路灯晚上不亮,老人走路摔倒过",
    ],
    "water": [
        "小区停水两天了,也没有通知",
        "家里没水了,自来水一直不来",
        "突然断水,什么时候恢复供水",
    ],
    "drainage": [
        "下水道堵塞污水外溢,到处是积水",
        "污水井冒水,路面全是脏水",
        "排水不畅,一下雨就积水严重",
    ],
    "parking": [
        "车辆乱停乱放堵住消防通道",
        "有人长期违停占用通道,车出不去",
        "门口乱停车,救护车都进不来",
    ],
    "stall": [
        "流动摊贩占道经营,油烟大还堵路",
        "摆摊的占了人行道,行人只能走机动车道",
        "商户占道经营,摊位摆到马路上",
    ],
    "elevator": [
        "电梯经常坏,上周还困人了",
        "电梯停运好几天了,老人上下楼困难",
        "电梯故障频繁,物业不修",
    ],
    "heating": [
        "暖气不热,家里只有十几度",
        "供暖温度太低,老人孩子都冻感冒了",
        "暖气片冰凉,交了采暖费不供暖",
    ],
    "manhole": [
        "井盖丢失了,很危险",
        "路上的窨井盖缺了一块,晚上容易掉进去",
        "井盖塌陷,车辆经过很危险",
    ],
}


def _names(rng: random.Random, suffixes: list[str], count: int) -> list[str]:
    stems = [a + b for a in FIRST for b in SECOND]
    rng.shuffle(stems)
    return [stem + rng.choice(suffixes) for stem in stems[:count]]


class World:
    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.estates = _names(self.rng, ESTATE_SUFFIXES, 900)
        self.roads = _names(self.rng, ROAD_SUFFIXES, 900)

    def place(self) -> tuple[str, str]:
        """(address, district) of a random spot: an estate building, a house, a crossing."""
        rng, district = self.rng, self.rng.choice(DISTRICTS)
        roll = rng.random()
        if roll < 0.6:
            return f"{district}{rng.choice(self.estates)}{rng.randint(1, 30)}栋", district
        if roll < 0.85:
            return f"{district}{rng.choice(self.roads)}{rng.randint(1, 300)}号", district
        a, b = rng.sample(self.roads, 2)
        return f"{district}{a}与{b}交叉口", district

    def order(self, number: str) -> dict:
        address, district = self.place()
        kind = self.rng.choice(list(PROBLEMS))
        content = self.rng.choice(PROBLEMS[kind])
        return {"id": number, "content": content, "address": address, "district": district}

    def orders(self, count: int, prefix: str = "BG") -> Iterator[dict]:
        for i in range(count):
            yield self.order(f"{prefix}{i:06d}")

    def repeat(self, order: dict, number: str) -> dict:
        """The same incident told again: another telling, the place written otherwise."""
        kind = next(k for k, tellings in PROBLEMS.items() if order["content"] in tellings)
        others = [t for t in PROBLEMS[kind] if t != order["content"]]
        address = (
            order["address"]
            .replace(order["district"], "")
            .replace("栋", "号楼")
            .replace("与", "")
            .replace("交叉口", "路口")
        )
        return {
            "id": number,
            "content": self.rng.choice(others),
            "address": address,
            "district": order["district"],
            "duplicate_of": order["id"],
            "kind": "paraphrase",
        }

    def near_miss(self, order: dict, number: str) -> dict:
        """Same place and another problem, or the same problem somewhere else."""
        kind = next(k for k, tellings in PROBLEMS.items() if order["content"] in tellings)
        if self.rng.random() < 0.5:
            other = self.rng.choice([k for k in PROBLEMS if k != kind])
            content, address, label = (
                self.rng.choice(PROBLEMS[other]),
                order["address"],
                "near_place",
            )
        else:
            content, label = self.rng.choice(PROBLEMS[kind]), "near_kind"
            address = self.place()[0]
        return {
            "id": number,
            "content": content,
            "address": address,
            "district": order["district"],
            "duplicate_of": None,
            "kind": label,
        }


def labelled_set(seed: int = 7, pairs: int = 40) -> tuple[list[dict], list[dict]]:
    """(open orders, new requests): `pairs` repeats and `pairs` near misses."""
    world = World(seed)
    orders = list(world.orders(2 * pairs, prefix="SO"))
    new = [world.repeat(o, f"SN{i:04d}") for i, o in enumerate(orders[:pairs])]
    new += [world.near_miss(o, f"SN{pairs + i:04d}") for i, o in enumerate(orders[pairs:])]
    return orders, new
