"""Child processes of the dev stack: started in order, stopped in reverse, never left behind."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Runs in the child before exec: the kernel sends SIGTERM if the dev stack itself dies,
    so even a SIGKILLed `make run` leaves no stray servers."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    os.setpgrp()  # Ctrl-C reaches the dev stack only; it stops the children in order


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} while starting")
        if port_in_use(port):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not open port {port} within {timeout:.0f}s")


class Supervisor:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.jobs: set[str] = set()
        """Children that are meant to finish: their ending is news, not a failure."""
        self._reported: set[str] = set()

    def start(
        self, name: str, argv: Sequence[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            preexec_fn=die_with_parent,
        )
        self.children.append((name, proc))
        return proc

    def start_job(
        self, name: str, argv: Sequence[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        self.jobs.add(name)
        return self.start(name, argv, env)

    def failed(self) -> list[str]:
        """Services that stopped (they never should); jobs are asked separately."""
        return [
            name
            for name, proc in self.children
            if name not in self.jobs and proc.poll() is not None
        ]

    def finished_jobs(self) -> list[tuple[str, int]]:
        """Jobs that have ended since the last call, with their exit status."""
        done = [
            (name, proc.returncode)
            for name, proc in self.children
            if name in self.jobs and name not in self._reported and proc.poll() is not None
        ]
        self._reported |= {name for name, _ in done}
        return done

    def stop_all(self, timeout: float = 20.0) -> None:
        for _name, proc in reversed(self.children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.children.clear()
