"""Commands for backend services: `python starter.py <noun> <verb> [ID] [--json '{…}' | --file F]`.

Prints one JSON object on stdout and exits 0; a refused command prints a JSON error object on
stderr and exits 1 (2 for a malformed command line, 3 when Temporal cannot be reached).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from datetime import UTC, datetime

from commands.base import CommandContext, CommandError, request_id_arg
from commands.catalog import NOUNS, STARTS_WORKFLOWS, needs_temporal
from domain.policy import Policy
from domain.policy_versions import PolicyInForce
from infra.cli import JsonInputError, body_of, emit

EXIT_REJECTED, EXIT_USAGE, EXIT_UNAVAILABLE = 1, 2, 3
EXIT_BY_CODE = {"usage": EXIT_USAGE, "unavailable": EXIT_UNAVAILABLE}


def _fail(code: int, error: CommandError) -> int:
    emit(json.dumps(error.as_json(), ensure_ascii=False), sys.stderr)
    return code


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="starter.py", description=__doc__)
    parser.add_argument("noun", choices=sorted(NOUNS))
    parser.add_argument("verb")
    parser.add_argument("id", nargs="?")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--json", help="the command's body as a JSON object")
    source.add_argument("--file", help="a file holding the body as a JSON object")
    parser.add_argument(
        "--request-id",
        help="your key for this request: sent again with the same key, a command is not "
        "applied twice but answers as the first time (client and complaint updates)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        help="client import: onboardings in flight at once (default 32)",
    )
    return parser.parse_args(argv)


async def run(argv: list[str]) -> int:
    from infra.keys import KeyRingError
    from infra.policy_file import PolicyFileError, policy_from_settings
    from infra.settings import SettingsError, load_settings
    from infra.tracing import TracingSettingsError, command_span, failed, tracing

    try:
        args = parse(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else 0
    verbs = NOUNS[args.noun]
    if args.verb not in verbs:
        return _fail(
            EXIT_USAGE,
            CommandError(
                f"unknown command '{args.noun} {args.verb}'; known: {', '.join(sorted(verbs))}",
                "usage",
            ),
        )
    # with an OTLP endpoint set, the command is one trace, flushed before the answer is printed
    with contextlib.ExitStack() as spans:
        try:
            try:
                body = body_of(args.json, args.file)
            except JsonInputError as exc:
                raise CommandError(str(exc), "usage") from None
            request_id = request_id_arg(args.request_id)
            settings = load_settings()
            policy = policy_from_settings(settings)
            spans.enter_context(tracing(settings, "client-care-starter"))
            spans.enter_context(command_span(args.noun, args.verb))
            client = None
            if needs_temporal(args.noun, args.verb):
                from infra.temporal import connect

                try:
                    client = await connect(settings)
                except RuntimeError as exc:
                    failed("unavailable")
                    return _fail(
                        EXIT_UNAVAILABLE,
                        CommandError(
                            f"cannot reach Temporal at {settings.temporal_address}: {exc}",
                            "unavailable",
                        ),
                    )
            versions = PolicyInForce()
            if (args.noun, args.verb) in STARTS_WORKFLOWS:
                policy, versions = await _published_policy(policy)
            ctx = CommandContext(
                client=client,  # type: ignore[arg-type]
                policy=policy,
                versions=versions,
                task_queue=settings.temporal_task_queue,
                complaint_task_queue=settings.temporal_complaint_task_queue,
                request_id=request_id,
                concurrency=args.concurrency,
            )
            result = await verbs[args.verb](ctx, args.id, body)
        except CommandError as exc:
            failed(exc.code)
            code = {"usage": EXIT_USAGE, "unavailable": EXIT_UNAVAILABLE}.get(
                exc.code, EXIT_REJECTED
            )
            return _fail(code, exc)
        except (PolicyFileError, KeyRingError, TracingSettingsError, SettingsError) as exc:
            return _fail(EXIT_UNAVAILABLE, CommandError(str(exc), "configuration"))
    emit(json.dumps(result, ensure_ascii=False, default=str))
    return 0


async def _published_policy(file_policy: Policy) -> tuple[Policy, PolicyInForce]:
    """The version in force from the store; never the file's silently when it cannot be read."""
    from sqlalchemy.exc import SQLAlchemyError

    from commands.base import engine_for
    from commands.policy import resolve

    try:
        return await asyncio.to_thread(
            resolve, engine_for(CommandContext(client=None, policy=file_policy)),  # type: ignore[arg-type]
            file_policy, datetime.now(UTC),
        )  # fmt: skip
    except SQLAlchemyError as exc:
        raise CommandError(
            f"cannot read the published policy versions: {type(exc).__name__}", "unavailable"
        ) from None


def main() -> int:
    from infra.logging import configure_logging, core_runtime

    configure_logging()
    with core_runtime():
        return asyncio.run(run(sys.argv[1:]))


if __name__ == "__main__":
    sys.exit(main())
