"""`lwf`: the command line (local dev today; the instance commands come with the HTTP API)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lambda_workflows.app import load_app
from lambda_workflows.errors import WorkflowError

if TYPE_CHECKING:
    from lambda_workflows.engine import Engine


def _dev(args: argparse.Namespace) -> int:
    import logging

    from lambda_workflows.local.dev import DevServer, seed_demo

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("lambda-workflows").setLevel(logging.WARNING)

    seeded: list[tuple[str, str]] = []
    server = DevServer(
        load_app(),
        host=args.host,
        port=args.port,
        stop_when=(lambda s: s.all_finished(seeded)) if args.exit_when_done else None,
    )

    def ready(engine: Engine) -> None:
        if args.seed_demo:
            seeded.extend(seed_demo(engine))

    try:
        server.run(on_ready=ready)
    except KeyboardInterrupt:
        return 0
    if args.exit_when_done and not server.all_finished(seeded):
        return 1
    return 0


def _workflows_list(args: argparse.Namespace) -> int:
    app = load_app()
    rows = [
        {
            "name": w.name,
            "class": f"{w.cls.__module__}.{w.cls.__qualname__}",
            "binding": w.binding,
            "params": w.params_model.model_json_schema() if w.params_model else None,
        }
        for w in app.workflows
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(f"{row['name']:<24} {row['class']}")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="lwf", description="lambda-workflows command line")
    commands = root.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="run the app locally on moto (no AWS account)")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=4566, help="port of the local AWS endpoint")
    dev.add_argument("--seed-demo", action="store_true", help="start one instance per example")
    dev.add_argument(
        "--exit-when-done", action="store_true", help="stop once the seeded instances finished"
    )
    dev.set_defaults(run=_dev)

    workflows = commands.add_parser("workflows", help="the app's workflows")
    workflow_commands = workflows.add_subparsers(dest="action", required=True)
    listing = workflow_commands.add_parser("list", help="list declared workflows")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_workflows_list)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except WorkflowError as exc:
        print(f"lwf: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
