"""Learning from work: suggestions are recorded, corrections exported, the model retrained
and swapped in without a restart."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from app.factory import create_app
from app.keys import SUGGESTER
from tests.api.conftest import Api, seed
from tests.api.test_suggestions import TRAINING, _model_dir
from tests.conftest import FakeClock, make_settings

ROOT = Path(__file__).resolve().parents[2]


async def test_corrections_become_training_data(aiohttp_client, tmp_path):
    db = tmp_path / "learn.db"
    base = tmp_path / "base.jsonl"
    base.write_text(
        "".join(
            json.dumps({"text": t, "label": label}, ensure_ascii=False) + "\n"
            for label, texts in TRAINING.items()
            for t in texts
        ),
        encoding="utf-8",
    )
    settings = make_settings(f"sqlite+aiosqlite:///{db}")
    settings.classifiers.category_model = str(_model_dir(tmp_path))
    settings.classifiers.auto_dispatch_confidence = 1.01
    settings.classifiers.base_training_data = str(base)
    app = create_app(settings, now=FakeClock(), scanner=False)
    api = Api(await aiohttp_client(app))
    await seed(api)
    for code, name, unit in (("CJ", "城乡建设", "ZJJ"), ("JT", "交通运输", "CGJ")):
        await api.call(
            "POST",
            "/api/v1/categories",
            "admin",
            {"code": code, "name": name, "default_unit": unit},
            expect=201,
        )

    # the model says 城乡建设 / ZJJ; the dispatcher knows better: a correction
    wrong = await api.register(content="物业公司不作为,小区门口公交站牌坏了没人管")
    assert wrong["suggestions"]["category"][0]["label"] == "城乡建设"
    first_version = app[SUGGESTER].model_version
    await api.act("dispatcher", wrong["number"], "dispatch", unit="CGJ", category="JT")
    await api.act("cgj", wrong["number"], "accept")
    right = await api.register(content="物业公司不管楼道垃圾")
    assert right["suggestions"]["category"][0]["label"] == "城乡建设"
    await api.act("dispatcher", right["number"], "dispatch", unit="ZJJ", category="CJ")
    await api.act("zjj", right["number"], "accept")
    await api.register(content="还没派出去的工单不算")

    out = tmp_path / "export.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "dispatch", "export-training", "--db", str(db), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    examples = {e["id"]: e for e in map(json.loads, out.read_text("utf-8").splitlines())}
    assert set(examples) == {wrong["number"], right["number"]}
    assert examples[wrong["number"]] | {"title": None} == {
        "id": wrong["number"],
        "title": None,
        "text": wrong["content"],
        "label": "交通运输",
        "unit": "CGJ",
        "correction": True,
    }
    assert examples[right["number"]]["correction"] is False

    trained = await api.call("POST", "/api/v1/admin/retrain", "admin", {})
    assert trained["from_orders"] == 2 and trained["corrections"] == 1
    assert trained["examples"] == 2 + sum(len(t) for t in TRAINING.values())
    assert app[SUGGESTER].model_version == trained["version"] != first_version
    await api.call("POST", "/api/v1/admin/retrain", "dispatcher", {}, expect=403)


def test_export_cli_bad_database(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dispatch",
            "export-training",
            "--db",
            str(tmp_path / "none.db"),
            "--out",
            str(tmp_path / "x"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "不存在" in result.stderr
    assert "Traceback" not in result.stderr
