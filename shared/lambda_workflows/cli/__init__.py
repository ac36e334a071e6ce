"""`lwf`: the command line. See docs/cli.md."""

from lambda_workflows.cli.main import app, main

__all__ = ["app", "main"]
