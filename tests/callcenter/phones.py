"""The test softphone process (softphone.py) driven from a test, and tone checks on WAVs."""

from __future__ import annotations

import asyncio
import json
import math
import sys
import wave
from pathlib import Path

from tests.callcenter.conftest import free_port

SOFTPHONE = Path(__file__).with_name("softphone.py")
CITIZEN_HZ, AGENT_HZ, UNIT_HZ = 1400.0, 2200.0, 1800.0
RATE = 8000


def tone(path: Path, hz: float, seconds: float = 1.0) -> Path:
    frames = bytearray()
    for i in range(int(RATE * seconds)):
        sample = int(8000 * math.sin(2 * math.pi * hz * i / RATE))
        frames += sample.to_bytes(2, "little", signed=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(bytes(frames))
    return path


def tone_power(samples: list[int], hz: float) -> float:
    """Goertzel: the power of one frequency in `samples`, normalised by their length."""
    coeff = 2 * math.cos(2 * math.pi * hz / RATE)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / max(len(samples), 1) ** 2


def wav_samples(path: Path, start: float, end: float) -> list[int]:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (RATE, 1, 2)
        total = wav.getnframes()
        first = max(0, int(total + start * RATE) if start < 0 else int(start * RATE))
        last = min(total, int(total + end * RATE) if end <= 0 else int(end * RATE))
        wav.setpos(first)
        data = wav.readframes(last - first)
    return [int.from_bytes(data[i : i + 2], "little", signed=True) for i in range(0, len(data), 2)]


class Softphone:
    """One softphone process: agents' phones and the citizen on one SIP port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.rtp = free_port(span=40)
        self.citizen_tone = tone(workdir / "citizen.wav", CITIZEN_HZ)
        self.agent_tone = tone(workdir / "agent.wav", AGENT_HZ)
        self.unit_tone = tone(workdir / "unit.wav", UNIT_HZ)
        self.events: list[dict] = []
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task | None = None
        self._changed = asyncio.Event()

    def uri(self, user: str) -> str:
        return f"sip:{user}@127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SOFTPHONE),
            str(self.port),
            str(self.rtp),
            str(self.citizen_tone),
            str(self.agent_tone),
            str(self.unit_tone),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        self._reader = asyncio.create_task(self._read())
        await self.wait_for(event="ready")

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        async for line in self._proc.stdout:
            try:
                self.events.append(json.loads(line))
            except ValueError:
                continue  # pjsip's own console lines
            self._changed.set()

    async def send(self, command: str) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(command.encode() + b"\n")
        await self._proc.stdin.drain()

    async def wait_for(self, timeout: float = 15, count: int = 1, **match) -> dict:
        async def found() -> dict:
            while True:
                hits = [e for e in self.events if match.items() <= e.items()]
                if len(hits) >= count:
                    return hits[count - 1]
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(found(), timeout)
        except TimeoutError:
            raise AssertionError(f"no {match} (x{count}) in {self.events}") from None

    async def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.returncode is None:
            await self.send("quit")
            try:
                await asyncio.wait_for(self._proc.wait(), 10)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        if self._reader is not None:
            await self._reader
        self._proc = None
