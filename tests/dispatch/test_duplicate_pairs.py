"""The pair similarity of duplicates (并单) without an index: one way to write numbers,
the rules that keep two places apart, the problem kinds."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dispatch.duplicate_pairs import (
    FEATURES,
    PLAIN_BELOW,
    _array_rows,
    _plain_rows,
    apart,
    canonical,
    load_model,
    pair_matrix,
    pair_vector,
    record,
    weight_of,
    weights_of,
)
from dispatch.problem_kinds import kinds_of


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("梅溪苑五栋", "梅溪苑5号楼"),
        ("梅溪苑5幢", "梅溪苑5栋"),
        ("星桥花园12-1", "星桥花园12号楼一单元"),
        ("二十三号楼", "23栋"),
        ("金桂花园小区3-2-501", "金桂园3栋2单元501室"),  # estate, building, unit, flat
        ("香樟家园十二栋", "香樟园12幢"),
        ("澄园小区3号楼", "澄园3栋"),
        ("万象城6F", "万象城六楼"),
    ],
)
def test_one_building_written_two_ways(a, b):
    assert canonical(a) == canonical(b)


def test_numbers_and_widths():
    assert canonical("阳光花园 三号楼") == "阳光园3栋"
    assert canonical("一百零五号") == "105号"
    assert canonical("ABC小区３栋") == "abc小区3栋"
    assert canonical("往北五十米") == "往北50米"
    assert canonical("一直没人管,十分难受") == "一直没人管,十分难受"  # words stay words


def test_the_numbers_a_record_keeps():
    found = record("12-1的电梯老出故障", "云埠区星桥花园")
    assert (found.buildings, found.units, found.district) == ({"12"}, {"1"}, "云埠")
    assert record("x", "兰汀大道188号3栋").houses == {"188"}
    assert record("x", "菖蒲湾小区北门").district is None  # 小区 is no district
    assert record("x", "锦华大厦B座").buildings == record("x", "锦华大厦b栋").buildings == {"b"}


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("桑梓苑2栋", "桑梓苑6栋"),  # other building
        ("竹溪路1号", "竹溪路200号"),  # other house
        ("星桥花园12-1", "星桥花园12-3"),  # other unit
        ("青岚区荷风苑", "松陂区荷风苑"),  # other district
        ("鼎盛物流园A区", "鼎盛物流园C区"),  # other zone
        ("金鼎大厦9楼", "金鼎大厦8楼"),  # other floor
        ("水杉小区一期3号楼", "水杉小区二期3号楼"),  # other phase
        ("樱桃园小区北门", "樱桃园小区南门"),  # other side
        ("松涛路西头", "松涛路东段"),
        ("北岸区实验中学南门", "北岸区实验中学北门"),  # 北岸区 is a district, not a side
        ("光明路与建设街交叉口", "光明路和朝阳街路口"),  # the next crossing of one road
        ("汊河区智果编程柳岸店", "汊河区智果编程翠屏店"),  # another branch of a chain
        ("榉溪工业园鸿翔塑料厂", "榉溪工业园丰彩涂料厂"),  # another factory of one park
    ],
)
def test_places_told_apart_by_what_both_say(a, b):
    assert apart(record("电梯坏了", a), record("电梯坏了", b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("装修太吵", "柚木公馆2栋1202"), ("装修太吵", "柚木公馆2栋1502")),  # other flat
        (("渣土车掉泥,车牌尾号205", "工地出口"), ("渣土车没冲洗,尾号739", "工地出口")),
        (("312路公交车没停", "菖蒲桥公交站"), ("n8路末班车提前发车", "菖蒲桥公交站")),
        (("消防通道被堵", "苎萝园北区"), ("消防通道堆了建材", "浣城区苎萝园南区地库出口")),
    ],
)
def test_other_flats_vehicles_lines_and_zones_are_apart(a, b):
    assert apart(record(*a), record(*b))


def test_flats_vehicles_lines_and_zones_only_against_their_own_kind():
    flat, plate = record("楼上漏水", "柚木公馆2栋1202"), record("车牌尾号205占道", "柚木公馆")
    assert not apart(flat, plate) and flat.others == {"r1202"} and plate.others == {"p205"}
    assert not apart(flat, record("漏水,我家1202室", "柚木公馆2栋"))
    assert record("x", "城南区锦绣花园").others == frozenset()  # a district is no zone
    assert record("217路公交车不停", "葵园站").others == {"l217"}
    assert not apart(record("217路公交车不停", "葵园站"), record("两趟217都没停", "葵园站"))


def test_a_side_that_says_less_is_not_apart():
    assert not apart(record("电梯坏了", "桑梓苑2栋"), record("电梯坏了", "桑梓苑"))
    assert not apart(record("电梯坏了", "云埠区桑梓苑"), record("电梯坏了", "桑梓苑"))
    # one side told in other words (西边 / 西侧), or a side next to its gate
    assert not apart(record("变压器响", "渔村小区西边"), record("变压器响", "渔村小区西侧"))
    assert not apart(record("垃圾没拉", "锦绣花园北侧"), record("垃圾没拉", "锦绣花园北门南边"))
    assert not apart(record("漏水", "锦华大厦3楼"), record("漏水", "锦华大厦三楼"))
    # one crossing written three ways; a crossing and one of its roads' own spots
    crossing = record("红绿灯坏了", "和平街与建设路交叉口")
    assert not apart(crossing, record("信号灯闪黄", "建设路和平街路口"))
    assert not apart(crossing, record("信号灯闪黄", "建设路/和平街口"))
    assert not apart(record("信号灯坏了", "栎川街十字路口"), crossing)
    assert not apart(record("卫生差", "青柳街十六号川菜馆"), record("吃出蟑螂", "青柳街16号"))


def test_kinds_tell_supply_from_quality_and_wages_from_insurance():
    out, yellow = kinds_of("一滴水都没有,停水一天了"), kinds_of("自来水有一股漂白粉味,发黄")
    assert "water_supply" in out and not out & yellow
    assert kinds_of("自来水怎么回事") == {"~water"}  # the word alone qualifies
    assert not kinds_of("公司不给交社保") & kinds_of("公司拖欠工资三个月")
    assert kinds_of("出租车绕路多收钱") != kinds_of("出租车拒载")


TEXTS = [
    ("锦绣花园小区楼道垃圾堆积一周无人清理,物业不管", "锦绣花园3栋"),
    ("我们锦绣花园楼道里垃圾一直没人清理,物业也不管", "东湖区锦绣花园小区三号楼"),
    ("锦绣花园门口路灯不亮", "锦绣花园北门"),
    ("阳光花园3栋电梯坏了三天没人修", None),
    ("", ""),
    ("星桥花园中心广场晚上广场舞太吵", "星桥花园中心广场"),
]


def _weights(records):
    """IDF over the records themselves, as an index of them would weigh bigrams."""
    held = {}
    for found in records:
        for gram in found.whole.tolist():
            held[gram] = held.get(gram, 0) + 1
    return lambda grams: weights_of(np.asarray([held.get(g, 0) for g in grams.tolist()]), 0)


def test_all_candidates_at_once_equal_each_alone():
    records = [record(text, address) for text, address in TEXTS]
    weight = _weights(records)
    for new in records:
        together = pair_matrix(new, records, weight)
        assert together.shape == (len(records), len(FEATURES))
        for row, old in zip(together, records, strict=True):
            assert row == pytest.approx(pair_vector(new, old, weight))
    assert pair_matrix(records[0], [], weight).shape == (0, len(FEATURES))


def test_plain_python_and_arrays_give_the_same_features():
    """A few short candidates are scored in plain Python, many or long ones with
    arrays: the same figures either way, vectors, empty texts and identical ones too."""
    rng = np.random.default_rng(7)
    more = [
        ("锦绣花园3栋楼道垃圾没人清理,臭气熏天,物业说找环卫,环卫说找物业", "锦绣花园三号楼东侧"),
        ("和平街88号北侧垃圾收集点一周没拉", "和平街88号锦绣花园小区北边"),
        ("12-1的电梯老出故障", "星桥花园12-1"),
    ]
    records = []
    for text, address in TEXTS + more:
        found = record(text, address)
        meaning = rng.normal(size=8).astype(np.float32)
        records.append(replace(found, meaning=meaning / np.linalg.norm(meaning)))
    records.append(record("锦绣花园垃圾", "锦绣花园"))  # no vector
    weight = _weights(records)
    for new in records:
        for olds in (records, records[:1], records[::-1][:3], [new]):
            plain, arrays = _plain_rows(new, olds, weight), _array_rows(new, olds, weight)
            assert np.array_equal(plain, arrays)
            assert np.array_equal(pair_matrix(new, olds, weight), arrays)
    many = [record(f"第{i}号楼{TEXTS[i % 4][0]}", TEXTS[i % 4][1]) for i in range(40)]
    assert sum(len(o.grams) + len(o.chars) for o in many) >= PLAIN_BELOW  # arrays
    weight = _weights(many)
    assert np.array_equal(_plain_rows(many[0], many, weight), pair_matrix(many[0], many, weight))


def test_the_features_of_a_text_against_itself_and_a_stranger():
    first, stranger = record(*TEXTS[0]), record(*TEXTS[3])
    weight = _weights([first, stranger])
    same = dict(zip(FEATURES, pair_vector(first, first, weight), strict=True))
    assert same["whole_dice"] == pytest.approx(1.0)
    assert same["place_cover"] == same["place_cover_min"] == pytest.approx(1.0)
    assert same["problem_chars"] == same["problem_dice"] == pytest.approx(1.0)
    assert same["unmatched"] == 0.0 and same["building_same"] == 1.0
    other = dict(zip(FEATURES, pair_vector(first, stranger, weight), strict=True))
    assert other["place_cover"] < 0.6 and other["rarest"] < same["rarest"]
    assert other["whole_dice"] < 0.5 and other["unmatched"] > 0
    assert same["rare_shared"] == 1.0 and other["rare_shared"] < 1.0  # names both hold


def test_rare_bigrams_weigh_more_alike_at_any_size():
    assert weight_of(0, 10) == 1.0
    assert weight_of(1, 100_000) == 1.0  # one order in 100,000: a name
    assert weight_of(5_000, 100_000) == pytest.approx(weight_of(50, 1_000), abs=0.01)
    assert weight_of(50_000, 100_000) < 0.15  # half of all orders: an everyday word


def test_the_shipped_models_fit_the_features():
    for with_vectors in (True, False):
        model = load_model(with_vectors)
        assert len(model.coefficients) == len(FEATURES)
        assert 0 < model.suggest < model.certain <= 1


def test_problem_kinds():
    assert "garbage" in kinds_of("楼道垃圾堆积没人清理")
    assert "noise" in kinds_of("晚上吵得睡不着")
    assert "streetlight" in kinds_of("路灯不亮")
    assert kinds_of("公积金怎么提取") == frozenset()


def test_a_word_may_name_several_kinds():
    assert {"garbage", "fire_safety"} <= kinds_of("楼梯间被杂物堵满了,万一着火跑不出去")


def test_a_smell_alone_is_a_qualifier():
    assert kinds_of("楼道里一股臭味") == {"~odor"}
    assert "~odor" not in kinds_of("垃圾堆着没人收,一股臭味")


def test_problem_vectors_are_replaced_whole(tmp_path, monkeypatch):
    # a save that fails half-way leaves the old file as it was (and no stray file): a
    # service loading the vectors while they are rebuilt reads the old or the new file
    from dispatch.duplicate_vectors import ProblemVectors

    path = tmp_path / "vectors.npz"
    old = ProblemVectors({"停水": 0, "路灯": 1}, np.eye(2, dtype=np.float32))
    old.save(path)
    before = path.read_bytes()

    def half_written(out, **arrays):
        out.write(b"PK\x03\x04 half")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", half_written)
    with pytest.raises(OSError):
        ProblemVectors({"噪音": 0}, np.ones((1, 2), dtype=np.float32)).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["vectors.npz"]
    assert ProblemVectors.load(path).vocabulary == {"停水": 0, "路灯": 1}
