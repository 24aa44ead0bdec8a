"""`python auditor.py replay|history|rebuild-projections|verify-projections|reseal-projections|
verify-access-log` (see CONTRACT.md).

Exit status: 0 clean; 1 the audit found something (a run that cannot be replayed, a projection
difference, a payload in a history bound to another workflow); 2 the audit could not run (bad
arguments, unreachable server or database, missing key, unknown workflow).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="auditor.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    replay = sub.add_parser("replay", help="replay histories against the current workflow code")
    source = replay.add_mutually_exclusive_group()
    source.add_argument("--workflow-id", help="every run of this workflow's chain")
    source.add_argument("--query", help="every run a visibility query matches")
    source.add_argument(
        "--history-file", type=Path, action="append", help="a JSON export (repeatable)"
    )
    source.add_argument("--history-dir", type=Path, help="every *.json export in a directory")
    replay.add_argument("--run-id", help="with --workflow-id: only this run")
    replay.add_argument(
        "--workflows",
        metavar="MODULE:ATTRIBUTE",
        help="the workflow classes to replay against (default: workflows.registry:ALL_WORKFLOWS)",
    )
    replay.add_argument(
        "--jobs",
        type=_positive,
        metavar="N",
        help="replay in N processes (default: one per core; 1 replays in this process)",
    )

    history = sub.add_parser("history", help="a workflow's decrypted, readable timeline")
    history.add_argument("workflow_id")
    history.add_argument("--run-id", help="only this run (default: the whole chain)")
    history.add_argument("--actor", help="who is reading (default: CLIENT_CARE_ACTOR or user)")
    history.add_argument("--purpose", default="audit", help="why, for the access log")
    history.add_argument("--verbose", action="store_true", help="include workflow task events")

    rebuild = sub.add_parser("rebuild-projections", help="rebuild read models from histories")
    rebuild.add_argument("--schema", default="rebuild", help="target schema (default: %(default)s)")
    rebuild.add_argument(
        "--into-live",
        action="store_true",
        help="then replace the live tables with the rebuilt rows (disaster recovery)",
    )

    verify = sub.add_parser("verify-projections", help="compare live read models with a rebuild")
    verify.add_argument("--schema", default="verify", help="scratch schema (default: %(default)s)")
    verify.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="TABLE.COLUMN",
        help="a column not to compare (repeatable; by default every column is compared)",
    )
    verify.add_argument("--keep", action="store_true", help="keep the scratch schema")

    reseal = sub.add_parser(
        "reseal-projections",
        help="re-seal sealed read-model cells under the primary key, suite and current format",
    )
    reseal.add_argument("--actor", help="who runs it (default: CLIENT_CARE_ACTOR or user)")

    find = sub.add_parser(
        "find-plaintext",
        help="name a workflow's events whose payload was written without the codec, or moved "
        "in from another workflow or namespace",
    )
    find.add_argument("workflow_id")
    repair = sub.add_parser(
        "repair-plaintext",
        help="reset a workflow to before its first payload written without the codec (or "
        "moved in from another workflow or namespace)",
    )
    repair.add_argument("workflow_id")
    repair.add_argument("--reason", default="payload written without the codec")

    chain = sub.add_parser(
        "verify-access-log",
        help="recompute the access log's hash chain; exit 1 naming the first broken row",
    )

    for command in (rebuild, verify):
        origin = command.add_mutually_exclusive_group()
        origin.add_argument("--query", default="", help="only the runs this query matches")
        origin.add_argument(
            "--history-dir",
            type=Path,
            help="rebuild from the *.json exports in a directory instead of the server's",
        )
        command.add_argument("--actor", help="who runs it (default: CLIENT_CARE_ACTOR or user)")
    for command in (replay, history, rebuild, verify, reseal, find, repair, chain):
        command.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return int(text)


def _print(args: argparse.Namespace, report: Any, text: Callable[[], str]) -> None:
    from infra.cli import emit

    if args.json:
        emit(json.dumps(report, ensure_ascii=False, indent=2, default=str))
    else:
        emit(text())


class _Context:
    """Settings, key ring, Temporal client and database engine, each made on first use, so that
    e.g. replaying a file needs neither a server nor a database."""

    def __init__(self) -> None:
        from infra.settings import Settings

        self.settings = Settings()  # not the cached one: each run reads the environment anew
        self._keyring: Any = None
        self._client: Any = None
        self._engine: Any = None

    @property
    def keyring(self) -> Any:
        from infra.keys import load_keyring

        if self._keyring is None:
            self._keyring = load_keyring(self.settings)
        return self._keyring

    async def client(self) -> Any:
        from infra.temporal import connect

        if self._client is None:
            self._client = await connect(self.settings, self.keyring)
        return self._client

    @property
    def engine(self) -> Any:
        from infra.database import database_url, make_engine

        if self._engine is None:
            self._engine = make_engine(database_url(self.settings))
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def _actor(args: argparse.Namespace) -> str:
    from projections.access import current_actor

    return current_actor(args.actor)


async def _replay(args: argparse.Namespace, ctx: _Context) -> int:
    from functools import partial

    from audit import parallel, replay, sources
    from infra.keys import load_keyring

    if args.run_id and not args.workflow_id:
        raise ValueError("--run-id needs --workflow-id")
    workflows = replay.load_workflows(args.workflows or replay.DEFAULT_REGISTRY)
    jobs = args.jobs or parallel.default_jobs()
    if args.history_file or args.history_dir:
        files = args.history_file or sources.json_files(args.history_dir)
        # Loaded only where an encrypted export needs it, in each replay process.
        keyring = partial(load_keyring, ctx.settings)
        report = await parallel.replay_files(
            files, workflows, keyring, jobs, ctx.settings.temporal_namespace
        )
    else:
        client = await ctx.client()
        if args.workflow_id:
            runs = await sources.chain(
                client, args.workflow_id, args.run_id, all_runs=not args.run_id
            )
            histories = sources.from_list(runs)
        else:
            histories = sources.matching(client, args.query or "")
        report = await parallel.replay_stream(
            histories, workflows, ctx.keyring, jobs, client.namespace
        )
    _print(args, report.as_json(), report.as_text)
    return EXIT_OK if report.ok else EXIT_FINDINGS


async def _history(args: argparse.Namespace, ctx: _Context) -> int:
    from audit import sources, timeline
    from projections.access import AccessAction, record_access

    client = await ctx.client()
    runs = await sources.chain(client, args.workflow_id, args.run_id, all_runs=not args.run_id)
    # The fields sealed under each client's own key, opened with it: `[erased]` once destroyed.
    from projections.subject_keys import PgSubjectKeys, Sealer

    sealer = Sealer(PgSubjectKeys(ctx.engine, ctx.keyring))
    # Bound as the workers were: a payload moved in from another workflow is refused, reported.
    view = await timeline.build(runs, client.data_converter, sealer.reveal, client.namespace)
    # Decrypted only in memory so far: nothing is shown unless the reading is on record.
    with ctx.engine.begin() as conn:
        concerned: list[str | None] = [*view.client_ids] or [None]
        for client_id in concerned:
            record_access(
                conn,
                _actor(args),
                AccessAction.HISTORY_DECRYPT,
                client_id=client_id,
                workflow_id=view.workflow_id,
                purpose=args.purpose,
            )
    _print(args, view.as_json(), lambda: view.as_text(verbose=args.verbose))
    return EXIT_FINDINGS if view.refused else EXIT_OK


async def _histories(args: argparse.Namespace, ctx: _Context) -> Any:
    """The server's runs (those `--query` matches), or the exports in `--history-dir`."""
    from audit import sources
    from infra.temporal import data_converter

    if args.history_dir:
        return sources.in_directory(args.history_dir, data_converter(ctx.keyring))
    return await sources.on_server(await ctx.client(), args.query)


def _record_rebuild(args: argparse.Namespace, ctx: _Context, purpose: str) -> None:
    from projections.access import AccessAction, record_access

    with ctx.engine.begin() as conn:
        record_access(conn, _actor(args), AccessAction.PROJECTION_REBUILD, purpose=purpose)


async def _rebuild(args: argparse.Namespace, ctx: _Context) -> int:
    from audit.rebuild import derived_tables, rebuild, replace_live
    from projections.crypto import FieldCipher

    if args.into_live and (args.query or args.history_dir):
        # Replacing the live tables from a subset of the histories would drop everyone else's
        # rows: disaster recovery always rebuilds from every history.
        raise ValueError("--into-live rebuilds from every history; it takes no --query")
    source = await _histories(args, ctx)
    target = "live tables" if args.into_live else f"schema {args.schema}"
    _record_rebuild(args, ctx, f"rebuild-projections into {target}")
    from infra.progress import per_item, progress_bar

    with progress_bar("rebuilding", source.total, summary=False, transient=True) as advance:
        on_run = per_item(advance)
        stats = await rebuild(
            source, ctx.engine, FieldCipher(ctx.keyring), schema=args.schema, on_run=on_run
        )
    report: dict[str, Any] = {"schema": args.schema, **stats.as_json()}
    if args.into_live:
        report["live"] = replace_live(ctx.engine, args.schema, derived_tables(stats.tables))
    _print(args, report, lambda: _rebuild_text(report))
    return EXIT_OK


def _rebuild_text(report: dict[str, Any]) -> str:
    text = (
        f"rebuilt {report['projections']} projection(s) from {report['runs']} run(s) into "
        f"schema {report['schema']} ({report['skipped']} never succeeded, skipped)"
    )
    if "live" in report:
        text += "\nlive tables replaced: " + ", ".join(
            f"{t} ({n} rows)" for t, n in report["live"].items()
        )
    return text


async def _verify(args: argparse.Namespace, ctx: _Context) -> int:
    from audit.verify import verify

    source = await _histories(args, ctx)
    _record_rebuild(args, ctx, "verify-projections")
    from infra.progress import per_item, progress_bar

    with progress_bar("verifying", source.total, summary=False, transient=True) as advance:
        on_run = per_item(advance)
        report = await verify(
            source,
            ctx.engine,
            ctx.keyring,
            schema=args.schema,
            ignore=args.ignore,
            keep=args.keep,
            on_run=on_run,
        )
    _print(args, report.as_json(), report.as_text)
    return EXIT_OK if report.ok else EXIT_FINDINGS


async def _reseal(args: argparse.Namespace, ctx: _Context) -> int:
    from audit.reseal import reseal
    from projections.crypto import FieldCipher

    _record_rebuild(args, ctx, "reseal-projections")
    report = await asyncio.to_thread(reseal, ctx.engine, FieldCipher(ctx.keyring))
    _print(args, report.as_json(), report.as_text)
    return EXIT_OK if report.ok else EXIT_FINDINGS


async def _find_plaintext(args: argparse.Namespace, ctx: _Context) -> int:
    from audit import plaintext

    found = await plaintext.find(await ctx.client(), args.workflow_id)
    report = {"workflow_id": args.workflow_id, "plaintext": [d.as_json() for d in found]}
    _print(
        args,
        report,
        lambda: (
            "\n".join(
                f"event {d.event_id}: {d.kind} {d.name!r} "
                + ("in clear" if d.plaintext else "bound to another workflow or namespace")
                for d in found
            )
            or f"{args.workflow_id}: no payload in clear or of another place"
        ),
    )
    return EXIT_FINDINGS if found else EXIT_OK


async def _repair_plaintext(args: argparse.Namespace, ctx: _Context) -> int:
    from audit import plaintext

    done = await plaintext.repair(await ctx.client(), args.workflow_id, args.reason)

    def text() -> str:
        if done.new_run_id is None:
            return f"{args.workflow_id}: no payload in clear; nothing reset"
        lines = [f"{args.workflow_id}: reset to event {done.reset_to_event}, new run "
                 f"{done.new_run_id}; dropped (send again if still wanted):"]  # fmt: skip
        lines += [
            f"  event {d.event_id}: {d.kind} {d.name!r}"
            + (" (in clear)" if d.plaintext else " (of another place)" if d.moved else "")
            for d in done.dropped
        ]
        return "\n".join(lines)

    _print(args, done.as_json(), text)
    return EXIT_OK


async def _verify_access_log(args: argparse.Namespace, ctx: _Context) -> int:
    from audit.access_chain import verify_chain

    report = await asyncio.to_thread(verify_chain, ctx.engine)
    _print(args, report.as_json(), report.as_text)
    return EXIT_OK if report.ok else EXIT_FINDINGS


_COMMANDS = {
    "find-plaintext": _find_plaintext,
    "repair-plaintext": _repair_plaintext,
    "replay": _replay,
    "history": _history,
    "rebuild-projections": _rebuild,
    "verify-projections": _verify,
    "reseal-projections": _reseal,
    "verify-access-log": _verify_access_log,
}


async def run(argv: list[str] | None = None) -> int:
    """The CLI as a coroutine, for callers that already run an event loop (the tests)."""
    args = _parser().parse_args(argv)
    ctx = _Context()
    try:
        return await _COMMANDS[args.command](args, ctx)
    except Exception as exc:  # the audit could not run: say why, in one line
        from infra.cli import emit

        emit(f"auditor.py {args.command}: {type(exc).__name__}: {exc}", sys.stderr)
        return EXIT_ERROR
    finally:
        ctx.close()


def main(argv: list[str] | None = None) -> int:
    import logging

    from infra.logging import configure_logging, core_runtime

    configure_logging(logging.WARNING)
    # Core replay warnings repeat the findings the report already names; keep only errors.
    with core_runtime("ERROR"):
        try:
            return asyncio.run(run(argv))
        except SystemExit as exit_:  # argparse: usage errors exit 2, --help exits 0
            return int(exit_.code or 0)


if __name__ == "__main__":
    sys.exit(main())
