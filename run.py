"""Start the hotline service: `python run.py [--demo] [--config FILE] [--host H] [--port P]`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator

from aiohttp import web

from app import piddirs
from app.dealer import CHANNEL, Dealer, Hand, channel_pair
from config import ConfigError, Settings, in_memory, load_settings

DEMO_DB = "sqlite+aiosqlite:///var/demo.db"
log = logging.getLogger("run")
WORKER = "HOTLINE_WORKER"  # set in the environment of the workers run.py starts
# prometheus_client's multiprocess mode (app/metrics.py): named here, where importing
# app.metrics would import prometheus_client too early
METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"
SESSION_KEY = "HOTLINE_SESSION_KEY"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="12345 热线工单系统")
    parser.add_argument("--config", help="TOML file overriding config/default.toml")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="use var/demo.db (unless HOTLINE_DB_URL is set) and fill it with "
        "demo units, users and a month of orders if it is empty",
    )
    parser.add_argument("--host", help="listen address (default from config)")
    parser.add_argument("--port", type=int, help="listen port (default from config)")
    return parser.parse_args(argv)


def build_settings(args: argparse.Namespace) -> Settings:
    env = dict(os.environ)
    if args.demo and "HOTLINE_DB_URL" not in env:
        env["HOTLINE_DB_URL"] = DEMO_DB
    if args.host:
        env["HOTLINE_HOST"] = args.host
    if args.port is not None:
        env["HOTLINE_PORT"] = str(args.port)
    return load_settings(args.config, env)


def banner(settings: Settings, accounts: list[tuple[str, str, str]]) -> str:
    base = settings.server.public_url or f"http://{settings.server.host}:{settings.server.port}"
    lines = [
        "12345 热线工单系统已启动 / hotline service is up",
        f"  Web:      {base}/login",
        f"  Citizens: {base}/web/citizen (submit and track requests, no account)",
        f"  API:      {base}/api/v1/",
        f"  OpenAPI:  {base}/api/v1/openapi.json",
        f"  Health:   {base}/healthz",
        f"  Database: {settings.database.url}",
        f"  Processes: {settings.server.workers} ([server] workers, HOTLINE_WORKERS)",
    ]
    if settings.sip.enabled:
        numbers = ", ".join(h.number for h in settings.hotlines)
        lines.append(
            f"  SIP:      sip:<number>@{settings.sip.bind}:{settings.sip.port} "
            f"(UDP/TCP; numbers {numbers})"
        )
    if accounts:
        lines.append("  Demo accounts (username / password / role):")
        lines += [f"    {u:<16} {p:<14} {r}" for u, p, r in accounts]
    return "\n".join(lines)


def check_workers(settings: Settings) -> None:
    if settings.server.workers > 1 and in_memory(settings.database.url):
        raise ConfigError(
            "server.workers > 1 needs a database the processes share: PostgreSQL or a "
            "SQLite file, not a database in memory"
        )


def start_worker(settings: Settings, argv: list[str], dealer: Dealer, i: int) -> subprocess.Popen:
    """`[server] workers` > 1: worker `i`, another service process of this machine, a
    node of the cluster (own name, no SIP) serving the connections this process deals it
    (app/dealer.py). This process is the first; it starts them once it is up (the
    schema migrated, hotlines and admin written)."""
    mine, theirs = channel_pair()
    env = dict(os.environ)
    env |= {
        WORKER: str(os.getpid()),
        CHANNEL: str(theirs.fileno()),
        "HOTLINE_NODE": f"{settings.sip.node_name}-w{i}",
        # as the first resolved it ("auto" again might count other memory): each
        # process sizes its reading pool by it
        "HOTLINE_WORKERS": str(settings.server.workers),
        "HOTLINE_SIP_ENABLED": "false",
    }
    command = [sys.executable, __file__, *argv]
    proc = subprocess.Popen(command, env=env, pass_fds=[theirs.fileno()])
    theirs.close()
    dealer.add(mine)
    return proc


async def keep_workers(
    settings: Settings, argv: list[str], dealer: Dealer, workers: list[subprocess.Popen]
) -> None:
    """A worker that ends (crashed, killed) is started again under its name."""
    while True:
        await asyncio.sleep(1)
        for i, proc in enumerate(workers, start=1):
            if proc.poll() is not None:
                log.error("worker %d ended (exit %s): starting it again", i, proc.returncode)
                workers[i - 1] = start_worker(settings, argv, dealer, i)


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for proc in workers:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)  # a clean stop: sessions end, buses close
    for proc in workers:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


async def orphaned(parent: int) -> None:
    """A worker ends when the process that started it has gone (killed, crashed)."""
    while os.getppid() == parent:
        await asyncio.sleep(1)


async def serve(settings: Settings, demo: bool, argv: list[str]) -> None:
    from app.demo import DEMO_ACCOUNTS, load_demo
    from app.factory import create_app

    worker_of = os.environ.get(WORKER)
    # SIGTERM (systemd's stop, `kill`) and SIGINT stop cleanly: workers told, the
    # runner cleaned up, the metrics directory removed. By default SIGTERM ended the
    # process as it was, and a process started in the background (`cmd &`) ignores
    # SIGINT, as did the workers it started.
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    for stop in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop, task.cancel)
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    accounts = []
    if demo and worker_of is None:
        created = await load_demo(app)
        print("已生成演示数据 / demo data loaded" if created else "演示数据已存在 / demo data kept")
        accounts = DEMO_ACCOUNTS
    workers, listening, dealer, hand = [], None, None, None
    if worker_of is not None:  # served: the connections the first process hands over
        hand = Hand(int(os.environ[CHANNEL]), runner.server)
        hand.start()
    elif settings.server.workers > 1:  # the only listener: deals the connections
        dealer = Dealer(runner.server)
        listening = await asyncio.get_running_loop().create_server(
            dealer.protocol, settings.server.host, settings.server.port, reuse_address=True
        )
    else:
        await web.TCPSite(runner, settings.server.host, settings.server.port).start()
    if worker_of is None:
        print(banner(settings, accounts), flush=True)
        if dealer is not None:
            workers = [
                start_worker(settings, argv, dealer, i) for i in range(1, settings.server.workers)
            ]
    try:
        if worker_of is not None:
            await orphaned(int(worker_of))
        elif dealer is not None:
            await keep_workers(settings, argv, dealer, workers)
        else:
            await asyncio.Event().wait()
    finally:
        if listening is not None:
            listening.close()
        for part in (dealer, hand):
            if part is not None:
                part.close()
        stop_workers(workers)
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    from app import logs

    logs.configure("text", "")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = build_settings(args)
    except ConfigError as exc:
        print(f"配置错误 / configuration error: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.server.log_format, settings.sip.node_name)
    try:
        check_workers(settings)
    except ConfigError as exc:
        print(f"配置错误 / configuration error: {exc}", file=sys.stderr)
        return 2
    share_session_key(settings)
    with shared_metrics(settings):
        try:
            asyncio.run(serve(settings, args.demo, sys.argv[1:] if argv is None else argv))
        except (KeyboardInterrupt, asyncio.CancelledError):
            pass
        except OSError as exc:
            print(f"无法启动服务 / cannot start: {exc}", file=sys.stderr)
            return 1
    return 0


def share_session_key(settings: Settings) -> None:
    """`[server] workers` > 1 without `web.session_key`: one random key for the processes
    of this run (the workers inherit it), not one each: a web login made on one process
    must hold on the next request, whichever process it is dealt to."""
    if settings.server.workers <= 1 or WORKER in os.environ or settings.web.session_key:
        return
    from cryptography.fernet import Fernet

    log.warning(
        "web.session_key (HOTLINE_SESSION_KEY) is empty: one random key for this run's "
        "processes; web logins end when the service restarts"
    )
    settings.web.session_key = os.environ[SESSION_KEY] = Fernet.generate_key().decode()


@contextlib.contextmanager
def shared_metrics(settings: Settings) -> Iterator[None]:
    """`[server] workers` > 1: the first process makes a fresh directory where every
    process of the group keeps its metrics (app/metrics.py), named in the environment
    the workers inherit, before anything imports prometheus_client; gone at the end."""
    if settings.server.workers <= 1 or WORKER in os.environ or METRICS_DIR in os.environ:
        yield
        return
    if "prometheus_client" in sys.modules:  # too late: its values are per process
        raise RuntimeError("prometheus_client was imported before the metrics directory")
    directory = piddirs.make("hotline-metrics-")  # and those of processes killed outright
    os.environ[METRICS_DIR] = str(directory)
    try:
        yield
    finally:
        del os.environ[METRICS_DIR]
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
