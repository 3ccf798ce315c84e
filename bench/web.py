"""Web side, side by side in one run: today's main (a copy of another tree, optional), this
tree as its gunicorn.conf.py runs it (the app preloaded in the master), this tree with
gunicorn's defaults (each worker imports the app), and a bare Flask + SQLAlchemy app with and
without ``--preload``, each behind gunicorn (2 sync workers, or ``--workers``) on SQLite in
WAL mode.

    .venv/bin/python bench/web.py --baseline /tmp/perf-baseline [--submissions 240]

For each tree: the form page (sequential GETs, median and p95 as the client on 127.0.0.1
sees them, and the server time gunicorn logs for each of those requests, ``%(D)s``: from
reading the request to the last byte of the response), complete submissions per second with
8 concurrent sessions (GET form, POST check page, POST submit, GET confirmation: the four
requests of a person), then the memory of each web worker after the load (RSS, PSS, USS:
``memory_mib``) and of master and workers together (PSS). The bare app: its
form page and POST + insert per second with the same 8 sessions. Redis is real (the portal
enqueues its outbox rows there); no worker runs. Rounds alternate between the trees so that
a busy machine slows each alike.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.forms import REFERENCE, form_data, hidden_fields  # noqa: E402
from scripts import services  # noqa: E402

SESSIONS = 8


class Session:
    """One visitor: a keep-alive connection and a cookie jar of one cookie."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookie = ""

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, str, dict]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        data = response.read().decode()
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return response.status, data, dict(response.getheaders())

    def submit(self, i: int) -> str:
        status, html, _ = self.request("GET", "/antrag")
        assert status == 200, status
        tokens = dict(hidden_fields(html))
        fields = {**form_data(i), "action": "check"}
        fields.update(csrf_token=tokens["csrf_token"], started=tokens["started"])
        status, html, _ = self.request("POST", "/antrag", urlencode(fields, doseq=True))
        assert status == 200, (status, html[:500])
        again = [*hidden_fields(html), ("action", "submit")]
        status, _html, _headers = self.request("POST", "/antrag", urlencode(again))
        assert status == 303, status
        status, html, _ = self.request("GET", "/antrag/bestaetigung")
        match = REFERENCE.search(html)
        assert status == 200 and match, status
        return match.group(0)


def gunicorn(
    tree: Path, module: str, env: dict[str, str], access_log: Path, options: tuple[str, ...] = ()
) -> tuple[subprocess.Popen, int, Path]:
    """gunicorn in ``tree`` with 2 workers unless ``options`` say otherwise; it reads
    ``tree/gunicorn.conf.py`` unless ``options`` name another ``--config``."""
    port = services.free_port()
    process = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "--chdir",
            str(tree),
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--access-logfile",
            str(access_log),
            "--access-logformat",
            "%(m)s %(U)s %(s)s %(D)s",
            *options,
            module,
        ],
        env=env,
        cwd=tree,
    )
    services.wait_for_port(port, timeout=120)
    return process, port, access_log


def server_times_ms(access_log: Path, offset: int, path: str) -> list[float]:
    """The server time (ms) of each ``GET path`` logged after ``offset``."""
    with access_log.open() as log:
        log.seek(offset)
        lines = log.read().splitlines()
    prefix = f"GET {path} 200 "
    return [int(line[len(prefix) :]) / 1000 for line in lines if line.startswith(prefix)]


def memory_mib(pid: int) -> dict[str, float]:
    """RSS, PSS and USS (private pages) of one process, from /proc/PID/smaps_rollup.

    RSS counts every resident page the process maps, shared ones in full; PSS divides each
    shared page among the processes sharing it (the sum over processes is the memory used);
    USS is what the process alone holds, what ending it would free.
    """
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        fields[key] = int(value.split()[0]) / 1024
    return {
        "rss": fields["Rss"],
        "pss": fields["Pss"],
        "uss": fields["Private_Clean"] + fields["Private_Dirty"],
    }


def server_memory(master: subprocess.Popen) -> tuple[list[dict[str, float]], float]:
    """Memory of each worker, and the PSS of master and workers together."""
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
    workers = [memory_mib(int(pid)) for pid in children]
    total = memory_mib(master.pid)["pss"] + sum(w["pss"] for w in workers)
    return workers, total


def portal_env(tree: Path, database: str, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "APP_"))}
    env.update(
        APP_ENV="development",
        SECRET_KEY="bench-" + "x" * 40,
        DATABASE_URL=database,
        REDIS_URL=redis_url,
        RATELIMIT_STORAGE_URI="memory://",
        RATELIMIT_ENABLED="false",
        FORM_MIN_FILL_SECONDS="0",
        SESSION_COOKIE_SECURE="false",
        UPLOAD_DIR=str(Path(database.removeprefix("sqlite:///")).parent / "uploads"),
        PYTHONPATH=str(tree),
    )
    return env


def prepare(tree: Path, env: dict[str, str]) -> None:
    code = (
        "from app import create_app\nfrom app.extensions import db\n"
        "from app.programmes import sync_rounds\napp = create_app()\n"
        "with app.app_context():\n    db.create_all(); sync_rounds(); db.session.commit()\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, cwd=tree, check=True)


def form_page(port: int, path: str, n: int) -> list[float]:
    session = Session(port)
    session.request("GET", path)
    timings = []
    for _ in range(n):
        started = time.perf_counter()
        status, _html, _ = session.request("GET", path)
        timings.append((time.perf_counter() - started) * 1000)
        assert status == 200, status
    return timings


def concurrently(port: int, total: int, work) -> float:
    """Run ``work(session, i)`` for i < total in SESSIONS threads; returns operations/s."""
    counter = iter(range(total))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def run() -> None:
        session = Session(port)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            try:
                work(session, i)
            except BaseException as exc:  # reported below; the bench must not hide errors
                errors.append(exc)
                return

    threads = [threading.Thread(target=run) for _ in range(SESSIONS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return total / elapsed


def bare_post(session: Session, i: int) -> None:
    status, _html, _ = session.request(
        "POST", "/submit", urlencode({"org_name": f"Träger {i}", "title": f"Projekt {i}"})
    )
    assert status == 201, status


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="a copy of today's main to compare")
    parser.add_argument("--submissions", type=int, default=240)
    parser.add_argument("--gets", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per server")
    args = parser.parse_args()
    worker_count = ("--workers", str(args.workers))
    trees = {"this tree": ROOT}
    if args.baseline:
        trees = {"main (baseline)": args.baseline.resolve(), **trees}
    tmp = Path(tempfile.mkdtemp(prefix="non-bench-web-"))
    redis = services.RedisServer()
    redis.start()
    servers = {}
    try:
        # An empty config file: gunicorn's defaults, each worker imports the app itself.
        no_config = tmp / "no-config.py"
        no_config.write_text("")
        variants = [(label, tree, ()) for label, tree in trees.items()]
        variants.append(("this tree, app not preloaded", ROOT, ("--config", str(no_config))))
        for n, (label, tree, options) in enumerate(variants):
            env = portal_env(tree, f"sqlite:///{tmp / f'portal{n}.sqlite'}", redis.url)
            prepare(tree, env)
            server = gunicorn(tree, "wsgi:app", env, tmp / f"access{n}.log", options + worker_count)
            servers[label] = (*server, "/antrag")
        bare_env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp / 'bare.sqlite'}")
        for k, (label, options) in enumerate(
            (("bare Flask + SQLAlchemy", ()), ("bare, preloaded", ("--preload",)))
        ):
            log = tmp / f"access-bare{k}.log"
            server = gunicorn(ROOT / "bench", "bare_app:app", bare_env, log, options + worker_count)
            servers[label] = (*server, "/")
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()}", flush=True)
        results: dict[str, dict[str, list[float]]] = {k: {} for k in servers}
        for rnd in range(args.rounds):
            for label, (_process, port, log, path) in servers.items():
                time.sleep(0.5)  # gunicorn flushes its access log
                offset = log.stat().st_size
                timings = form_page(port, path, args.gets)
                results[label].setdefault("form", []).extend(timings)
                time.sleep(0.5)
                server = server_times_ms(log, offset, path)
                results[label].setdefault("server", []).extend(server)
                if path == "/":
                    rate = concurrently(port, args.submissions * 4, bare_post)
                else:
                    rate = concurrently(
                        port,
                        args.submissions,
                        lambda s, i, rnd=rnd: s.submit(rnd * 100_000 + i),
                    )
                results[label].setdefault("rate", []).append(rate)
                print(
                    f"round {rnd + 1} {label:26s} form median {statistics.median(timings):6.2f} ms"
                    f" (server {statistics.median(server):6.2f} ms)  rate {rate:7.1f}/s",
                    flush=True,
                )
        print(f"load average after: {os.getloadavg()}")
        print(
            "\n| | form page GET median (p95), client | server time median (p95) | rate "
            f"| per worker after load: RSS / PSS / USS | master + {args.workers} workers: PSS |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        for label, (process, _port, _log, path) in servers.items():
            workers, total = server_memory(process)
            form = results[label]["form"]
            unit = "POST + insert/s" if path == "/" else "submissions/s (4 requests)"
            print(
                f"| {label} | {statistics.median(form):.2f} ms ({pct(form, 95):.2f}) | "
                f"{statistics.median(results[label]['server']):.2f} ms "
                f"({pct(results[label]['server'], 95):.2f}) | "
                f"{statistics.median(results[label]['rate']):.1f} {unit} | "
                + " / ".join(f"{max(w[k] for w in workers):.0f}" for k in ("rss", "pss", "uss"))
                + f" MiB | {total:.0f} MiB |"
            )
    finally:
        for process, _port, _log, _path in servers.values():
            process.terminate()
            process.wait(30)
        redis.close()


if __name__ == "__main__":
    main()
