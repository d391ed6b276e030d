"""Kannel on 127.0.0.1 for the tests and the benchmark: bearerbox with `smsc = fake`,
smsbox (sendsms interface, get-url to the app), and Kannel's own fake SMSC client
`fakesmsc` (kannel-extras) standing in for the operator: it sends the citizens' SMS and
prints every SMS Kannel delivers to it ("Got message N: <from to ucs-2 %xx..>").

fakesmsc sends the messages given on its command line and then keeps receiving; its
interactive mode cannot receive UCS-2 (it crashes). So each batch of citizens' SMS is a
new fakesmsc process (the fake SMSC takes one client at a time); the first one sends one
message to the `idle` keyword, which the smsbox swallows, just to be connected.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_to_bytes

BEARERBOX, SMSBOX = "/usr/sbin/bearerbox", "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
IDLE = "idle"
GOT = re.compile(r"Got message \d+: <(\S+) (\S+) (\S+) (.*)>\s*$")


def kannel_available() -> bool:
    return all(os.access(path, os.X_OK) for path in (BEARERBOX, SMSBOX, FAKESMSC))


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Received:
    sender: str
    to: str
    text: str


def _raw(data: str) -> bytes:
    return unquote_to_bytes(data.replace("+", "%20"))


def decode(kind: str, data: str) -> str:
    raw = _raw(data)
    if kind == "ucs-2":
        return raw.decode("utf-16-be", "replace")
    return raw.decode("utf-8", "replace")


CONFIG = """
group = core
admin-port = {admin}
admin-interface = 127.0.0.1
admin-password = {secret}
admin-allow-ip = 127.0.0.1
smsbox-port = {smsbox}
smsbox-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
log-file = {dir}/bearerbox.log
log-level = 1
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
host = 127.0.0.1
port = {smsc}
connect-allow-ip = 127.0.0.1
reconnect-delay = 1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {smsbox}
sendsms-port = {sendsms}
sendsms-interface = 127.0.0.1
log-file = {dir}/smsbox.log
log-level = 1

group = sendsms-user
username = hotline
password = {secret}
concatenation = true
max-messages = 10

group = sms-service
keyword = {idle}
text = ""
max-messages = 0

group = sms-service
keyword = default
catch-all = true
max-messages = 0
get-url = "{inbound}?secret={inbound_secret}&from=%p&to=%P&text=%a"
"""


class Kannel:
    def __init__(self, directory: Path, secret: str = "kannel-test") -> None:
        self.dir = directory
        self.secret = secret
        self.admin, self.smsbox, self.smsc, self.sendsms = (free_tcp_port() for _ in range(4))
        self.boxes: list[subprocess.Popen] = []
        self.fake: subprocess.Popen | None = None
        self.fake_logs: list[Path] = []

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms}/cgi-bin/sendsms"

    def configure(self, inbound_url: str, inbound_secret: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "kannel.conf").write_text(
            CONFIG.format(
                admin=self.admin,
                smsbox=self.smsbox,
                smsc=self.smsc,
                sendsms=self.sendsms,
                secret=self.secret,
                dir=self.dir,
                idle=IDLE,
                inbound=inbound_url,
                inbound_secret=inbound_secret,
            )
        )

    def start(self) -> None:
        """bearerbox, then smsbox, then an idle fakesmsc; each waited for."""
        conf = str(self.dir / "kannel.conf")
        self.boxes.append(self._spawn([BEARERBOX, conf], "bearerbox.out"))
        _wait_port(self.smsbox)
        _wait_port(self.smsc)
        self.boxes.append(self._spawn([SMSBOX, conf], "smsbox.out"))
        _wait_port(self.sendsms)
        self.citizens_send([("10000", "10000", IDLE)])

    def stop_boxes(self) -> None:
        self._stop_fake()
        for process in reversed(self.boxes):
            _stop(process)
        self.boxes.clear()

    def close(self) -> None:
        self.stop_boxes()

    def _spawn(self, argv: list[str], out: str) -> subprocess.Popen:
        with open(self.dir / out, "ab") as log:
            return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)

    # ------------------------------------------------------------ the operator side

    def citizens_send(self, messages: list[tuple[str, str, str]], interval: float = 0.01) -> None:
        """A new fakesmsc sending (phone, hotline, text) each once, then receiving."""
        self._stop_fake()
        log = self.dir / f"fakesmsc-{len(self.fake_logs)}.out"
        self.fake_logs.append(log)
        argv = [FAKESMSC, "-H", "127.0.0.1", "-r", str(self.smsc), "-i", str(interval)]
        argv += ["-m", str(len(messages))]
        argv += [f"{phone} {to} text {text}" for phone, to, text in messages]
        with open(log, "ab") as out:
            self.fake = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)

    def _stop_fake(self) -> None:
        if self.fake is not None:
            _stop(self.fake, signal.SIGINT)
            self.fake = None

    def received(self) -> list[Received]:
        """Every SMS delivered to the fake SMSC so far, decoded; the parts of a long one
        (`udh <05 00 03 ref total seq> data <UCS-2>`) joined again."""
        found, parts = [], {}
        for path in self.fake_logs:
            for line in path.read_text("utf-8", "replace").splitlines():
                if not (match := GOT.search(line)):
                    continue
                sender, to, kind, data = match.groups()
                if kind != "udh":
                    found.append(Received(sender, to, decode(kind, data)))
                    continue
                words = data.split(" ")
                udh, payload = _raw(words[0]), _raw(words[-1])
                ref, total, seq = udh[3], udh[4], udh[5]
                got = parts.setdefault((sender, to, ref), {})
                got[seq] = payload
                if len(got) == total:
                    whole = b"".join(got[i] for i in sorted(got))
                    found.append(Received(sender, to, whole.decode("utf-16-be", "replace")))
                    del parts[(sender, to, ref)]
        return found

    async def wait_received(self, count: int, timeout: float = 20) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received()
            if len(got) >= count:
                return got
            await asyncio.sleep(0.1)
        raise AssertionError(f"fake SMSC received {len(self.received())} of {count} SMS")


def _wait_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"kannel did not open port {port}")


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
