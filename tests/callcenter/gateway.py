"""An emergency service's gateway for 应急联动 tests and benchmarks: a SIPp UAS.

`Gateway.start(kind)` runs SIPp with `scenarios/gateway_<kind>.xml` on its own port:
`answer` (answers, plays a 1,800 Hz PCMU tone from a pcap written here, hangs up after
`hold_ms` unless the intake hangs up first), `busy` (486), `ringing` (180, never
answers; the intake CANCELs). SIPp exits after `calls` calls; its exit code says whether
each call went as the scenario says.
"""

from __future__ import annotations

import asyncio
import math
import struct
from pathlib import Path

from tests.callcenter.conftest import SCENARIOS, free_port

GATEWAY_HZ = 1800.0
RATE = 8000
FRAME = 160  # samples per 20 ms RTP packet


def ulaw(sample: int) -> int:
    """G.711 μ-law of one 16-bit sample."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent, mask = 7, 0x4000
    while exponent > 0 and not magnitude & mask:
        exponent, mask = exponent - 1, mask >> 1
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | exponent << 4 | mantissa) & 0xFF


def tone_pcap(path: Path, hz: float = GATEWAY_HZ, seconds: float = 4.0) -> Path:
    """A pcap of RTP/PCMU packets (Ethernet, IPv4, UDP) carrying a tone, for SIPp's
    play_pcap_audio (it keeps the payloads and timing, not the addresses)."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for n in range(int(seconds * RATE / FRAME)):
        payload = bytes(
            ulaw(int(8000 * math.sin(2 * math.pi * hz * (n * FRAME + i) / RATE)))
            for i in range(FRAME)
        )
        rtp = struct.pack("!BBHII", 0x80, 0, n & 0xFFFF, n * FRAME, 0x1234) + payload
        udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
        ip = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xFFFF, 0, 64, 17, 0,
            bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]),
        ) + udp  # fmt: skip
        frame = b"\0" * 12 + b"\x08\x00" + ip
        usec = n * 20_000
        out += struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame), len(frame))
        out += frame
    path.write_bytes(bytes(out))
    return path


class Gateway:
    """One SIPp UAS playing an emergency gateway; `uri(service)` is its address."""

    def __init__(self, workdir: Path, kind: str, calls: int = 1, hold_ms: int = 3000) -> None:
        self.workdir, self.kind, self.calls = workdir, kind, calls
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None
        template = (SCENARIOS / f"gateway_{kind}.xml").read_text()
        tone = tone_pcap(workdir / "gateway-tone.pcap")
        self.scenario = workdir / f"gateway_{kind}_{self.port}.xml"
        text = template.replace("TONE_PCAP", str(tone)).replace("HOLD_MS", str(hold_ms))
        self.scenario.write_text(text)

    def uri(self, service: str = "119") -> str:
        return f"sip:{service}@127.0.0.1:{self.port}"

    async def start(self) -> Gateway:
        self.proc = await asyncio.create_subprocess_exec(
            "sipp", "-sf", str(self.scenario), "-i", "127.0.0.1", "-p", str(self.port),
            "-mi", "127.0.0.1", "-mp", str(free_port(span=4)), "-m", str(self.calls),
            "-nostdin", "-timeout", "120s", "-timeout_error", "-max_socket", "2000",
            "-trace_err", "-error_file", str(self.workdir / f"gateway-{self.port}-errors.log"),
            cwd=self.workdir, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await asyncio.sleep(0.3)  # SIPp binds its port
        return self

    async def finished(self, timeout: float = 20) -> int:
        """SIPp's exit code once its calls are done (0: every call as scripted)."""
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()  # our own child
            await self.proc.wait()
