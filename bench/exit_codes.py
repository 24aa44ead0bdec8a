"""Successful commands exit 0, every time: N `starter.py` / `auditor.py` processes against one
dev server, P at a time, each a process of its own (a short-lived client process is the point:
the SDK's core runtime has to be torn down before the interpreter finalises, see
`infra.logging.core_runtime`), counting every non-zero exit.

    .venv/bin/python bench/exit_codes.py [--commands 300] [--parallel 4]

Not a speed target: a count. Target: 0 non-zero exits. One complaint is opened first (through
`starter.py`), then the commands cycle through `starter.py complaint show`, `starter.py client
questionnaire` (no connection) and `auditor.py replay --workflow-id` (server, no database).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Outcome:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def signature(self) -> str:
        """What a failure looked like, in one line (a signal, the fatal error's first line)."""
        if self.returncode < 0:
            head = f"killed by {signal.Signals(-self.returncode).name}"
        else:
            head = f"exit {self.returncode}"
        fatal = next((ln for ln in self.stderr.splitlines() if ln.startswith("Fatal")), "")
        what = " ".join([Path(self.argv[0]).name, *self.argv[1:3]])
        return f"{what}: {head}: {fatal or self.stderr.strip()[-200:]}"


async def run_one(argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> Outcome:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *argv,
        cwd=cwd,
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return Outcome(tuple(argv), proc.returncode, out.decode(), err.decode(errors="replace"))


async def run_many(
    commands: Sequence[Sequence[str]], env: Mapping[str, str], cwd: Path, parallel: int
) -> list[Outcome]:
    """Each command in a process of its own, `parallel` at a time."""
    gate = asyncio.Semaphore(parallel)

    async def one(argv: Sequence[str]) -> Outcome:
        async with gate:
            return await run_one(argv, env, cwd)

    return list(await asyncio.gather(*(one(argv) for argv in commands)))


def command_mix(complaint_id: str, n: int) -> list[list[str]]:
    starter, auditor = str(ROOT / "starter.py"), str(ROOT / "auditor.py")
    mix = [
        [starter, "complaint", "show", complaint_id],
        [starter, "client", "questionnaire"],
        [starter, "complaint", "show", complaint_id],
        [auditor, "replay", "--workflow-id", f"complaint-{complaint_id}", "--json"],
    ]
    return [mix[i % len(mix)] for i in range(n)]


def intake() -> dict[str, object]:
    return {
        "client_id": "c-exit",
        "channel": "hotline",
        "content": "Fund fees were higher than disclosed",
        "complainant": {"name": "Test Person", "phone": "13900001111"},
    }


async def main() -> int:
    from bench.common import Verdict, machine, parser, say
    from bench.localstack import WorkerProcess, local_stack

    p = parser(__doc__.split("\n")[0])
    p.add_argument("--commands", type=int, default=300, help="commands to run (default 300)")
    p.add_argument("--parallel", type=int, default=4, help="processes at a time (default 4)")
    args = p.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    cwd = args.workdir / "exit-codes"  # empty: no `.env` of the checkout leaks in
    cwd.mkdir(exist_ok=True)
    async with local_stack(args.workdir / "exit-codes-stack") as endpoints:
        worker = WorkerProcess(endpoints, args.workdir / "exit-codes-worker")
        worker.start()
        try:
            env = {**os.environ, **endpoints.worker_env()}
            body = json.dumps(intake())
            opened = await run_one(
                [str(ROOT / "starter.py"), "complaint", "open", "--json", body], env, cwd
            )
            if opened.returncode != 0:
                say(f"complaint open failed: {opened.signature}")
                return 1
            complaint_id = json.loads(opened.stdout)["complaint_id"]
            say(f"running {args.commands} commands, {args.parallel} at a time")
            start = time.perf_counter()
            outcomes = await run_many(
                command_mix(complaint_id, args.commands), env, cwd, args.parallel
            )
            seconds = time.perf_counter() - start
        finally:
            worker.stop()
    failed = [o for o in outcomes if o.returncode != 0]
    kinds = Counter(o.signature for o in failed)
    verdict = Verdict()
    verdict.check(f"{len(failed)} of {len(outcomes)} exited non-zero (target 0)", not failed)
    facts: dict[str, object] = {
        **machine(),
        "commands": f"{len(outcomes)}, {args.parallel} in parallel, {seconds:.0f} s",
        "non-zero exits": len(failed),
    }
    for n, (kind, count) in enumerate(kinds.most_common(5), 1):
        facts[f"failure {n} ({count}x)"] = kind
    return verdict.report("successful commands exit 0", facts)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
