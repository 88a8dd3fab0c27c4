#!/usr/bin/env python3
"""FlowTrack beside its baselines: one command, one table (bench/README.md explains it).

Every scenario runs FlowTrack and its baseline in the same run, alternating, BENCH_RUNS
times (default 3); figures are medians with min–max. Results go to stdout and to
bench/results/latest.md. Loads target 127.0.0.1 only and every loop is bounded.
"""

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "target" / "release"
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
DURATION = int(os.environ.get("BENCH_DURATION", "5"))
FANOUT_CLIENTS = int(os.environ.get("BENCH_FANOUT_CLIENTS", "10000"))
FANOUT_MOVES = int(os.environ.get("BENCH_FANOUT_MOVES", "200"))
SECRET = "bench-secret-bench-secret-bench-secret-0123"
PASSWORD = "bench-password-1"
WORK = Path(tempfile.mkdtemp(prefix="flowtrack-bench-", dir="/tmp"))
WORK.chmod(0o755)  # the throwaway PostgreSQL runs as user postgres and lives below it
RESULTS: list[dict] = []
CHILDREN: list[subprocess.Popen] = []


def log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def spawn(cmd, env=None, log_name="proc") -> subprocess.Popen:
    out = open(WORK / f"{log_name}.log", "ab")
    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    CHILDREN.append(proc)
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def http(method: str, url: str, token: str | None = None, body=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw else None), raw
    except urllib.error.HTTPError as err:
        raw = err.read()
        return err.code, None, raw


def wait_ready(base: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/ready", timeout=2) as resp:
                if resp.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{base} never became ready")


class FlowTrack:
    def __init__(self, database_url: str, redis_url: str | None = None, name="flowtrack", extra_env: dict | None = None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.update(
            DATABASE_URL=database_url,
            FLOWTRACK_BIND=f"127.0.0.1:{self.port}",
            FLOWTRACK_JWT_SECRET=SECRET,
            FLOWTRACK_ACCESS_TTL="7200",
            FLOWTRACK_REGISTER_PER_HOUR="1000000",
            FLOWTRACK_LOGIN_MAX_FAILURES="1000000",
            RUST_LOG="warn",
        )
        env.pop("REDIS_URL", None)
        env.update(extra_env or {})
        if redis_url:
            env["REDIS_URL"] = redis_url
        self.proc = spawn([str(TARGET / "flowtrack")], env=env, log_name=name)
        wait_ready(self.base)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        stop(self.proc)


def fixture(base: str, tasks: int = 1):
    """A user, a project and `tasks` tasks; returns (token, user_id, project_id, task ids)."""
    email = f"bench-{uuid.uuid4().hex}@example.com"
    status, pair, raw = http("POST", base + "/auth/register", body={"email": email, "password": PASSWORD, "full_name": "Bench"})
    assert status == 201, raw
    token = pair["access_token"]
    status, project, raw = http("POST", base + "/projects", token, {"name": "Bench"})
    assert status == 201, raw
    ids = []
    for i in range(tasks):
        status, task, raw = http("POST", base + "/tasks", token, {"project_id": project["id"], "title": f"Task {i}", "labels": ["bench"]})
        assert status == 201, raw
        ids.append(task["id"])
    return token, pair["user"]["id"], project["id"], ids, email


WRK_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
WRK_COUNT = re.compile(r"(\d+) requests in")
WRK_P99 = re.compile(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", re.M)
WRK_NON2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
WRK_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def wrk(url: str, conns: int, seconds: int = DURATION, token: str | None = None, script: str | None = None, threads: int = 2,
        counted: bool = False, headers: tuple[str, ...] = ()):
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency"]
    if token and not script:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    for header in headers:
        cmd += ["-H", header]
    if script:
        path = WORK / f"script-{uuid.uuid4().hex}.lua"
        path.write_text(script)
        cmd += ["-s", str(path)]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(WRK_RPS.search(out).group(1))
    m = WRK_P99.search(out)
    factor = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    p99 = float(m.group(1)) * factor
    bad = int(WRK_NON2XX.search(out).group(1)) if WRK_NON2XX.search(out) else 0
    errors = WRK_ERRORS.search(out)
    if bad or (errors and any(int(x) for x in errors.groups()[1:])):
        log(f"warning: {url}: non-2xx={bad} errors={errors.groups() if errors else None}")
    if counted:
        return rps, p99, int(WRK_COUNT.search(out).group(1)) - bad
    return rps, p99


def med(values):
    return statistics.median(values), min(values), max(values)


def fmt(values, unit="", digits=0):
    m, lo, hi = med(values)
    f = f"{{:,.{digits}f}}"
    return f"{f.format(m)}{unit} ({f.format(lo)}–{f.format(hi)})"


def record(scenario, flowtrack, baseline=None, ratio=None, budget="", met=None, note=""):
    row = {"scenario": scenario, "flowtrack": flowtrack, "baseline": baseline or "", "ratio": "" if ratio is None else f"{ratio:.2f}",
           "budget": budget, "met": "" if met is None else ("yes" if met else "**no**"), "note": note}
    RESULTS.append(row)
    log(f"{scenario}: {flowtrack} | {baseline or '-'} | ratio {row['ratio']} | {budget} {row['met']}")


# --------------------------------------------------------------------------- scenarios


def scenario_start_idle():
    db = WORK / "start.db"
    url = f"sqlite://{db}?mode=rwc"
    # The first start creates the schema; then measure starts on the existing file.
    first = None
    times, rss = [], []
    for i in range(RUNS + 1):
        port = free_port()
        env = dict(os.environ, DATABASE_URL=url, FLOWTRACK_BIND=f"127.0.0.1:{port}", RUST_LOG="warn")
        t0 = time.perf_counter()
        proc = spawn([str(TARGET / "flowtrack")], env=env, log_name="start")
        base = f"http://127.0.0.1:{port}"
        while True:
            try:
                with urllib.request.urlopen(base + "/ready", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except Exception:
                time.sleep(0.002)
            if time.perf_counter() - t0 > 30:
                raise RuntimeError("no /ready within 30 s")
        elapsed = (time.perf_counter() - t0) * 1000
        time.sleep(2)
        if i == 0:
            first = elapsed
        else:
            times.append(elapsed)
            rss.append(rss_kib(proc.pid) / 1024)
        stop(proc)
    record("Start → /ready 200 (SQLite, existing file)", fmt(times, " ms"), budget="≤ 200 ms", met=statistics.median(times) <= 200,
           note=f"first start (creates the schema): {first:.0f} ms")
    record("Idle RSS after start", fmt(rss, " MiB", 1), budget="≤ 20 MiB", met=statistics.median(rss) <= 20)


def scenario_read(label: str, database_url: str):
    server = FlowTrack(database_url, name=f"read-{label}")
    try:
        token, _, project_id, ids, _ = fixture(server.base)
        status, created, raw = http("POST", server.base + "/users/me/tokens", token,
                                    {"name": "bench", "scope": "read", "project_id": project_id})
        assert status == 201, raw
        api_token = created["secret"]
        status, _, body = http("GET", f"{server.base}/tasks/{ids[0]}", token)
        assert status == 200
        assert http("GET", f"{server.base}/tasks/{ids[0]}", api_token)[0] == 200
        body_file = WORK / f"task-{label}.json"
        body_file.write_bytes(body)
        bare_port = free_port()
        bare = spawn([str(TARGET / "bare_server"), "--bind", f"127.0.0.1:{bare_port}", "--body", str(body_file)], log_name="bare")
        time.sleep(0.5)
        ft, base, api = [], [], []
        ft_p99, base_p99, api_p99 = [], [], []
        # Each round measures the bare server, then FlowTrack with an access token, then with
        # an API token, and each ratio is the median of its rounds' ratios: the box switches
        # between two speed modes (±20–35 %), and a ratio of measurements taken side by side
        # is far less likely to straddle a switch than a ratio of medians taken apart.
        for _ in range(RUNS):
            r, p = wrk(f"http://127.0.0.1:{bare_port}/tasks/{ids[0]}", 64)
            base.append(r)
            base_p99.append(p)
            r, p = wrk(f"{server.base}/tasks/{ids[0]}", 64, token=token)
            ft.append(r)
            ft_p99.append(p)
            r, p = wrk(f"{server.base}/tasks/{ids[0]}", 64, token=api_token)
            api.append(r)
            api_p99.append(p)
        stop(bare)
        ratios = [f / b for f, b in zip(ft, base)]
        ratio = statistics.median(ratios)
        record(f"Read GET /tasks/{{id}} ({label}), 64 conns", fmt(ft, " req/s") + f", p99 {statistics.median(ft_p99):.1f} ms",
               fmt(base, " req/s") + f", p99 {statistics.median(base_p99):.1f} ms (bare axum)", ratio, "≥ 0.60", ratio >= 0.6,
               note=f"median of the rounds' ratios ({min(ratios):.2f}–{max(ratios):.2f})")
        ratios = [a / f for a, f in zip(api, ft)]
        ratio = statistics.median(ratios)
        record(f"Read GET /tasks/{{id}} with an API token ({label}), 64 conns",
               fmt(api, " req/s") + f", p99 {statistics.median(api_p99):.1f} ms",
               fmt(ft, " req/s") + " (same read, access token)", ratio, "≥ 0.95", ratio >= 0.95,
               note=f"read-scoped token bound to the project; median of the rounds' ratios ({min(ratios):.2f}–{max(ratios):.2f})")
    finally:
        server.stop()


def create_script(token: str, project_id: str) -> str:
    body = json.dumps({"project_id": project_id, "title": "bench"})
    return f"""
wrk.method = "POST"
wrk.path = "/tasks"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
wrk.body = '{body}'
"""


def move_script(token: str, task_id: str) -> str:
    return f"""
local statuses = {{"in_progress", "review", "done", "todo"}}
local n = 0
request = function()
  n = n + 1
  local body = '{{"status":"' .. statuses[(n % 4) + 1] .. '"}}'
  return wrk.format("PATCH", "/tasks/{task_id}/move",
    {{["Authorization"] = "Bearer {token}", ["Content-Type"] = "application/json"}}, body)
end
"""


# The statements FlowTrack sends for one change on PostgreSQL. A creation without an assignee
# is one statement (services/tasks/create_pg.rs): the function locks, checks the membership
# against the roles the server allows, appends, and writes the task, the activity and the
# event, whose text the server sends cut around the seq and the position — bound parameters,
# as here (pgbench's -D variables; same shape and size: 36-character ids, a millisecond time).
_ID = "00000000-0000-0000-0000-000000000000"
_AT = "2026-12-05T00:00:00.000Z"
PGBENCH_CREATE_VARS = {
    "details": '{"title":"bench","status":"todo"}',
    "head": f'{{"type":"task.created","project_id":"{_ID}","seq":',
    "middle": (f',"actor_id":"{_ID}","at":"{_AT}","data":{{"task":{{"id":"{_ID}","project_id":"{_ID}",'
               f'"title":"bench","description":"","status":"todo","priority":"medium","assignee_id":null,'
               f'"labels":[],"created_by":"{_ID}","due_date":null,"position":"'),
    "tail": f'","version":1,"created_at":"{_AT}","updated_at":"{_AT}","completed_at":null}}}}}}',
}
PGBENCH_CREATE = """
SELECT outcome, member_role, seq, task_position FROM flowtrack_create_task(:pid, :uid, 'owner,editor', false, gen_random_uuid(), 'bench', '', 'todo', 'medium', '[]', NULL, now(), NULL, gen_random_uuid(), 'task.created', :details, :head, :middle, :tail);
"""

# A move to the end of a column is one statement too (services/tasks/move_pg.rs): the server
# knows the task's project from memory after the first move and sends the event's text up
# to the task, which the function writes as it is after the move. The bench's clients cycle
# through the columns; pgbench picks one at random.
PGBENCH_MOVE_VARS = {
    "mhead": f'{{"type":"task.moved","project_id":"{_ID}","seq":',
    "mmiddle": f',"actor_id":"{_ID}","at":"{_AT}","data":{{"task":',
}
PGBENCH_MOVE = """
\\set n random(1, 4)
SELECT * FROM flowtrack_move_task(:pid, :tid, :uid, 'owner,editor', false, (ARRAY['in_progress', 'review', 'done', 'todo'])[:n], NULL, now(), gen_random_uuid(), :mhead, :mmiddle);
"""

PGBENCH_TPS = re.compile(r"tps = ([\d.]+)")


def pgbench(pg_env: dict, dsn: str, script: str, clients: int, variables: dict) -> float:
    path = WORK / f"pgbench-{uuid.uuid4().hex}.sql"
    path.write_text(script)
    cmd = [f"{pg_env['FLOWTRACK_TEST_PG_BIN']}/pgbench", "-n", "-M", "prepared", f"-c{clients}", "-j2", f"-T{DURATION}", "-f", str(path)]
    for k, v in variables.items():
        cmd += ["-D", f"{k}={v}"]
    out = subprocess.run(cmd + [dsn], capture_output=True, text=True, timeout=DURATION + 120)
    m = PGBENCH_TPS.search(out.stdout)
    if not m:
        raise RuntimeError(f"pgbench failed: {out.stdout}\n{out.stderr}")
    return float(m.group(1))


def scenario_writes(label: str, database_url: str, pg_env: dict | None, pg_dsn: str | None):
    server = FlowTrack(database_url, name=f"write-{label}")
    clients = 8
    try:
        token, user_id, project_id, ids, _ = fixture(server.base, tasks=1)
        for name, script, pg_script, pg_vars in [
            ("create POST /tasks", create_script(token, project_id), PGBENCH_CREATE, PGBENCH_CREATE_VARS),
            ("move PATCH /tasks/{id}/move", move_script(token, ids[0]), PGBENCH_MOVE, PGBENCH_MOVE_VARS),
        ]:
            ft, base = [], []
            for _ in range(RUNS):
                rps, _ = wrk(server.base + "/", clients, script=script)
                ft.append(rps)
                if pg_env:
                    base.append(pgbench(pg_env, pg_dsn, pg_script, clients, {"pid": project_id, "uid": user_id, "tid": ids[0], **pg_vars}))
            if pg_env:
                # As for the reads: the median of each round's FlowTrack ÷ pgbench, both run
                # back to back, so a switch of the box's speed mode lands on one round.
                ratios = [f / b for f, b in zip(ft, base)]
                ratio = statistics.median(ratios)
                record(f"Write {name} ({label}), {clients} clients", fmt(ft, " tx/s"), fmt(base, " tx/s") + " (pgbench, same statements)",
                       ratio, "≥ 0.80", ratio >= 0.8, note=f"median of the rounds' ratios ({min(ratios):.2f}–{max(ratios):.2f})")
            else:
                record(f"Write {name} ({label}), {clients} clients", fmt(ft, " tx/s"), note="no pgbench peer on SQLite")
    finally:
        server.stop()


def board_sizes(url: str, token: str) -> tuple[int, str, int]:
    """The board's plain size, and the Content-Encoding and size it comes with to a browser's
    Accept-Encoding (urllib decodes nothing: the sizes are the bytes on the wire)."""
    sizes = []
    for accept in (None, "gzip, br"):
        req = urllib.request.Request(url)
        req.add_header("Authorization", f"Bearer {token}")
        if accept:
            req.add_header("Accept-Encoding", accept)
        with urllib.request.urlopen(req, timeout=30) as resp:
            sizes.append((resp.headers.get("Content-Encoding", ""), len(resp.read())))
    return sizes[0][1], sizes[1][0], sizes[1][1]


def scenario_board(label: str, database_url: str):
    server = FlowTrack(database_url, name=f"board-{label}")
    try:
        token, _, project_id, _, _ = fixture(server.base, tasks=0)
        script = create_script(token, project_id)
        count = 0
        while count < 500:
            status, _, raw = http("POST", server.base + "/tasks", token, {"project_id": project_id, "title": f"Board task {count}"})
            assert status == 201, raw
            count += 1
        url = f"{server.base}/projects/{project_id}/board"
        # What a browser sends: the board comes br-compressed from the copy cached beside its
        # JSON (made once per board version; the board does not change during the run).
        accept = "Accept-Encoding: gzip, br"
        plain_size, encoding, compressed_size = board_sizes(url, token)
        assert encoding == "br", f"the board came as {encoding!r} to {accept!r}"
        rps, p99, rps_br, p99_br = [], [], [], []
        for _ in range(RUNS):
            r, p = wrk(url, 64, token=token)
            rps.append(r)
            p99.append(p)
            r, p = wrk(url, 64, token=token, headers=(accept,))
            rps_br.append(r)
            p99_br.append(p)
        record(f"Board GET /projects/{{id}}/board, 500 tasks ({label}), 64 conns", fmt(rps, " req/s"),
               note=f"p99 {fmt(p99, ' ms', 1)}; plain JSON, {plain_size:,} bytes")
        record(f"Board GET /projects/{{id}}/board, 500 tasks ({label}), 64 conns, {accept}", fmt(rps_br, " req/s"),
               note=f"p99 {fmt(p99_br, ' ms', 1)}; br, {compressed_size:,} bytes")
    finally:
        server.stop()


def scenario_login_storm(database_url: str):
    server = FlowTrack(database_url, name="storm")
    try:
        token, _, _, ids, email = fixture(server.base)
        url = f"{server.base}/tasks/{ids[0]}"
        login = f"""
wrk.method = "POST"
wrk.path = "/auth/login"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{json.dumps({"email": email, "password": PASSWORD})}'
"""
        calm, storm = [], []
        for _ in range(RUNS):
            calm.append(wrk(url, 32, token=token, threads=1)[1])
            path = WORK / "login.lua"
            path.write_text(login)
            storm_proc = subprocess.Popen(["wrk", "-t1", "-c50", f"-d{DURATION + 2}s", "-s", str(path), server.base + "/"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
            storm.append(wrk(url, 32, token=token, threads=1)[1])
            storm_proc.wait(timeout=DURATION + 30)
        ratio = statistics.median(storm) / statistics.median(calm)
        record("Read p99 during a login storm (50 concurrent logins)", fmt(storm, " ms", 2), fmt(calm, " ms", 2) + " (no storm)",
               ratio, "≤ 2.0×", ratio <= 2.0)
    finally:
        server.stop()


def fanout_once(database_url: str, redis_url: str | None, two: bool) -> dict:
    """One `ws_fanout` run against fresh servers (so each run's idle RSS is measured alike)."""
    a = FlowTrack(database_url, redis_url, name="fanout-a")
    b = FlowTrack(database_url, redis_url, name="fanout-b") if two else None
    try:
        cmd = [str(TARGET / "ws_fanout"), "--base", a.base, "--clients", str(FANOUT_CLIENTS), "--moves", str(FANOUT_MOVES),
               "--server-pid", ",".join(str(p.pid) for p in [a, b] if p)]
        if b:
            cmd += ["--base2", b.base]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise RuntimeError(f"ws_fanout failed: {out.stderr[-2000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        a.stop()
        if b:
            b.stop()


def scenario_fanout(database_url: str, redis_url: str | None, two: bool):
    """The fan-out, as every other line: the median of RUNS runs, with their min–max (since
    session 13; a single run before, which the box's two speed modes moved by ±10 ms)."""
    runs = [fanout_once(database_url, redis_url, two) for _ in range(RUNS)]
    where = "two instances + Redis" if two else "one instance"
    clients, opened = runs[0]["clients"], min(r["opened"] for r in runs)
    if not two:
        per_conn = [r["extra_rss_bytes_per_connection"] / 1024 for r in runs]
        record(f"Idle WebSockets: extra RSS per connection ({opened} clients)", fmt(per_conn, " KiB", 1), budget="≤ 8 KiB",
               met=med(per_conn)[0] <= 8)
    p50 = [r["latency_ms_p50"] for r in runs]
    p99 = [r["latency_ms_p99"] for r in runs]
    delivered = sum(r["deliveries_received"] for r in runs)
    expected = sum(r["deliveries_expected"] for r in runs)
    server_p99 = [r["server_fanout_ms_p99"] for r in runs]
    record(f"Move → delivery latency, {clients} clients × {runs[0]['moves']} moves ({where})",
           f"p50 {fmt(p50, ' ms', 1)}, p99 {fmt(p99, ' ms', 1)}",
           note=(f"{delivered}/{expected} delivered over {len(runs)} runs; p99 of each run: "
                 f"{', '.join(f'{x:.1f}' for x in p99)} ms; server's own part (hub → last socket write, /metrics "
                 f"buckets), p99 ≤ {fmt(server_p99, ' ms')}; CPU per move: servers "
                 f"{fmt([r['server_cpu_ms_per_move'] for r in runs], ' ms')}, this tool "
                 f"{fmt([r['client_cpu_ms_per_move'] for r in runs], ' ms')}"),
           budget="p99 ≤ 100 ms",
           met=med(p99)[0] <= 100 and delivered == expected)


def scenario_fastapi(pg_dsn_ft: str, pg_dsn_peer: str):
    server = FlowTrack(pg_dsn_ft, name="peer-flowtrack")
    venv = ROOT / "target" / "bench-venv"
    try:
        if not (venv / "bin" / "uvicorn").exists():
            log("installing the FastAPI peer (PyPI) into target/bench-venv")
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-r", str(ROOT / "bench/peers/fastapi/requirements.txt")], check=True)
        token, _, project_id, ids, _ = fixture(server.base)
        port = free_port()
        env = dict(os.environ, PEER_DATABASE_URL=pg_dsn_peer, PEER_JWT_SECRET=SECRET)
        workers = str(os.cpu_count() or 2)
        peer = spawn([str(venv / "bin" / "uvicorn"), "app:app", "--app-dir", str(ROOT / "bench/peers/fastapi"), "--host", "127.0.0.1",
                      "--port", str(port), "--workers", workers, "--log-level", "warning", "--no-access-log"], env=env, log_name="fastapi")
        peer_base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if http("GET", f"{peer_base}/tasks/{ids[0]}", token)[0] == 200:
                    break
            except Exception:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("FastAPI peer did not start")
        for name, ft_args, peer_args in [
            ("read GET /tasks/{id}", dict(url=f"{server.base}/tasks/{ids[0]}", conns=64, token=token),
             dict(url=f"{peer_base}/tasks/{ids[0]}", conns=64, token=token)),
            ("create POST /tasks", dict(url=server.base + "/", conns=8, script=create_script(token, project_id)),
             dict(url=peer_base + "/", conns=8, script=create_script(token, project_id))),
        ]:
            ft, pr, ft99, pr99 = [], [], [], []
            for _ in range(RUNS):
                r, p = wrk(**ft_args)
                ft.append(r)
                ft99.append(p)
                r, p = wrk(**peer_args)
                pr.append(r)
                pr99.append(p)
            ratio = statistics.median(ft) / statistics.median(pr)
            record(f"FlowTrack ÷ FastAPI peer, {name} (PostgreSQL)", fmt(ft, " req/s") + f", p99 {statistics.median(ft99):.1f} ms",
                   fmt(pr, " req/s") + f", p99 {statistics.median(pr99):.1f} ms (FastAPI, {workers} workers)", ratio,
                   note=f"p99 ratio {statistics.median(ft99) / statistics.median(pr99):.2f}")
        stop(peer)
    finally:
        server.stop()


def seed_history(db_path: Path, project_id: str, user_id: str, tasks: int, activity: int) -> None:
    """Writes `tasks` tasks and `activity` activity rows of status history (last 60 days)
    straight into FlowTrack's SQLite schema (ids are 16-byte blobs, times RFC 3339)."""
    import random
    import sqlite3

    rnd = random.Random(7)
    pid = uuid.UUID(project_id).bytes
    uid = uuid.UUID(user_id).bytes
    now = time.time()
    statuses = ["todo", "in_progress", "review", "done"]

    def stamp(t: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1000):03d}+00:00"

    con = sqlite3.connect(db_path, timeout=30)
    moves_per_task = max(0, activity // tasks - 1)
    task_rows, activity_rows = [], []
    for i in range(tasks):
        tid = uuid.uuid4().bytes
        t = now - 60 * 86400 + rnd.random() * 30 * 86400
        activity_rows.append((uuid.uuid4().bytes, uid, pid, tid, "task.created", json.dumps({"status": "todo", "title": f"T{i}"}), stamp(t)))
        status = "todo"
        completed = None
        for _ in range(moves_per_task):
            t += rnd.random() * 3 * 86400
            if t > now:
                break
            new = rnd.choice([s for s in statuses if s != status])
            activity_rows.append((uuid.uuid4().bytes, uid, pid, tid, "task.moved", json.dumps({"from": status, "to": new}), stamp(t)))
            completed = stamp(t) if new == "done" else None
            status = new
        task_rows.append((tid, pid, f"T{i}", "", status, rnd.choice(["low", "medium", "high", "urgent"]), None, "[]", uid, None,
                          f"p{i:06d}", 1, stamp(now), stamp(now), completed))
    con.executemany("INSERT INTO tasks (id, project_id, title, description, status, priority, assignee_id, labels, created_by, due_date, "
                    "position, version, created_at, updated_at, completed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", task_rows)
    con.executemany("INSERT INTO activity_log (id, user_id, project_id, task_id, action, details, created_at) VALUES (?,?,?,?,?,?,?)",
                    activity_rows)
    con.execute("UPDATE projects SET event_seq = event_seq + 1 WHERE id = ?", (pid,))
    con.commit()
    con.close()
    log(f"seeded {len(task_rows)} tasks and {len(activity_rows)} activity rows")


def scenario_reports():
    db = WORK / "reports.db"
    server = FlowTrack(f"sqlite://{db}?mode=rwc", name="reports")
    try:
        token, user_id, project_id, _, _ = fixture(server.base, tasks=0)
        seed_history(db, project_id, user_id, 10_000, 100_000)
        for report, query in [("summary", ""), ("cumulative-flow", "?from=" + time.strftime("%Y-%m-%d", time.gmtime(time.time() - 59 * 86400))),
                              ("burndown", "")]:
            cold, warm = [], []
            for _ in range(RUNS):
                # A change of the project makes a new cache key: the next read is cold.
                http("PATCH", f"{server.base}/projects/{project_id}", token, {"description": uuid.uuid4().hex})
                url = f"{server.base}/reports/projects/{project_id}/{report}{query}"
                t0 = time.perf_counter()
                assert http("GET", url, token)[0] == 200
                cold.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                assert http("GET", url, token)[0] == 200
                warm.append((time.perf_counter() - t0) * 1000)
            record(f"Report {report}, 10 000 tasks / 100 000 activity rows (SQLite)", "cold " + fmt(cold, " ms", 1),
                   "cached " + fmt(warm, " ms", 1), note="cache key includes the project's event seq")
    finally:
        server.stop()


class Sink:
    """bench/src/bin/webhook_sink.rs: answers deliveries with 204 at once, holds them while its gate is closed."""

    def __init__(self):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # Niced: the receiver stands for a machine elsewhere; here it shares the two cores.
        self.proc = spawn(["nice", "-n", "19", str(TARGET / "webhook_sink"), "--bind", f"127.0.0.1:{self.port}"], log_name="sink")
        deadline = time.monotonic() + 10
        while http_ok(self.base + "/stats") is False:
            if time.monotonic() > deadline:
                raise RuntimeError("webhook_sink did not start")
            time.sleep(0.05)

    def post(self, path: str) -> None:
        status, _, raw = http("POST", self.base + path)
        assert status == 204, raw

    def stats(self) -> dict:
        return http("GET", self.base + "/stats")[1]

    def wait_for(self, delivered: int, seconds: float = 300.0) -> dict:
        deadline = time.monotonic() + seconds
        while True:
            stats = self.stats()
            if stats["delivered"] >= delivered:
                return stats
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {stats['delivered']} of {delivered} deliveries arrived")
            time.sleep(0.05)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return resp.status == 200
    except Exception:
        return False


def add_webhooks(base: str, token: str, project_id: str, sink: Sink, count: int) -> None:
    for i in range(count):
        status, _, raw = http("POST", f"{base}/projects/{project_id}/webhooks", token,
                              {"url": f"{sink.base}/hook/{project_id}-{i}", "description": f"bench {i}"})
        assert status == 201, raw


WEBHOOK_ENV = {"FLOWTRACK_WEBHOOK_ALLOW_PRIVATE": "true", "FLOWTRACK_WEBHOOK_TIMEOUT_MS": "300000"}


def scenario_webhook_deliveries(label: str, database_url: str):
    """A backlog of events behind 1 and behind 10 webhooks, then the rate at which it drains."""
    server = FlowTrack(database_url, name=f"hooks-{label}", extra_env=WEBHOOK_ENV)
    sink = Sink()
    try:
        for hooks in (1, 10):
            rates = []
            for _ in range(RUNS):
                token, _, project_id, _, _ = fixture(server.base, tasks=0)
                add_webhooks(server.base, token, project_id, sink, hooks)
                sink.post("/gate/close")
                sink.post("/reset")
                # Each webhook's first event is held at the sink; the rest queue behind it.
                _, _, events = wrk(server.base + "/", 8, script=create_script(token, project_id), seconds=max(2, DURATION // 2),
                                   counted=True)
                sink.post("/gate/open")
                stats = sink.wait_for(events * hooks)
                assert stats["out_of_order"] == 0, stats
                rates.append(stats["delivered"] / max(stats["seconds"], 1e-3))
            m = statistics.median(rates)
            record(f"Webhook deliveries, backlog behind {hooks} webhook{'s' if hooks > 1 else ''} ({label})", fmt(rates, " deliveries/s"),
                   budget="≥ 2 000/s", met=m >= 2000,
                   note="local receiver answering 204 at once; each webhook in seq order; every attempt in the delivery log")
    finally:
        stop(sink.proc)
        server.stop()


def scenario_webhook_writes(label: str, database_url: str):
    """Task creation on a project with 10 webhooks against one with none: once with the
    deliveries held at the receiver (the write path alone), once with them keeping up on
    the same two cores."""
    server = FlowTrack(database_url, name=f"hook-writes-{label}", extra_env=WEBHOOK_ENV)
    sink = Sink()
    clients = 8
    try:
        token, _, plain, _, _ = fixture(server.base, tasks=0)
        token_hooked, _, hooked, _, _ = fixture(server.base, tasks=0)
        add_webhooks(server.base, token_hooked, hooked, sink, 10)
        none, held, live, delivered = [], [], [], 0
        for _ in range(RUNS):
            rps, _ = wrk(server.base + "/", clients, script=create_script(token, plain))
            none.append(rps)
            for gate, out in (("close", held), ("open", live)):
                sink.post(f"/gate/{gate}")
                sink.post("/reset")
                rps, _, events = wrk(server.base + "/", clients, script=create_script(token_hooked, hooked), counted=True)
                out.append(rps)
                sink.post("/gate/open")
                sink.wait_for(events * 10)  # drained before the next run
                delivered += events * 10
        for what, values, note in (
            ("deliveries held at the receiver", held, "the write path alone: webhooks attached, none delivering"),
            ("deliveries keeping up", live, f"10 deliveries per write made on the same 2 cores ({delivered:,} in all)"),
        ):
            ratio = statistics.median(values) / statistics.median(none)
            record(f"Write POST /tasks with 10 webhooks, {what} ({label}), {clients} clients", fmt(values, " tx/s"),
                   fmt(none, " tx/s") + " (no webhooks)", ratio, "≥ 0.95", ratio >= 0.95, note=note)
    finally:
        stop(sink.proc)
        server.stop()


# ------------------------------------------------------------------------------- main


def write_results(started: float) -> None:
    lines = [
        "# Latest benchmark results",
        "",
        f"`bench/run` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, load generator on the same box; "
        f"median of {RUNS} runs (min–max), {DURATION} s per run; total {time.time() - started:.0f} s.",
        "",
        "| scenario | FlowTrack | baseline | ratio | budget | met | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in RESULTS:
        lines.append(f"| {r['scenario']} | {r['flowtrack']} | {r['baseline']} | {r['ratio']} | {r['budget']} | {r['met']} | {r['note']} |")
    text = "\n".join(lines) + "\n"
    out = ROOT / "bench" / "results" / "latest.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print("\n" + text)


def main() -> int:
    started = time.time()
    if shutil.which("wrk") is None:
        log("installing wrk (Debian)")
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, stdout=subprocess.DEVNULL)
    log("building (release)")
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "flowtrack", "-p", "flowtrack-bench"], cwd=ROOT, check=True)
    services = Path(tempfile.mkdtemp(prefix="flowtrack-bench-services-", dir="/tmp"))
    subprocess.run(["bash", str(ROOT / "scripts/services"), "start", str(services)], check=True, stdout=subprocess.DEVNULL)
    pg_env = {}
    for line in (services / "env").read_text().splitlines():
        if line.startswith("export "):
            k, _, v = line[len("export "):].partition("=")
            pg_env[k] = v
    pg_base = pg_env["FLOWTRACK_TEST_DATABASE_URL"]
    redis_url = pg_env.get("FLOWTRACK_TEST_REDIS_URL")

    def new_pg_db() -> str:
        name = f"bench_{uuid.uuid4().hex[:12]}"
        subprocess.run(["psql", pg_base, "-qc", f"CREATE DATABASE {name}"], check=True)
        return pg_base.rsplit("/", 1)[0] + "/" + name

    only = {s.strip() for s in os.environ.get("BENCH_ONLY", "").split(",") if s.strip()}

    def wanted(name: str) -> bool:
        return not only or name in only

    try:
        if wanted("start"):
            scenario_start_idle()
        if wanted("read"):
            scenario_read("SQLite", f"sqlite://{WORK / 'read.db'}?mode=rwc")
            scenario_read("PostgreSQL", new_pg_db())
        if wanted("write"):
            pg_write = new_pg_db()
            scenario_writes("PostgreSQL", pg_write, pg_env, pg_write)
            scenario_writes("SQLite", f"sqlite://{WORK / 'write.db'}?mode=rwc", None, None)
        if wanted("webhooks"):
            scenario_webhook_deliveries("SQLite", f"sqlite://{WORK / 'hooks.db'}?mode=rwc")
            scenario_webhook_deliveries("PostgreSQL", new_pg_db())
        if wanted("webhook-writes"):
            scenario_webhook_writes("SQLite", f"sqlite://{WORK / 'hook-writes.db'}?mode=rwc")
            scenario_webhook_writes("PostgreSQL", new_pg_db())
        if wanted("board"):
            scenario_board("SQLite", f"sqlite://{WORK / 'board.db'}?mode=rwc")
            scenario_board("PostgreSQL", new_pg_db())
        if wanted("storm"):
            scenario_login_storm(f"sqlite://{WORK / 'storm.db'}?mode=rwc")
        if wanted("reports"):
            scenario_reports()
        if wanted("fanout"):
            scenario_fanout(f"sqlite://{WORK / 'fanout.db'}?mode=rwc", None, two=False)
            if redis_url:
                scenario_fanout(new_pg_db(), redis_url, two=True)
        if wanted("peer"):
            peer_db = new_pg_db()
            scenario_fastapi(peer_db, peer_db.replace("postgres://", "postgresql+asyncpg://", 1))
    finally:
        for proc in CHILDREN:
            stop(proc)
        subprocess.run(["bash", str(ROOT / "scripts/services"), "stop", str(services)], stdout=subprocess.DEVNULL)
        write_results(started)
        shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
