"""Call records with WAV recordings, written as the intake would, for 质检 tests."""

from __future__ import annotations

import wave
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from app.keys import SESSIONS
from callcenter.storage import Call
from tests.api.conftest import Api, make_api
from tests.conftest import FakeClock


def make_wav(path: Path, seconds: float = 0.5) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\0\0" * int(8000 * seconds))
    return path


async def add_calls(
    api: Api, directory: Path, calls: list[tuple[str, str | None, datetime]], **extra
) -> None:
    """(id, agent, offered at): answered after 5 s, 3 minutes talk, recorded to WAV."""
    rows = []
    for call_id, agent, at in calls:
        wav = make_wav(directory / f"{call_id}.wav")
        rows.append(
            {
                "id": call_id,
                "hotline": "12345",
                "caller": "13800138000",
                "offered_at": at,
                "answered_at": at + timedelta(seconds=5) if agent else None,
                "ended_at": at + timedelta(minutes=3),
                "agent": agent,
                "outcome": "completed" if agent else "abandoned",
                "recording": str(wav),
                "intake": "test",
                **extra,
            }
        )
    async with api.client.app[SESSIONS]() as session, session.begin():
        await session.execute(insert(Call), rows)


async def link_call(api: Api, call_id: str, number: str) -> None:
    async with api.client.app[SESSIONS]() as session, session.begin():
        call = await session.get(Call, call_id)
        call.order_number = number


async def bad_rating(api: Api, caller_phone: str = "13800138000") -> str:
    """An order answered on the spot and rated 不满意 at the callback: its number."""
    number = (await api.register(type="consultation", caller_phone=caller_phone))["number"]
    await api.act("agent", number, "answer", text="已告知办理流程")
    await api.act("supervisor", number, "review", approve=True)
    await api.act("supervisor", number, "callback", satisfaction="dissatisfied", resolved=False)
    return number


@pytest.fixture
async def api(aiohttp_client, sqlite_url: str, clock: FakeClock) -> Api:
    return await make_api(aiohttp_client, sqlite_url, clock)
