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
from callcenter.prompts import (  # noqa: E402
    ensure_greetings,
    ensure_ivr_prompts,
    tools_available,
)
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
    ensure_ivr_prompts(NUMBERS, directory)
    return directory


def free_port(pair: bool = False, span: int = 1) -> int:
    """A port free for UDP and TCP on 127.0.0.1 (and the next `span - 1`, or one if `pair`)."""
    span = max(span, 2 if pair else 1)
    for _ in range(200):
        port = random.randrange(20000, 30000, 4)
        try:
            for offset in range(span):
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
    from accounts.storage import User
    from callcenter.storage import AgentRow, Call, Callback, CallerLanguage, SurveyCall
    from dispatch.storage import Category, Hotline, Order, Unit

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'calls.db'}")
    models = (
        *(Hotline, Unit, Category, Order, User),
        *(Call, Callback, AgentRow, SurveyCall, CallerLanguage),
    )
    tables = [model.__table__ for model in models]
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


DTMF_PCAPS = Path("/usr/share/sip-tester")
_PCAP_NAMES = {"#": "pound", "*": "star"}

_HEADERS = """\
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field1]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      [routes]
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      Contact: <sip:[field1]@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
"""


def dtmf_pcap(digit: str) -> Path:
    return DTMF_PCAPS / f"dtmf_2833_{_PCAP_NAMES.get(digit, digit)}.pcap"


def ivr_scenario(workdir: Path, name: str, steps: list[tuple[str, object]], end: str) -> Path:
    """A SIPp scenario: dial (field0), get answered, then `steps`, then `end`.

    steps: ("pause", ms), ("rfc2833", digit) — RTP events replayed from SIPp's shipped
    captures, ("info", digit) — SIP INFO application/dtmf-relay, ("info_raw", (lines,
    status)) — an INFO with that body, answered with `status`, ("speech", path) — start
    streaming that raw 8 kHz PCMU file (`sox ... -t ul`) in a loop until the call ends
    (SIPp's rtp_stream; the steps after it run while it plays).
    end: "bye" (the caller hangs up) or "wait_bye" (the intake hangs up on the caller).
    """
    template = (SCENARIOS / "ivr_head.xml").read_text()
    body, cseq = [], 2
    for kind, value in steps:
        if kind == "pause":
            body.append(f'  <pause milliseconds="{int(value)}"/>')
        elif kind == "rfc2833":
            body.append(f'  <nop><action><exec play_pcap_audio="{dtmf_pcap(str(value))}"/>')
            body.append("  </action></nop>")
            body.append('  <pause milliseconds="300"/>')
        elif kind == "speech":
            body.append(f'  <nop><action><exec rtp_stream="{value},-1,0,PCMU/8000"/>')
            body.append("  </action></nop>")
        elif kind == "info_raw":  # (body lines, expected status): malformed dtmf-relay
            lines, status = value
            headers = _HEADERS.format(cseq=cseq, method="INFO")
            text = "".join(f"      {line}\n" for line in lines)
            body.append(
                f"""  <send retrans="500"><![CDATA[
      INFO [next_url] SIP/2.0
{headers}      Content-Type: application/dtmf-relay
      Content-Length: [len]

{text}    ]]></send>
  <recv response="{status}"/>"""
            )
            cseq += 1
        elif kind == "info":
            headers = _HEADERS.format(cseq=cseq, method="INFO")
            body.append(
                f"""  <send retrans="500"><![CDATA[
      INFO [next_url] SIP/2.0
{headers}      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal={value}
      Duration=160
    ]]></send>
  <recv response="200"/>"""
            )
            cseq += 1
        else:
            raise ValueError(kind)
    if end == "bye":
        body.append(
            f"""  <send retrans="500"><![CDATA[
      BYE [next_url] SIP/2.0
{_HEADERS.format(cseq=cseq, method="BYE")}      Content-Length: 0

    ]]></send>
  <recv response="200" crlf="true"/>"""
        )
    elif end == "wait_bye":
        body.append(
            """  <recv request="BYE" timeout="20000"/>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]></send>"""
        )
    else:
        raise ValueError(end)
    path = workdir / f"{name}.xml"
    workdir.mkdir(parents=True, exist_ok=True)
    path.write_text(template.replace("<!-- STEPS -->", "\n".join(body)))
    return path


_UAS_INFO = """  <send retrans="500"><![CDATA[
      INFO [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$local];tag=[pid]SIPpTag01[call_number]
      To: [$remote]
      Call-ID: [call_id]
      CSeq: {cseq} INFO
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal={key}
      Duration=160
  ]]></send>"""


def answer_scenario(workdir: Path, name: str, keys: str, gap_ms: int = 900) -> Path:
    """SIPp as called citizens (UAS): answer, press `keys` (SIP INFO) one every
    `gap_ms`, then wait for the centre's BYE (callcenter/campaigns.py tests)."""
    body = []
    for cseq, key in enumerate(keys, start=1):
        body.append(f'  <pause milliseconds="{gap_ms}"/>')
        body.append(_UAS_INFO.format(cseq=cseq, key=key))
        body.append('  <recv response="200"/>')
    path = workdir / f"{name}.xml"
    workdir.mkdir(parents=True, exist_ok=True)
    template = (SCENARIOS / "answer_keys.xml").read_text()
    path.write_text(template.replace("<!-- STEPS -->", "\n".join(body)))
    return path


async def start_sipp_uas(
    scenario: Path, calls: int, workdir: Path, timeout: float = 60
) -> tuple[asyncio.subprocess.Process, int]:
    """SIPp listening on a free port of 127.0.0.1 for `calls` calls; (process, port)."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *("sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port)),
        *("-mi", "127.0.0.1", "-mp", str(free_port(span=4)), "-m", str(calls)),
        *("-nostdin", "-timeout", f"{int(timeout)}s", "-timeout_error", "-trace_err"),
        *("-error_file", str(workdir / f"{scenario.stem}-errors.log")),
        cwd=workdir,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
    )
    await asyncio.sleep(0.3)  # listening
    return proc, port


async def run_sipp(
    scenario: str | Path,
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
    scenario_file = scenario if isinstance(scenario, Path) else SCENARIOS / f"{scenario}.xml"
    scenario = scenario_file.stem
    inject = workdir / f"{scenario}-{port}.csv"
    inject.write_text("SEQUENTIAL\n" + "".join(f"{d};{c};\n" for d, c in rows))
    errors = workdir / f"{scenario}-{port}-errors.log"
    args = [
        "sipp",
        f"127.0.0.1:{port}",
        "-sf",
        str(scenario_file),
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
        str(free_port(span=4)),  # audio RTP/RTCP at -mp, video at -mp + 2
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
    except BaseException:  # cancelled (a failed test's call still going): SIPp ends too
        proc.kill()
        await proc.wait()
        raise
    text = errors.read_text(errors="replace") if errors.exists() else ""
    return SippResult(proc.returncode, out.decode(errors="replace")[-4000:], text[-4000:])
