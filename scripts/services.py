"""Real services for the test suite: a throwaway PostgreSQL cluster, Redis, an SMTP server and
an IMAP server behind TLS.

Each starter runs the real program on 127.0.0.1 and a free port, owns a temporary
directory and cleans up after itself. conftest.py wraps them in session fixtures; the
classes are plain so that scripts (benchmarks, the mail sink) can reuse them.
"""

from __future__ import annotations

import contextlib
import ctypes
import email
import email.policy
import imaplib
import os
import pwd
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path

PG_UNAVAILABLE = "PostgreSQL unavailable"


class ServiceError(RuntimeError):
    """A service could not be started."""


def free_port() -> int:
    """A TCP port that was free a moment ago (the small race is acceptable for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise ServiceError(f"nothing listens on {host}:{port} after {timeout}s") from None
            time.sleep(0.05)


def venv_or_path(program: str) -> str | None:
    """The program from this interpreter's virtualenv, else from PATH."""
    candidate = Path(sys.prefix) / "bin" / program
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return shutil.which(program)


# --- PostgreSQL --------------------------------------------------------------------------


def _pg_bindir() -> Path | None:
    """Where initdb and pg_ctl live: PATH first, then Debian's versioned directories."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    return None


def _runuser() -> str | None:
    return shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin")


def _unprivileged_user() -> str | None:
    """PostgreSQL refuses to run as root: pick the account to run it as."""
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    return None


PG_PREFIX = "non-pg-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_stale_clusters() -> None:
    """Stop clusters whose pytest process died without cleaning up (killed, not stopped)."""
    bindir = _pg_bindir()
    for base in Path(tempfile.gettempdir()).glob(f"{PG_PREFIX}*"):
        try:
            owner = int((base / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        if _alive(owner):
            continue
        if bindir is not None and (base / "data" / "postmaster.pid").exists():
            user = base.owner() if os.geteuid() == 0 else None
            command = [str(bindir / "pg_ctl"), "stop", "-m", "immediate", "-D", str(base / "data")]
            if user and user != "root" and _runuser():
                command = [str(_runuser()), "-u", user, "--", *command]
            subprocess.run(command, capture_output=True, timeout=60, check=False)
        shutil.rmtree(base, ignore_errors=True)


class PostgresServer:
    """A throwaway cluster in a temporary directory, listening on 127.0.0.1 only.

    Authentication is ``trust`` for the superuser ``postgres``; the unix socket lives in
    the temporary directory, so nothing touches a system installation.
    """

    def __init__(self) -> None:
        self.bindir = _pg_bindir()
        self.port = free_port()
        self.base: Path | None = None
        self.user: str | None = None
        self.running = False

    @staticmethod
    def unavailable_reason() -> str | None:
        if _pg_bindir() is None:
            return f"{PG_UNAVAILABLE}: initdb/pg_ctl not found (set TEST_POSTGRES_URL)"
        if os.geteuid() == 0 and (not _runuser() or not _unprivileged_user()):
            return f"{PG_UNAVAILABLE}: running as root without runuser or an unprivileged user"
        return None

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = list(args)
        if self.user:
            command = [str(_runuser()), "-u", self.user, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            log = ""
            if self.base and (self.base / "postgres.log").exists():
                log = (self.base / "postgres.log").read_text(errors="replace")[-2000:]
            raise ServiceError(
                f"{' '.join(args[:2])} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}{log}"
            )
        return result

    def start(self) -> None:
        reason = self.unavailable_reason()
        if reason:
            raise ServiceError(reason)
        assert self.bindir is not None
        reap_stale_clusters()
        self.base = Path(tempfile.mkdtemp(prefix=PG_PREFIX))
        (self.base / "owner.pid").write_text(str(os.getpid()))
        if os.geteuid() == 0:
            self.user = _unprivileged_user()
            entry = pwd.getpwnam(self.user)
            os.chown(self.base, entry.pw_uid, entry.pw_gid)
        data = self.base / "data"
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )
        for attempt in range(3):
            try:
                self._start_on_port()
                break
            except ServiceError:
                if attempt == 2:
                    raise
                self.port = free_port()  # another process took the port meanwhile
        self.running = True

    def _start_on_port(self) -> None:
        assert self.base is not None and self.bindir is not None
        # Durability settings off: a test cluster that loses data on a crash is fine.
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=100 -c shared_buffers=32MB"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(self.base / "data"),
            "-l",
            str(self.base / "postgres.log"),
            "-o",
            options,
        )

    def stop(self) -> None:
        if self.running and self.base is not None and self.bindir is not None:
            with contextlib.suppress(ServiceError, subprocess.TimeoutExpired):
                pg_ctl = str(self.bindir / "pg_ctl")
                self._run(pg_ctl, "stop", "-m", "immediate", "-w", "-D", str(self.base / "data"))
            self.running = False
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the maintenance database ``postgres``."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"


def database_url(server_url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``server_url``."""
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url.set(database=name).render_as_string(hide_password=False)


def _maintenance(server_url: str, statement: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url(server_url, "postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def create_database(server_url: str, name: str) -> str:
    """(Re)create an empty database and return its URL."""
    drop_database(server_url, name)
    _maintenance(server_url, f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
    return database_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    _maintenance(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the child gets SIGTERM when pytest dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _terminate(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, and SIGKILL if it has not ended after ten seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- Redis -------------------------------------------------------------------------------


class RedisServer:
    """A real redis-server without persistence; ``stop()`` and ``start()`` keep the port.

    Tests use the pair to take Redis away mid-test ("Redis down during submission, then
    back") and the next test's ``redis_url`` fixture restarts it if a test left it down.
    """

    def __init__(self, port: int | None = None) -> None:
        self.binary = venv_or_path("redis-server")
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="non-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        if not self.binary:
            raise ServiceError("redis-server not found in the virtualenv or on PATH")
        log = self.dir / "redis.log"
        options = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "save": "",  # no snapshots
            "appendonly": "no",
            "dir": str(self.dir),
            "logfile": str(log),
            "daemonize": "no",
        }
        arguments = [item for key, value in options.items() for item in (f"--{key}", value)]
        self.process = subprocess.Popen(
            [self.binary, *arguments],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Only from the main thread: the signal fires when the *thread* that forked ends.
            preexec_fn=_die_with_parent
            if threading.current_thread() is threading.main_thread()
            else None,
        )
        try:
            wait_for_port(self.port)
        except ServiceError:
            self.stop()
            text = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ServiceError(f"redis-server did not start:\n{text}") from None

    def stop(self) -> None:
        _terminate(self.process)
        self.process = None

    def flush(self) -> None:
        from redis import Redis

        with Redis.from_url(self.url) as client:
            client.flushall()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# --- TLS --------------------------------------------------------------------------------


def certificate_for_localhost(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context with a certificate for 127.0.0.1 (and no other name) from a
    throwaway CA, and the file with that CA's certificate, which a client must trust."""
    import trustme

    ca = trustme.CA()
    cafile = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context, cafile


class TLSFront:
    """Implicit TLS in front of a plain TCP port on 127.0.0.1, as stunnel does it: accepts TLS
    connections on ``port`` (certificate for 127.0.0.1 from a throwaway CA, whose certificate
    is in ``cafile``) and passes what they carry on to ``target_port``."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.dir = Path(tempfile.mkdtemp(prefix="non-tls-"))
        context, self.cafile = certificate_for_localhost(self.dir)
        self._listener: socket.socket | None = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        threading.Thread(
            target=self._accept, args=(self._listener, context), daemon=True, name="tls-front"
        ).start()

    def _accept(self, listener: socket.socket, context: ssl.SSLContext) -> None:
        while True:
            try:
                conn, _address = listener.accept()
            except OSError:
                return  # stop() closed the listener
            threading.Thread(target=self._relay, args=(conn, context), daemon=True).start()

    def _relay(self, conn: socket.socket, context: ssl.SSLContext) -> None:
        try:
            client = context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            conn.close()  # e.g. a client that does not trust the certificate
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
        except OSError:
            client.close()  # the server behind is gone: the client sees the connection end
            return
        back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
        back.start()
        _pump(client, upstream)
        back.join(timeout=10)
        for sock in (client, upstream):
            sock.close()

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        shutil.rmtree(self.dir, ignore_errors=True)


def _pump(source: socket.socket, target: socket.socket) -> None:
    """Copy one direction until it ends, then end the other one too."""
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


# --- SMTP --------------------------------------------------------------------------------


class RecordingHandler:
    """aiosmtpd handler: keeps every message and can be told to refuse.

    ``fail_next(n, code)`` answers the next ``n`` RCPT/DATA commands with ``code``;
    ``fail_always(code)`` refuses every recipient until ``clear()``.

    It answers DATA as soon as it holds the bytes, as a mail server does once the message is
    in its queue, and parses them when ``messages`` is read: parsing a receipt takes about
    3 ms, which the sending worker would otherwise wait for on every email.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        self._raw: list[bytes] = []
        self._parsed: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._fail_count = 0
        self._fail_code = 451
        self._always: int | None = None
        self.sessions = 0  # SMTP sessions greeted (EHLO): shows connection reuse
        # per message: (over TLS?, the login it was sent under or None)
        self.security: list[tuple[bool, str | None]] = []

    def clear(self) -> None:
        with self.lock:
            self.sessions = 0
            self._raw.clear()
            self._parsed.clear()
            self.envelopes.clear()
            self.security.clear()
            self._fail_count = 0
            self._always = None

    def fail_next(self, n: int = 1, code: int = 451) -> None:
        with self.lock:
            self._fail_count = n
            self._fail_code = code

    def fail_always(self, code: int = 550) -> None:
        with self.lock:
            self._always = code

    def _refusal(self) -> str | None:
        with self.lock:
            if self._always is not None:
                return _reply(self._always)
            if self._fail_count > 0:
                self._fail_count -= 1
                return _reply(self._fail_code)
        return None

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        with self.lock:
            self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        refusal = self._refusal()
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        refusal = self._refusal()
        if refusal:
            return refusal
        with self.arrived:
            self._raw.append(envelope.original_content)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            login = session.auth_data.login.decode() if session.authenticated else None
            self.security.append((session.ssl is not None, login))
            self.arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 15.0) -> list[EmailMessage]:
        """Block until at least ``count`` messages arrived (mail sent by another process)."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self._raw) >= count, timeout):
                raise AssertionError(
                    f"expected {count} message(s) within {timeout}s, got {len(self._raw)}"
                )
            return self._parse_arrived()

    @property
    def messages(self) -> list[EmailMessage]:
        """Every message received so far, parsed, in the order they arrived."""
        with self.lock:
            return self._parse_arrived()

    def _parse_arrived(self) -> list[EmailMessage]:
        """(Holding the lock.) Parse what arrived since the last reading."""
        for raw in self._raw[len(self._parsed) :]:
            message = email.message_from_bytes(raw, policy=email.policy.default)
            self._parsed.append(message)  # type: ignore[arg-type]
        return list(self._parsed)


def _reply(code: int) -> str:
    if 400 <= code < 500:
        return f"{code} 4.3.0 Temporary failure (test)"
    return f"{code} 5.1.1 Permanent failure (test)"


class SMTPServer:
    """An aiosmtpd server in a background thread on 127.0.0.1.

    ``starttls=True``: it insists on STARTTLS, with a certificate for 127.0.0.1 from a
    throwaway CA (a client must trust ``cafile``). ``login=(user, password)``: it accepts
    that login only, and with STARTTLS insists on it. For implicit TLS put a ``TLSFront``
    before it.
    """

    def __init__(self, *, starttls: bool = False, login: tuple[str, str] | None = None) -> None:
        self.handler = RecordingHandler()
        self.port = free_port()
        self.controller = None
        self.starttls, self.login = starttls, login
        self.dir: Path | None = None  # the throwaway CA's files, while STARTTLS runs
        self.cafile: Path | None = None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        options: dict = {}
        if self.starttls:
            self.dir = Path(tempfile.mkdtemp(prefix="non-smtp-"))
            context, self.cafile = certificate_for_localhost(self.dir)
            options.update(tls_context=context, require_starttls=True)
        if self.login is not None:
            # without STARTTLS (behind a TLSFront) AUTH is offered, not required: aiosmtpd warns
            # against requiring it on a connection it sees as plain
            options.update(
                authenticator=self._authenticate,
                auth_required=self.starttls,
                auth_require_tls=self.starttls,
            )
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            ready_timeout=15,
            server_hostname="localhost",
            enable_SMTPUTF8=True,
            **options,
        )
        self.controller.start()

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        user, password = self.login or ("", "")
        given = (auth_data.login.decode(), auth_data.password.decode())
        # handled=False: aiosmtpd answers a refused login with 535 (by default it says nothing)
        return AuthResult(success=given == (user, password), handled=False, auth_data=auth_data)

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    # The fixture's public face: smtp.messages, smtp.clear(), smtp.fail_next(), ...
    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    @property
    def envelopes(self) -> list[tuple[str, list[str]]]:
        return self.handler.envelopes

    def clear(self) -> None:
        self.handler.clear()

    def fail_next(self, n: int = 1, code: int = 451) -> None:
        self.handler.fail_next(n, code)

    def fail_always(self, code: int = 550) -> None:
        self.handler.fail_always(code)

    def wait_for(self, count: int, timeout: float = 15.0) -> list[EmailMessage]:
        return self.handler.wait_for(count, timeout)


# --- IMAP --------------------------------------------------------------------------------


class IMAPServer:
    """A real IMAP server (pymap, mailboxes in memory) behind implicit TLS, as on port 993.

    pymap itself offers only STARTTLS, so a ``TLSFront`` takes the TLS connections on
    ``port`` (trust ``cafile``) and passes the plain IMAP on to pymap. ``append`` and
    ``unseen`` talk to pymap directly, as the mail server's own delivery would.
    """

    def __init__(self, user: str = "antwort@example.org") -> None:
        self.binary = venv_or_path("pymap")
        self.user, self.password = user, secrets.token_urlsafe(16)
        self.plain_port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="non-imap-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.front: TLSFront | None = None

    @property
    def port(self) -> int:
        assert self.front is not None, "not started"
        return self.front.port

    @property
    def cafile(self) -> Path:
        assert self.front is not None, "not started"
        return self.front.cafile

    def start(self) -> None:
        if not self.binary:
            raise ServiceError("pymap not found in the virtualenv or on PATH")
        log = self.dir / "pymap.log"
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [self.binary, "--host", "127.0.0.1", "--port", str(self.plain_port), "--no-tls",
                 "dict", "--demo-user", self.user, "--demo-password", self.password],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent
                if threading.current_thread() is threading.main_thread()
                else None,
            )  # fmt: skip
        try:
            wait_for_port(self.plain_port)
        except ServiceError:
            self.stop()
            raise ServiceError(f"pymap did not start:\n{log.read_text(errors='replace')}") from None
        self.front = TLSFront(self.plain_port)

    def stop(self) -> None:
        if self.front is not None:
            self.front.stop()
            self.front = None
        _terminate(self.process)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _session(self) -> imaplib.IMAP4:
        imap = imaplib.IMAP4("127.0.0.1", self.plain_port, timeout=30)
        imap.login(self.user, self.password)
        return imap

    def append(self, folder: str, raw: bytes) -> None:
        """Deliver one mail into ``folder`` (created if missing), unseen."""
        with self._session() as imap:
            imap.create(folder)  # "already exists" is a NO, not an error
            status, detail = imap.append(folder, None, None, raw)
            if status != "OK":
                raise ServiceError(f"IMAP APPEND failed: {detail}")

    def unseen(self, folder: str) -> int:
        with self._session() as imap:
            imap.select(folder)
            _status, data = imap.uid("search", None, "UNSEEN")
            return len((data[0] or b"").split())
