"""The connections of `[server] workers` > 1, dealt evenly over the processes.

The first process alone listens. Each connection it accepts goes in turn to itself or to
one of the workers it started, handed over with its file descriptor (SCM_RIGHTS on a
socket pair made when the worker was started) before a byte of it is read; the worker
serves it as if it had accepted it. A worker takes part once it says it is ready, and
leaves when its end of the pair closes (it stopped or died); a connection it cannot be
handed (its queue is full) stays with the first process.

Before, every process listened on the port (SO_REUSEPORT) and the kernel spread the
connections by a hash of their addresses: wrk's 16 keep-alive connections came 11/5 or
12/4 as often as 8/8, and the busier process set the pace (311–347 vs 488 orders/s).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable

log = logging.getLogger(__name__)

READY = b"r"  # a worker's first message: it serves what it is handed from now on
CHANNEL = "HOTLINE_WORKER_CHANNEL"  # the worker's end of its pair (a file descriptor)


def channel_pair() -> tuple[socket.socket, socket.socket]:
    """(the first process's end, the worker's end), a pair of message sockets."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


class Dealer:
    """In the first process: `protocol` is the listening server's protocol factory,
    `serve` the web server's (for the connections served here)."""

    def __init__(self, serve: Callable[[], asyncio.Protocol]) -> None:
        self.serve = serve
        self.waiting: list[socket.socket] = []  # started, not ready yet
        self.ready: list[socket.socket] = []
        self.dealt = 0

    def add(self, end: socket.socket) -> None:
        end.setblocking(False)
        self.waiting.append(end)
        asyncio.get_running_loop().add_reader(end.fileno(), self._heard, end)

    def close(self) -> None:
        loop = asyncio.get_running_loop()
        for end in self.waiting + self.ready:
            loop.remove_reader(end.fileno())
            end.close()
        self.waiting, self.ready = [], []

    def _heard(self, end: socket.socket) -> None:
        try:
            message = end.recv(16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            message = b""
        if message == READY and end in self.waiting:
            self.waiting.remove(end)
            self.ready.append(end)
        elif not message:  # the worker has gone
            self._drop(end)

    def _drop(self, end: socket.socket) -> None:
        asyncio.get_running_loop().remove_reader(end.fileno())
        for group in (self.waiting, self.ready):
            if end in group:
                group.remove(end)
        end.close()

    def protocol(self) -> asyncio.Protocol:
        return _Deal(self)

    def deal(self, transport: asyncio.Transport) -> asyncio.Protocol | None:
        """Hand `transport`'s connection to the next worker, or return the protocol that
        serves it here."""
        turn = self.dealt % (len(self.ready) + 1)
        self.dealt += 1
        if turn:
            end = self.ready[turn - 1]
            sock = transport.get_extra_info("socket")
            try:
                socket.send_fds(end, [b"c"], [sock.fileno()])
            except (BlockingIOError, InterruptedError):
                pass  # it does not read: served here
            except OSError:
                self._drop(end)
            else:
                transport.abort()  # closes this copy only: the worker holds the connection
                return None
        return self.serve()


class _Deal(asyncio.Protocol):
    def __init__(self, dealer: Dealer) -> None:
        self.dealer = dealer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        protocol = self.dealer.deal(transport)
        if protocol is not None:
            transport.set_protocol(protocol)
            protocol.connection_made(transport)


class Hand:
    """In a worker: serves the connections the first process hands over on `fd`."""

    def __init__(self, fd: int, serve: Callable[[], asyncio.Protocol]) -> None:
        self.serve = serve
        self.end = socket.socket(fileno=fd)
        self.end.setblocking(False)
        self._tasks: set[asyncio.Task] = set()

    def start(self) -> None:
        asyncio.get_running_loop().add_reader(self.end.fileno(), self._readable)
        self.end.send(READY)

    def close(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self.end.fileno())
        self.end.close()

    def _readable(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                message, fds, _flags, _addr = socket.recv_fds(self.end, 16, 8)
            except (BlockingIOError, InterruptedError):
                return
            if not message and not fds:  # the first process has gone
                loop.remove_reader(self.end.fileno())
                return
            for fd in fds:
                conn = socket.socket(fileno=fd)
                conn.setblocking(False)
                task = loop.create_task(loop.connect_accepted_socket(self.serve, conn))
                self._tasks.add(task)
                task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("a handed-over connection could not be served: %s", task.exception())
