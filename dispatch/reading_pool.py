"""The text-only suggestions of unseen requests, computed in worker processes (issue 11).

Category model, KB search, urgency and request type are pure CPU work on the request's
text (~1.5 ms for an unseen text). On the event loop they delay every other request of
the process and use one core; here a pool of warm worker processes (spawned, never
forked: the service runs threads, pjsua2 among them) computes them while the loop goes
on, on the other cores.

Each call names what it must be computed with: the category model's version (a worker
loads it from `category_model` when its own is another) and the KB index as a pickle
file written once per index the process builds (a worker reads it when its own is
another). A call the pool cannot answer — not started yet, broken, the model on disk
newer or older than the one the process holds — returns None and the caller computes
in-process: the pool only ever moves work, never changes an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import logging
import multiprocessing
import os
import pickle
import shutil
import signal
import tempfile
import weakref
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from classifiers import ClassifierError, classify_request_type, detect_urgency, load_model

log = logging.getLogger(__name__)

# prctl(2): the signal a process gets when its parent dies (Linux).
PR_SET_PDEATHSIG = 1

Reading = tuple[list[dict[str, Any]], dict[str, Any], list[tuple[str, float]], str]


def default_workers() -> int:
    """One worker per core but the loop's own, at most 4; none on one core."""
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def read_text(
    model: Any, index: Any, content: str, title: str | None, hotline: str, top: int
) -> Reading:
    """KB answers, urgency, the model's top labels and the request type of one text
    (the same function in-process and in the workers)."""
    query = f"{title} {content}" if title else content
    kb = [
        {**hit.as_json(), "answer": hit.answer} for hit in index.search(query, top, hotline=hotline)
    ]
    urgency = detect_urgency(content)
    alarm = {
        "urgent": urgency.urgent,
        "type": urgency.type,
        "linkage": urgency.linkage,
        "matched": list(urgency.matched),
    }
    labels = model.predict(content, title=title, k=top) if model is not None else []
    return kb, alarm, labels, classify_request_type(content)


class ReadingPool:
    def __init__(self, workers: int, model_path: Path) -> None:
        self.workers = workers
        self.model_path = model_path
        self._executor: ProcessPoolExecutor | None = None
        self._starting: asyncio.Task | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="hotline-kb-index-"))
        self._finalizer = weakref.finalize(self, shutil.rmtree, self._dir, True)
        self._file: tuple[Any, Path] | None = None  # the last index written, and where
        self._writing: Any = None
        self._serial = itertools.count(1)
        self.answered = 0  # readings computed by the workers

    async def read(
        self,
        model: Any,
        index: Any,
        content: str,
        title: str | None,
        hotline: str,
        top: int,
    ) -> Reading | None:
        """The reading computed by a worker, or None (compute it in-process)."""
        executor = self._executor
        if executor is None:
            self._start()
            return None
        if self._file is None or self._file[0] is not index:
            self._write_index(index)
            return None
        index_file = self._file[1]
        version = model.version if model is not None else None
        loop = asyncio.get_running_loop()
        call = (str(self.model_path), version, str(index_file), content, title, hotline, top)
        try:
            reading = await loop.run_in_executor(executor, _work, *call)
        except BrokenProcessPool:
            log.error("reading pool broken; starting a new one")
            self._executor = None
            executor.shutdown(wait=False, cancel_futures=True)
            return None
        if reading is not None:
            self.answered += 1
        return reading

    @property
    def ready(self) -> bool:
        """The workers are up and hold the KB index searched now? (tests wait for it)"""
        return self._executor is not None and self._file is not None

    def _start(self) -> None:
        if self._starting is not None or self.workers <= 0:
            return

        async def start() -> None:
            context = multiprocessing.get_context("spawn")
            executor = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=_die_with_parent,
                initargs=(os.getpid(),),
            )
            loop = asyncio.get_running_loop()
            try:  # spawn and warm every worker (imports, jieba) before the first call
                warm = [loop.run_in_executor(executor, _warm) for _ in range(self.workers)]
                await asyncio.gather(*warm)
            except Exception:
                log.exception("reading pool did not start; suggestions stay in-process")
                executor.shutdown(wait=False, cancel_futures=True)
                return
            finally:
                self._starting = None
            self._executor = executor
            log.info("reading pool: %d worker process(es)", self.workers)

        self._starting = asyncio.get_running_loop().create_task(start(), name="reading-pool")

    def _write_index(self, index: Any) -> None:
        """Pickle `index` to a file of its own, off the loop (once per index object; the
        previous file goes)."""
        if self._writing is index:
            return
        self._writing = index
        path = self._dir / f"kb-{next(self._serial)}.pickle"

        def write() -> None:
            with path.open("wb") as out:
                pickle.dump(index, out, protocol=pickle.HIGHEST_PROTOCOL)

        async def run() -> None:
            try:
                await asyncio.get_running_loop().run_in_executor(None, write)
                if self._file is not None:
                    self._file[1].unlink(missing_ok=True)
                self._file = (index, path)
            except Exception:
                log.exception("KB index not handed to the reading pool")
            finally:
                if self._writing is index:
                    self._writing = None

        asyncio.get_running_loop().create_task(run(), name="reading-pool-index")

    async def close(self) -> None:
        if self._starting is not None:
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starting
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self._finalizer()


# ------------------------------------------------------------------ in the workers

_model: Any = None
_index: Any = None
_index_file: str | None = None


def _die_with_parent(parent: int) -> None:
    """A worker ends when the service process dies (SIGKILL, a crash): it would
    otherwise stay, an orphan holding the service's stdout and stderr open.

    Linux's parent-death signal; the workers are started from the event loop's thread,
    which lives as long as the process."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the signal was asked for
        os._exit(0)


def _warm() -> None:
    detect_urgency("预热")
    classify_request_type("预热")


def _work(
    model_path: str,
    version: str | None,
    index_file: str,
    content: str,
    title: str | None,
    hotline: str,
    top: int,
) -> Reading | None:
    global _model, _index, _index_file
    if version is None:
        model = None
    else:
        if _model is None or _model.version != version:
            try:
                _model = load_model(Path(model_path))
            except ClassifierError:
                return None
        if _model.version != version:  # the file on disk is another model: not ours
            return None
        model = _model
    if _index_file != index_file:
        with open(index_file, "rb") as source:
            _index = pickle.load(source)
        _index_file = index_file
    return read_text(model, _index, content, title, hotline, top)
