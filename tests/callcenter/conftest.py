"""Real SIP on 127.0.0.1: the intake on pjsua2, SIPp as the citizen.

SIP tests skip when pjsua2, SIPp, espeak-ng or sox is missing, unless
HOTLINE_REQUIRE_SIP=1 (CI sets it after callcenter/setup.sh), where they fail.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import socket
import sys
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` run from anywhere, not only `python -m pytest`
    sys.path.insert(0, str(ROOT))

from app.db import Base, create_engine, session_factory  # noqa: E402
from callcenter.bridge import pjsua2_available  # noqa: E402
from callcenter.prompts import ensure_greetings, tools_available  # noqa: E402
from config import SipSettings, load_settings  # noqa: E402

SCENARIOS = Path(__file__).with_name("scenarios")
REQUIRE_SIP = os.environ.get("HOTLINE_REQUIRE_SIP") == "1"
HOTLINES = [(h.number, h.name) for h in load_settings(environ={}).hotlines]
NUMBERS = [number for number, _ in HOTLINES]


def require(condition: bool, reason: str) -> None:
    """Skip without the SIP tools, or fail when CI says they must be there."""
    if condition:
        return
    if REQUIRE_SIP:
        pytest.fail(f"{reason} (HOTLINE_REQUIRE_SIP=1)")
    pytest.skip(f"{reason}; install with callcenter/setup.sh --test")


@pytest.fixture(scope="session")
def prompt_tools() -> None:
    require(tools_available(), "espeak-ng and sox are not installed")


@pytest.fixture(scope="session")
def sip_tools(prompt_tools) -> None:
    require(pjsua2_available(), "pjsua2 is not importable (callcenter/pjsua2/build.sh)")
    require(shutil.which("sipp") is not None, "SIPp is not installed (apt-get install sip-tester)")


@pytest.fixture(scope="session")
def prompts_dir(tmp_path_factory: pytest.TempPathFactory, prompt_tools) -> Path:
    directory = tmp_path_factory.mktemp("prompts")
    ensure_greetings(HOTLINES, directory)
    return directory


def free_port(pair: bool = False) -> int:
    """A port free for UDP and TCP on 127.0.0.1 (and the next one, if `pair`)."""
    for _ in range(200):
        port = random.randrange(20000, 30000, 2)
        try:
            for offset in (0, 1) if pair else (0,):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    with socket.socket(socket.AF_INET, kind) as sock:
                        sock.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port on 127.0.0.1")


@pytest.fixture
def sip_settings(tmp_path: Path, prompts_dir: Path) -> SipSettings:
    # pjsua walks up its range past ports in use, so parallel runs may overlap.
    rtp = random.randrange(30000, 50000, 200)
    return SipSettings(
        bind="127.0.0.1",
        port=free_port(),
        rtp_port=rtp,
        rtp_port_range=200,
        prompts_dir=str(prompts_dir),
        recordings_dir=str(tmp_path / "recordings"),
        max_calls=64,
        log_level=1,
        shutdown_timeout_seconds=3,
    )


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator:
    from callcenter.storage import Call
    from dispatch.storage import Category, Hotline, Order, Unit

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'calls.db'}")
    tables = [model.__table__ for model in (Hotline, Unit, Category, Order, Call)]
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all, tables=tables)
        await conn.execute(
            Hotline.__table__.insert(),
            [{"number": n, "name": name, "mode": "central"} for n, name in HOTLINES],
        )
    yield session_factory(engine)
    await engine.dispose()


@dataclass
class SippResult:
    returncode: int
    output: str
    errors: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


async def run_sipp(
    scenario: str,
    port: int,
    calls: Iterable[tuple[str, str]],
    *,
    transport: str = "u1",
    hold_ms: int = 300,
    rate: int = 10,
    workdir: Path,
    timeout: float = 30,
) -> SippResult:
    """Run a SIPp scenario against 127.0.0.1:`port`; `calls` are (dialled, caller)."""
    rows = list(calls)
    workdir.mkdir(parents=True, exist_ok=True)
    inject = workdir / f"{scenario}-{port}.csv"
    inject.write_text("SEQUENTIAL\n" + "".join(f"{d};{c};\n" for d, c in rows))
    errors = workdir / f"{scenario}-{port}-errors.log"
    args = [
        "sipp",
        f"127.0.0.1:{port}",
        "-sf",
        str(SCENARIOS / f"{scenario}.xml"),
        "-inf",
        str(inject),
        "-m",
        str(len(rows)),
        "-r",
        str(rate),
        "-d",
        str(hold_ms),
        "-t",
        transport,
        "-i",
        "127.0.0.1",
        "-p",
        str(free_port()),
        "-mi",
        "127.0.0.1",
        "-mp",
        str(free_port(pair=True)),
        "-nostdin",
        "-timeout",
        f"{int(timeout)}s",
        "-timeout_error",
        "-trace_err",
        "-error_file",
        str(errors),
    ]
    proc = await asyncio.create_subprocess_exec(
        *args,
        cwd=workdir,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout + 5)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
    text = errors.read_text(errors="replace") if errors.exists() else ""
    return SippResult(proc.returncode, out.decode(errors="replace")[-4000:], text[-4000:])
