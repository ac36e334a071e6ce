"""`lwf` run in-process against the API handler served on 127.0.0.1 (the adapter `lwf dev`
serves), on moto with the example app: the `Lwf` runner the CLI tests share."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambda_workflows.cli import app
from lambda_workflows.cli.session import CliState
from lambda_workflows.testing import WorkflowTestEnv
from rich.console import Console
from typer.testing import CliRunner, Result

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"


@dataclass
class Lwf:
    """Runs `lwf` in-process against the served handler; records what the server got."""

    env: WorkflowTestEnv
    url: str
    tmp_path: Path
    requests: list[dict[str, Any]] = field(default_factory=list)
    pause: Callable[[float], object] = lambda _seconds: None

    def __call__(self, *args: str, env: Mapping[str, str | None] | None = None) -> Result:
        state = CliState(
            pause=self.pause, stdout=Console(width=200), stderr=Console(width=200, stderr=True)
        )
        environment: dict[str, str | None] = {
            "LWF_URL": self.url,
            "AWS_CONFIG_FILE": str(self.tmp_path / "no-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.tmp_path / "no-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_PROFILE": None,
            "AWS_ACCESS_KEY_ID": None,
            "AWS_SECRET_ACCESS_KEY": None,
            "AWS_SESSION_TOKEN": None,
            "AWS_SECURITY_TOKEN": None,
            "AWS_REGION": None,
            "AWS_DEFAULT_REGION": None,
            "AWS_DEFAULT_PROFILE": None,
            **(env or {}),
        }
        return CliRunner().invoke(app, list(args), env=environment, obj=state)

    def json(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)
