"""Property-based API fuzzing with schemathesis over /api/v1/openapi.json, on SQLite
and on PostgreSQL: every operation as an agent, a unit user and an admin, and stateful
runs that follow the document's links (an order registered, then read and acted on; a
knowledge entry created, then reviewed ...). Bounded (a fixed seed, a few examples per
operation and role): no 5xx, and every 4xx is the JSON error body.

The server runs in a thread of its own (schemathesis calls it over HTTP with requests,
which would block the test's event loop)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from aiohttp import ClientSession, web
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import FlakyStrategyDefinition

from app.factory import create_app
from tests.api.conftest import Api, seed
from tests.conftest import FakeClock, make_settings

ROLE_USERS = {"agent": "agent", "unit": "zjj", "admin": "admin"}
EXAMPLES = 2  # per operation and role
# Not fuzzed: ending the token in use, and retraining the model (minutes of CPU).
SKIPPED = {("POST", "/api/v1/auth/revoke"), ("POST", "/api/v1/admin/retrain")}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """The app on a real port, in a thread with its own loop, seeded like tests/api."""

    def __init__(self, db_url: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tokens: dict[str, str] = {}
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.db_url = db_url
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._start())
        except BaseException as exc:  # reported to the test thread
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.runner.cleanup())
        self.loop.close()

    async def _start(self) -> None:
        app = create_app(make_settings(self.db_url), now=FakeClock(), scanner=False)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        async with ClientSession(base_url=self.url) as client:
            api = Api(client)
            await seed(api)
            for user in {*ROLE_USERS.values(), "dispatcher"}:
                self.tokens[user] = await api.login_once(user)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        self.ready.wait(120)
        if self.error is not None:
            raise self.error
        return self

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def live_server(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[LiveServer]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('schemathesis') / 'hotline.db'}"
    else:
        from tests.postgres import create_database

        url = asyncio.run(create_database(request.getfixturevalue("postgres_server")))
    with LiveServer(url) as server:
        yield server


def _problem(response, where: str) -> str | None:
    """What is wrong with an answer: a 5xx, or a 4xx without the JSON error body."""
    if response.status_code >= 500:
        return f"{where}: {response.text[:300]}"
    if response.status_code >= 400:
        try:
            error = response.json()["error"]
            assert set(error) == {"code", "message"}
        except (ValueError, KeyError, TypeError, AssertionError):
            return f"{where}: not the JSON error body: {response.text[:200]}"
    return None


def test_openapi_fuzzing_as_three_roles(live_server: LiveServer):
    http = requests.Session()
    document = http.get(f"{live_server.url}/api/v1/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(document)
    problems: list[str] = []
    cases = 0

    def check(case, user: str) -> None:
        nonlocal cases
        headers = {"Authorization": f"Bearer {live_server.tokens[user]}"}
        response = case.call(base_url=live_server.url, session=http, headers=headers, timeout=30)
        cases += 1
        where = f"{user} {case.method} {case.formatted_path} -> {response.status_code}"
        if (problem := _problem(response, where)) is not None:
            problems.append(problem)

    def fuzzer(operation, user: str):
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,  # a fixed seed: the same cases every run
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def fuzz(case) -> None:
            check(case, user)

        return fuzz

    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        for user in ROLE_USERS.values():
            fuzzer(operation, user)()
    print(f"schemathesis: {len(operations)} operations, {cases} cases")
    assert cases >= 200
    assert not problems, "\n".join(problems[:20])


STATEFUL_USERS = ("agent", "dispatcher", "admin")


def test_stateful_runs_follow_the_links(live_server: LiveServer):
    """Sequences along the links: what one call creates, the next ones use."""
    document = requests.get(f"{live_server.url}/api/v1/openapi.json", timeout=30).json()
    links = document["paths"]["/api/v1/orders"]["post"]["responses"]["201"]["links"]
    assert {"get_order", "order_dispatch", "order_reply"} <= set(links)
    schema = schemathesis.openapi.from_dict(document)
    problems: list[str] = []
    steps: list[str] = []
    linked: list[str] = []  # answers below 400 on a resource some step created

    def machine(user: str):
        http = requests.Session()
        headers = {"Authorization": f"Bearer {live_server.tokens[user]}"}

        class Machine(schema.as_state_machine()):
            def get_call_kwargs(self, case):
                return {"base_url": live_server.url, "session": http, "headers": headers}

            def before_call(self, case):
                # Which hotline numbers exist is configuration, not schema: a random
                # string is always refused, so the walk would register an order only
                # when it happened to draw the documented example.
                order = (case.method, case.path) == ("POST", "/api/v1/orders")
                if order and isinstance(case.body, dict) and "hotline" in case.body:
                    case.body["hotline"] = "12345"
                super().before_call(case)

            def validate_response(self, response, case, **kwargs):
                where = f"{user} {case.method} {case.formatted_path} -> {response.status_code}"
                if (problem := _problem(response, where)) is not None:
                    problems.append(problem)
                steps.append(where)
                if "{" in case.path and response.status_code < 400:
                    linked.append(where)

        return Machine

    for user in STATEFUL_USERS:
        # Hypothesis replays a scenario expecting the same answers; the server remembers
        # the first run (order numbers move on), so a replay may differ and Hypothesis
        # stops. Every step that ran has been checked by then.
        with contextlib.suppress(FlakyStrategyDefinition):
            run_machine(machine(user))
    print(f"schemathesis stateful: {len(steps)} steps, {len(linked)} on created resources")
    assert len(steps) >= 50
    assert not problems, "\n".join(problems[:20])
    assert any("/api/v1/orders/" in where for where in steps), steps  # links to orders taken
    assert any("/api/v1/kb/entries/" in where for where in linked), linked


def run_machine(machine) -> None:
    machine.run(
        settings=settings(
            max_examples=12,
            stateful_step_count=6,
            derandomize=True,
            phases=[Phase.generate],
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )
