"""A whole centre on loopback (DESIGN §10); run through scripts/cluster.sh.

    scripts/cluster.sh start DIR [--nodes N]
    scripts/cluster.sh stop DIR

`start` puts a private PostgreSQL data directory in DIR, starts N service nodes
(`run.py`; node i listens on 127.0.0.<10+i>, its own HTTP, SIP and RTP ports and
HOTLINE_NODE=node<i>), Kamailio (deploy/kamailio.cfg: the SIP entry point and the
softphones' registrar) and HAProxy (deploy/haproxy.cfg: the HTTP entry point), waits
until every part is healthy and writes DIR/cluster.json:

    {"http": "http://127.0.0.1:P", "sip": "127.0.0.1:P", "db_url": "...",
     "nodes": [{"name", "pid", "http", "sip"}], "kamailio": {"pid"}, "haproxy": {"pid"},
     "postgres": {"data", "port"}, "realm": "..."}

HOTLINE_ADMIN_PASSWORD (passed on to the nodes) creates `admin`. Logs: DIR/*.log.
`stop` stops everything `start` started (the pids in DIR/cluster.json).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DB_NAME = "hotline"
REALM = "hotline.local"
START_TIMEOUT = 90.0


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port free for TCP and UDP on `host` (SIP uses both)."""
    while True:
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
        with socket.socket(socket.AF_INET, other) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        return port


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        sys.exit("PostgreSQL is not installed (scripts/setup.sh --cluster installs it)")
    return Path(found[-1]).parent


def start_postgres(work: Path) -> dict:
    """A private PostgreSQL server in work/pg, database `hotline`; its address."""
    pg = _pg_bin()
    data = work / "pg"
    if os.geteuid() == 0:  # PostgreSQL runs as `postgres`: DIR and its parents must let it in
        shutil.chown(work, "postgres", "postgres")
    run = subprocess.run(
        _as_postgres(
            [str(pg / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E",
             "UTF8", "--no-locale", "--lc-ctype=C.UTF-8"]
        ),
        capture_output=True, text=True,
    )  # fmt: skip
    if run.returncode:
        raise RuntimeError(f"initdb failed in {data}: {run.stderr.strip()}")
    port = free_port()
    # Enough connections for every node's pool plus Kamailio's workers.
    options = f"-p {port} -k {work} -c listen_addresses=127.0.0.1 -c max_connections=300"
    subprocess.run(
        _as_postgres(
            [str(pg / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l",
             str(work / "postgres.log"), "start"]
        ),
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        _as_postgres(
            [str(pg / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-q",
             "-c", f'CREATE DATABASE "{DB_NAME}"']
        ),
        check=True, capture_output=True,
    )  # fmt: skip
    return {"data": str(data), "port": port}


def stop_postgres(info: dict) -> None:
    pg = _pg_bin()
    subprocess.run(
        _as_postgres([str(pg / "pg_ctl"), "-D", info["data"], "-m", "fast", "-w", "stop"]),
        capture_output=True,
    )


def spawn(cmd: list[str], log: Path, env: dict | None = None) -> int:
    """Start a process in its own session (so `stop` can end it and its children)."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    return proc.pid


def node_config(work: Path, i: int, sip_entry: str) -> dict:
    """Node i's addresses and its TOML file (the [server]/[sip] keys that differ)."""
    host = f"127.0.0.{10 + i}"
    http, sip = free_port(host), free_port(host)
    name = f"node{i}"
    recordings = work / name / "recordings"
    recordings.mkdir(parents=True, exist_ok=True)
    (work / f"{name}.toml").write_text(
        f"""# written by scripts/cluster.py
[server]
host = "{host}"
port = {http}
workers = 1
trusted_proxies = ["127.0.0.1/32"]

[sip]
node = "{name}"
bind = "{host}"
port = {sip}
recordings_dir = "{recordings}"
registrar = "{sip_entry}"
registrar_realm = "{REALM}"
""",
        encoding="utf-8",
    )
    return {"name": name, "http": f"http://{host}:{http}", "sip": f"{host}:{sip}"}


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def sip_ok(address: str) -> bool:
    """Kamailio answers an OPTIONS to itself."""
    host, port = address.rsplit(":", 1)
    call_id = uuid.uuid4().hex
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        local = s.getsockname()[1]
        s.settimeout(1)
        msg = (
            f"OPTIONS sip:{address} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{call_id[:16]}\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:check@127.0.0.1>;tag={call_id[:8]}\r\n"
            f"To: <sip:{address}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        try:
            s.sendto(msg.encode(), (host, int(port)))
            return s.recv(4096).startswith(b"SIP/2.0 200")
        except OSError:
            return False


def wait_until(what: str, check, deadline: float, pids: list[int]) -> None:
    while not check():
        for pid in pids:
            if not alive(pid):
                raise RuntimeError(f"{what}: process {pid} exited (see the logs)")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready in {START_TIMEOUT:.0f} s (see the logs)")
        time.sleep(0.3)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as fh:
        if fh.read().split(") ", 1)[1].startswith("Z"):
            return False
    return True


def kamailio_config(work: Path, sip_entry: str, db_url: str, nodes: list[dict]) -> Path:
    (work / "dispatcher.list").write_text(
        "".join(f"1 sip:{n['sip']} 0 0\n" for n in nodes), encoding="utf-8"
    )
    site = (
        f'#!substdef "!SIP_LISTEN!{sip_entry}!g"\n'
        f'#!substdef "!DB_URL!{db_url}!g"\n'
        f'#!substdef "!DISPATCHER_LIST!{work / "dispatcher.list"}!g"\n'
        f'#!substdef "!SIP_REALM!{REALM}!g"\n'
        '#!substdef "!WORKERS!4!g"\n'
    )
    text = DEPLOY.joinpath("kamailio.cfg").read_text(encoding="utf-8")
    head, rest = text.split("# --- SITE ---\n", 1)
    _, tail = rest.split("# --- END SITE ---\n", 1)
    path = work / "kamailio.cfg"
    path.write_text(head + site + tail, encoding="utf-8")
    return path


def haproxy_config(work: Path, http_entry: str, nodes: list[dict]) -> Path:
    lines = []
    for line in DEPLOY.joinpath("haproxy.cfg").read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("bind "):
            line = f"    bind {http_entry}"
        elif stripped.startswith("server "):
            continue
        lines.append(line)
        if stripped == "# --- SITE: servers ---":
            lines += [f"    server {n['name']} {n['http'].split('//')[1]}" for n in nodes]
    path = work / "haproxy.cfg"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def start(work: Path, count: int) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    if (work / "cluster.json").exists():
        sys.exit(f"{work}/cluster.json exists: `scripts/cluster.sh stop {work}` first")
    for tool in ("kamailio", "haproxy"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is not installed (scripts/setup.sh --cluster installs it)")
    state: dict = {"nodes": [], "realm": REALM}
    state_file = work / "cluster.json"
    try:
        state["postgres"] = start_postgres(work)
        port = state["postgres"]["port"]
        state["db_url"] = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{DB_NAME}"
        sip_entry = f"127.0.0.1:{free_port(kind=socket.SOCK_DGRAM)}"
        http_entry = f"127.0.0.1:{free_port()}"
        state["http"], state["sip"] = f"http://{http_entry}", sip_entry
        env = dict(os.environ)
        env.update(
            HOTLINE_DB_URL=state["db_url"],
            HOTLINE_SESSION_KEY=Fernet.generate_key().decode(),
            HOTLINE_COOKIE_SECURE="false",
            HOTLINE_UPLOAD_DIR=str(work / "uploads"),
            HOTLINE_PUBLIC_URL=state["http"],
        )
        for var in ("HOTLINE_HOST", "HOTLINE_PORT", "HOTLINE_SIP_BIND", "HOTLINE_SIP_PORT"):
            env.pop(var, None)
        # The greetings and menus every node plays ([sip] prompts_dir; made once).
        subprocess.run([sys.executable, "-m", "callcenter.prompts"], cwd=ROOT, check=True)
        deadline = time.monotonic() + START_TIMEOUT
        nodes = [node_config(work, i, sip_entry) for i in range(1, count + 1)]
        for i, node in enumerate(nodes):
            node_env = dict(env, HOTLINE_NODE=node["name"])
            cmd = [sys.executable, "run.py", "--config", str(work / f"{node['name']}.toml")]
            node["pid"] = spawn(cmd, work / f"{node['name']}.log", node_env)
            state["nodes"].append(node)
            state_file.write_text(json.dumps(state, indent=2))
            if i == 0:  # the first node migrates the database alone
                url = node["http"] + "/healthz"
                wait_until("node1", lambda url=url: http_ok(url), deadline, [node["pid"]])
        for node in nodes[1:]:
            url = node["http"] + "/healthz"
            wait_until(node["name"], lambda url=url: http_ok(url), deadline, [node["pid"]])

        db_url = f"postgres://postgres@127.0.0.1:{port}/{DB_NAME}"
        kamailio_cfg = kamailio_config(work, sip_entry, db_url, nodes)
        kamailio = shutil.which("kamailio") or "/usr/sbin/kamailio"
        pid = spawn(
            [kamailio, "-f", str(kamailio_cfg), "-DD", "-E", "-m", "64", "-M", "8",
             "-P", str(work / "kamailio.pid"), "-Y", str(work)],
            work / "kamailio.log",
        )  # fmt: skip
        state["kamailio"] = {"pid": pid}
        state_file.write_text(json.dumps(state, indent=2))
        wait_until("kamailio", lambda: sip_ok(sip_entry), deadline, [pid])

        haproxy_cfg = haproxy_config(work, http_entry, nodes)
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        pid = spawn([haproxy, "-f", str(haproxy_cfg), "-db"], work / "haproxy.log")
        state["haproxy"] = {"pid": pid}
        state_file.write_text(json.dumps(state, indent=2))
        wait_until("haproxy", lambda: http_ok(state["http"] + "/healthz"), deadline, [pid])
    except BaseException:
        stop(work)
        raise
    state_file.write_text(json.dumps(state, indent=2))
    return state


def _end(pid: int, wait: float = 10.0) -> None:
    """SIGTERM the process's session (it leads one), then SIGKILL after `wait`."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def stop(work: Path) -> None:
    state_file = work / "cluster.json"
    if not state_file.exists():
        return
    state = json.loads(state_file.read_text())
    for part in ("haproxy", "kamailio"):
        if part in state:
            _end(state[part]["pid"])
    for node in state.get("nodes", []):
        _end(node["pid"])
    if "postgres" in state:
        stop_postgres(state["postgres"])
    state_file.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="一个中心、多个节点 / a cluster on loopback")
    sub = parser.add_subparsers(dest="command", required=True)
    p_start = sub.add_parser("start", help="start PostgreSQL, N nodes, Kamailio, HAProxy")
    p_start.add_argument("dir", type=Path)
    p_start.add_argument("--nodes", type=int, default=2)
    p_stop = sub.add_parser("stop", help="stop everything `start` started")
    p_stop.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    work = args.dir.resolve()
    if args.command == "stop":
        stop(work)
        print(f"stopped the cluster in {work}")
        return 0
    if not 1 <= args.nodes <= 50:
        parser.error("--nodes must be 1..50")
    state = start(work, args.nodes)
    print("集群已启动 / cluster is up")
    print(f"  Web/API:  {state['http']}/login  (HAProxy over {args.nodes} nodes)")
    print(f"  SIP:      sip:<number>@{state['sip']}  (Kamailio; softphones register here,")
    print(f"            realm {REALM}, password: PUT /api/v1/agents/<username>/sip-password)")
    print(f"  Database: {state['db_url']}")
    for node in state["nodes"]:
        print(f"  {node['name']}:    {node['http']}  sip:{node['sip']}  pid {node['pid']}")
    print(f"  Logs:     {work}/*.log;  stop: scripts/cluster.sh stop {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
