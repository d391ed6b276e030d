"""The real app with the web interface, a seeded organisation, and web logins."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from cryptography.fernet import Fernet

from app.factory import create_app
from classifiers import Record, train
from tests.api.conftest import Api, seed
from tests.conftest import PASSWORD, FakeClock, make_settings

KB_ENTRY = {
    "id": "kb-gjj-001",
    "title": "住房公积金提取办理指南",
    "questions": ["公积金怎么提取", "租房可以取公积金吗"],
    "answer": "租房提取公积金可通过公积金中心网上大厅办理,需提供租赁合同。",
    "category": "ZF.GJJ",
    "unit": "GJJ",
}
CALLER_PHONE = "13800138000"
MASKED_PHONE = "138****8000"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


# A tiny category model (as in tests/api/test_suggestions.py) so the screens have
# category and unit suggestions to show.
TRAINING = {
    "城乡建设": ["小区物业不管楼道垃圾", "物业费乱收费", "小区电梯坏了物业不修", "物业公司不作为"],
    "交通运输": ["公交车不按站停车", "出租车拒载绕路", "公交线路调整不合理", "公交车司机态度差"],
}


@pytest.fixture(scope="session")
def category_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    records = [
        Record(id=f"{label}-{i}", text=text, title=None, raw={"text": text, "label": label}, line=i)
        for label, texts in TRAINING.items()
        for i, text in enumerate(texts)
    ]
    path = tmp_path_factory.mktemp("web") / "model"
    train(records, use_keywords=False, cv_folds=0).save(path)
    return path


def build_app(db_url: str, clock: FakeClock, model: Path, auto_dispatch: float = 1.01):
    """As in production: `create_app`, then the web interface on top.

    智能派单 is off by default (confidence above 1) so the flows stay in human hands.
    """
    settings = make_settings(db_url)
    settings.classifiers.category_model = str(model)
    settings.classifiers.auto_dispatch_confidence = auto_dispatch
    settings.web.session_key = Fernet.generate_key().decode()
    return create_app(settings, now=clock, scanner=False)


async def seed_web(api: Api) -> None:
    """Units and users of tests/api, a category and a published KB entry."""
    await seed(api)
    await api.call(
        "POST",
        "/api/v1/categories",
        "admin",
        {"code": "CJ", "name": "城乡建设", "default_unit": "ZJJ"},
        expect=201,
    )
    await api.call("POST", "/api/v1/kb/entries", "supervisor", KB_ENTRY, expect=201)
    await api.call("POST", f"/api/v1/kb/entries/{KB_ENTRY['id']}/review", "supervisor", {})
    await api.call("POST", f"/api/v1/kb/entries/{KB_ENTRY['id']}/publish", "supervisor", {})


class Browser:
    """A cookie-keeping client that logs in through the form, like a person would."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    async def csrf(self, path: str = "/login") -> str:
        resp = await self.client.get(path)
        match = _CSRF.search(await resp.text())
        assert match, f"no csrf_token on {path}"
        return match.group(1)

    async def login(self, username: str, password: str = PASSWORD, expect: int = 302):
        self.client.session.cookie_jar.clear()
        token = await self.csrf()
        resp = await self.client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": token},
            allow_redirects=False,
        )
        assert resp.status == expect, await resp.text()
        return resp

    async def post(self, path: str, data: dict[str, Any], page: str | None = None):
        """Submit a form found on `page` (default: the form's own order page)."""
        token = await self.csrf(page or path.rsplit("/", 1)[0])
        return await self.client.post(
            path, data={**data, "csrf_token": token}, allow_redirects=False
        )


@pytest.fixture
async def web_client(
    aiohttp_client, sqlite_url: str, clock: FakeClock, category_model: Path
) -> TestClient:
    client = await aiohttp_client(build_app(sqlite_url, clock, category_model))
    await seed_web(Api(client))
    return client


@pytest.fixture
def api(web_client: TestClient) -> Api:
    return Api(web_client)


@pytest.fixture
def browser(web_client: TestClient) -> Browser:
    return Browser(web_client)
