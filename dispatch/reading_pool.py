"""The text-only suggestions of unseen requests, computed in worker processes (issue 11).

Category model, KB search, urgency and request type are pure CPU work on the request's
text (~1.5 ms for an unseen text). On the event loop they delay every other request of
the process and use one core; here a pool of warm worker processes (spawned, never
forked: the service runs threads, pjsua2 among them) computes them while the loop goes
on, on the other cores.

The workers are started holding the category model the process holds (loaded from
`category_model` before their first call); when the process's model changes (a
retrain), new workers are started with it and replace the old ones once ready. The KB
index reaches them as a pickle file written once per index the process builds (a
worker reads it at its next call). A call the pool cannot answer — not started yet,
starting anew, broken, the model on disk other than the process's — returns None and
the caller computes in-process: the pool only ever moves work, never changes an
answer.
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
import weakref
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from app import piddirs
from app.metrics import Sample
from classifiers import ClassifierError, classify_request_type, detect_urgency, load_model

log = logging.getLogger(__name__)

# prctl(2): the signal a process gets when its parent dies (Linux).
PR_SET_PDEATHSIG = 1

Reading = tuple[list[dict[str, Any]], dict[str, Any], list[tuple[str, float]], str]


# The KB index files of a pool live in "<tmp>/hotline-kb-index-<pid>-<random>", removed
# when the pool goes (app/piddirs.py: those of processes killed outright by the next pool).
INDEX_DIR_PREFIX = "hotline-kb-index-"


def default_workers(processes: int = 1) -> int:
    """Reading workers of each of `processes` service processes: the cores left beside
    their event loops, shared among them, at least one (at most 4); none on one core.
    On 2 cores with two service processes, one each: without them new texts went from
    ~235 to 113 registrations/s (benchmarks/load/RESULTS.md)."""
    cores = os.cpu_count() or 1
    if cores < 2:
        return 0
    return max(1, min(4, cores // max(1, processes) - 1))


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
        self._version: str | None = None  # the model version the workers hold
        self._starting: asyncio.Task | None = None
        self._starting_version: str | None = None
        self._dir = piddirs.make(INDEX_DIR_PREFIX)
        self._finalizer = weakref.finalize(self, shutil.rmtree, self._dir, True)
        self._file: tuple[Any, Path] | None = None  # the last index written, and where
        self._old_file: Path | None = None
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
        version = model.version if model is not None else None
        executor = self._executor
        if executor is None or self._version != version:
            self._start(version)
            return None
        if self._file is None or self._file[0] is not index:
            self._write_index(index)
            return None
        loop = asyncio.get_running_loop()
        call = (version, str(self._file[1]), content, title, hotline, top)
        try:
            reading = await loop.run_in_executor(executor, _work, *call)
        except BrokenProcessPool:
            log.error("reading pool broken; starting a new one")
            if self._executor is executor:
                self._executor = None
            executor.shutdown(wait=False, cancel_futures=True)
            return None
        except Exception:
            log.exception("reading pool call failed; read in-process")
            return None
        if reading is not None:
            self.answered += 1
        return reading

    @property
    def ready(self) -> bool:
        """The workers are up and hold the KB index searched now? (tests wait for it)"""
        return self._executor is not None and self._file is not None

    def _start(self, version: str | None) -> None:
        """Start workers that hold model `version` (loaded and warmed before the first
        call, so no request waits for it); they replace the ones there are when ready."""
        if self.workers <= 0 or (self._starting is not None and self._starting_version == version):
            return
        if self._starting is not None:
            self._starting.cancel()
        self._starting_version = version

        async def start() -> None:
            context = multiprocessing.get_context("spawn")
            initargs = (os.getpid(), str(self.model_path), version)
            executor = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=_init, initargs=initargs
            )
            loop = asyncio.get_running_loop()
            try:  # spawn every worker (imports, model, jieba) before the first call
                warm = [loop.run_in_executor(executor, _warm) for _ in range(self.workers)]
                await asyncio.gather(*warm)
            except asyncio.CancelledError:  # replaced by a start for another model
                executor.shutdown(wait=False, cancel_futures=True)
                raise
            except Exception:
                log.exception("reading pool did not start; suggestions stay in-process")
                executor.shutdown(wait=False, cancel_futures=True)
                return
            finally:
                if self._starting is asyncio.current_task():
                    self._starting = None
            old, self._executor, self._version = self._executor, executor, version
            if old is not None:
                old.shutdown(wait=False)
            log.info("reading pool: %d worker process(es), model %s", self.workers, version)

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
                if self._old_file is not None:  # a call may still read the last one
                    self._old_file.unlink(missing_ok=True)
                self._old_file = self._file[1] if self._file is not None else None
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


def reader(suggester: Any):
    """/metrics: the worker processes configured and answering (0 until they are)."""

    async def read() -> list[Sample]:
        pool = suggester.pool
        workers = pool.workers if pool is not None else 0
        help_ = "Worker processes reading unseen texts for the suggestions"
        return [
            Sample("reading_pool_workers", help_ + " (configured; 0: in-process)", workers),
            Sample(
                "reading_pool_ready",
                help_ + " (1: up and answering)",
                int(bool(pool and pool.ready)),
            ),
        ]

    return read


# ------------------------------------------------------------------ in the workers

_model: Any = None
_index: Any = None
_index_file: str | None = None


def _init(parent: int, model_path: str, version: str | None) -> None:
    """A new worker: bound to the service process's life, then the model the pool
    serves loaded (None: none) and the rest warmed."""
    global _model
    _die_with_parent(parent)
    if version is not None:
        try:
            model = load_model(Path(model_path))
        except ClassifierError:
            model = None
        _model = model if model is not None and model.version == version else None
    detect_urgency("预热")
    classify_request_type("预热")


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
    """Nothing: submitted once per worker so that each is spawned and initialised."""


def _work(
    version: str | None,
    index_file: str,
    content: str,
    title: str | None,
    hotline: str,
    top: int,
) -> Reading | None:
    global _index, _index_file
    if version is not None and (_model is None or _model.version != version):
        return None  # the model on disk was another one: the caller reads in-process
    if _index_file != index_file:
        with open(index_file, "rb") as source:
            _index = pickle.load(source)
        _index_file = index_file
    return read_text(_model if version else None, _index, content, title, hotline, top)
