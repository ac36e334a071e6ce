"""`lwf init DIR`: a new project for your own workflows, with one workflow and its tests.

The project is self-contained: its `pyproject.toml` names the app (`[tool.lambda-workflows]
app`), so `pytest`, `lwf dev` and `lwf trigger` run from its folder with nothing but the
installed lambda-workflows package. The templates are plain strings here (no package data),
rendered with `string.Template` (`$pkg`, `$project`), so they contain no other `$`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import keyword
import os
import sys
from pathlib import Path
from string import Template

from lambda_workflows.errors import ValidationError

# Names a project package must not take: the engine itself, the project's own tests
# folder, and the standard library (`pythonpath = ["."]` puts the project first on
# `sys.path`, so a package called `email` or `json` would hide the real one).
RESERVED_NAMES = frozenset({"lambda_workflows", "tests", "test", *sys.stdlib_module_names})

INFRA_APP = '''\
"""The CDK app of $project (`cdk synth`, `cdk deploy`): the workflows of `$pkg.app` on
AWS, with the lambda-workflows construct. Needs `pip install -e ".[cdk]"`, Node.js and
the AWS CDK CLI (`npm install -g aws-cdk`); bundling needs no Docker."""

from pathlib import Path

from aws_cdk import App, Stack, Validations
from cdk_nag import AwsSolutionsChecks

from lambda_workflows.cdk import WorkflowEngine

ROOT = Path(__file__).resolve().parents[1]


def build(app: App) -> Stack:
    """The stack: everything the app declared in `$pkg/app.py` needs."""
    stack = Stack(app, "$stack")
    WorkflowEngine(stack, "Engine", project_dir=ROOT)
    return stack


if __name__ == "__main__":
    cdk_app = App()
    Validations.of(cdk_app).add_plugins(AwsSolutionsChecks(cdk_app))  # findings fail synth
    build(cdk_app)
    cdk_app.synth()
'''

CDK_JSON = """\
{
  "app": "python infra/app.py"
}
"""

INFRA_TEMPLATES: dict[str, str] = {
    "infra/__init__.py": "",
    "infra/app.py": INFRA_APP,
    "cdk.json": CDK_JSON,
}
"""The deployment: a CDK app using `lambda_workflows.cdk.WorkflowEngine`."""

PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "$project"
version = "0.1.0"
description = "Durable workflows on AWS Lambda, built with lambda-workflows."
requires-python = ">=3.11"
# lambda-workflows is not published on PyPI yet: install it first, from a checkout or
# from git, with its dev extra (moto and pytest, which the tests and `lwf dev` use):
#   pip install -e "/path/to/lambda-workflows[dev]"
#   pip install "lambda-workflows[dev] @ git+<the repository's git URL>"
dependencies = ["lambda-workflows"]

[project.optional-dependencies]
dev = ["lambda-workflows[dev]"]
cdk = ["lambda-workflows[cdk]"]

[tool.setuptools.packages.find]
include = ["$pkg*"]

# The app object: `pytest` (the `workflows` fixture), `lwf dev`, `lwf trigger` and the
# deployment all load it from here.
[tool.lambda-workflows]
app = "$pkg.app:app"

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]
"""

PACKAGE_INIT = '''\
"""$project: durable workflows on AWS Lambda (lambda-workflows). The app is in `app.py`."""
'''

APP = '''\
"""The app: every workflow of this project, declared once in `app`.

Tests, `lwf dev`, `lwf trigger` and the deployment load this object, found through
`[tool.lambda-workflows] app` in pyproject.toml. Add a workflow by writing its class and
listing it in `WorkflowApp(workflows=[...])`.
"""

from __future__ import annotations

from typing import Any

from lambda_workflows import (
    WaitTimeoutError,
    Workflow,
    WorkflowApp,
    WorkflowEntrypoint,
    WorkflowEvent,
    WorkflowStep,
)
from pydantic import BaseModel


class GreetingParams(BaseModel):
    """The params of a `greeting` instance, validated when it is created."""

    name: str


class GreetingWorkflow(WorkflowEntrypoint[GreetingParams]):
    """Greet someone, wait a day, give them three days to reply, then follow up."""

    async def run(
        self, event: WorkflowEvent[GreetingParams], step: WorkflowStep
    ) -> dict[str, Any]:
        # Code outside steps runs again on every replay: keep it deterministic (no clock,
        # no randomness, no I/O). Side effects go inside step.do, whose results are
        # journaled, so a step that succeeded never runs again.
        name = event.payload.name
        greeting = await step.do("compose greeting", lambda: f"Hello, {name}!")

        # Suspended for a day: no Lambda runs meanwhile. Tests skip the wait.
        await step.sleep("wait", "1 day")

        reply: str | None
        try:
            received = await step.wait_for_event(
                "wait for reply", type="reply", timeout="3 days"
            )
        except WaitTimeoutError:
            reply = None
        else:
            reply = str((received["payload"] or {}).get("text", ""))

        def follow_up() -> str:
            if reply is None:
                return f"No reply from {name} after 3 days."
            return f"{name} replied: {reply}"

        message = await step.do("compose follow-up", follow_up)
        return {"greeting": greeting, "reply": reply, "follow_up": message}


app = WorkflowApp(
    workflows=[Workflow("greeting", GreetingWorkflow, binding="GREETING_WORKFLOW")],
)
'''

TEST_GREETING = '''\
"""The `greeting` workflow, one test per path.

`workflows` (a fixture of the lambda-workflows pytest plugin) runs the app of
pyproject.toml on moto with a virtual clock: nothing reaches AWS, and when nothing is due
the clock jumps to the next wake-up, so the day of sleep and the 3-day timeout take
milliseconds.
"""

from __future__ import annotations

from datetime import timedelta

from lambda_workflows.testing import WorkflowTestEnv


def test_reply_arrives(workflows: WorkflowTestEnv) -> None:
    start = workflows.now()
    with workflows.introspect("greeting", "hello-ada") as instance:
        # Sent as soon as the instance exists; it waits in the buffer until the
        # workflow reaches `wait_for_event`.
        instance.mock_event("reply", {"text": "Hi there!"})
        workflows.binding("greeting").create(id="hello-ada", params={"name": "Ada"})
        instance.wait_for_status("complete")
        assert instance.output() == {
            "greeting": "Hello, Ada!",
            "reply": "Hi there!",
            "follow_up": "Ada replied: Hi there!",
        }
    assert workflows.now() - start == timedelta(days=1)  # the sleep, in virtual time


def test_nobody_replies(workflows: WorkflowTestEnv) -> None:
    start = workflows.now()
    with workflows.introspect("greeting", "hello-bob") as instance:
        workflows.binding("greeting").create(id="hello-bob", params={"name": "Bob"})
        instance.wait_for_status("complete")
        assert instance.output() == {
            "greeting": "Hello, Bob!",
            "reply": None,
            "follow_up": "No reply from Bob after 3 days.",
        }
        statuses = {s["name"]: s["status"] for s in instance.steps()}
    assert statuses["wait for reply"] == "timedOut"
    assert workflows.now() - start == timedelta(days=1 + 3)  # sleep, then the timeout
'''

README = """\
# $project

Durable workflows on AWS Lambda, written with
lambda-workflows (the programming model of
Cloudflare Workflows). The app is `$pkg/app.py`; its tests are in `tests/`.

## Setup

lambda-workflows is not on PyPI yet. In a virtual environment (Python 3.11+), install it
from a checkout or from git, with its `dev` extra (moto and pytest):

```bash
python -m venv .venv && . .venv/bin/activate
pip install -e "/path/to/lambda-workflows[dev]"
# or, from its git repository: pip install "lambda-workflows[dev] @ git+<its git URL>"
```

## Run the tests

```bash
pytest
```

The tests run the real runtime (DynamoDB journal, SQS wake-ups, EventBridge Scheduler,
S3) on moto with a virtual clock: no AWS account, no network, and no real waiting (the
day of sleep and the 3-day timeout are skipped). See lambda-workflows' docs/testing.md for
the `workflows` fixture and its introspection API (mocked steps, events, timeouts).

## Run it locally

```bash
lwf dev                                    # the app on a local AWS (moto); API on :8787
lwf trigger greeting '{"name": "Ada"}'     # in another terminal: start an instance
lwf instances list greeting                # its instances; `lwf instances describe` for one
```

`lwf dev` runs the app on the real clock, so a `greeting` instance really sleeps for a
day before it waits for its `reply` event.

## Add a workflow

Write a `WorkflowEntrypoint` subclass (every side effect in a named `step.do`), list it in
`WorkflowApp(workflows=[...])` in `$pkg/app.py`, and test it like `tests/test_greeting.py`.

## Deploy

```bash
pip install -e ".[cdk]" && npm install -g aws-cdk
cdk bootstrap && cdk deploy     # infra/app.py: the lambda-workflows construct
lwf workflows list --url <the ApiUrl output>
```
"""

GITIGNORE = """\
.venv/
__pycache__/
*.py[cod]
*.egg-info/
build/
dist/
.pytest_cache/
.mypy_cache/
.ruff_cache/
.coverage
.coverage.*
cdk.out/
"""


def package_name(target: Path, name: str | None = None) -> str:
    """The package a project in `target` gets: `name` (or the folder's), dashes → underscores.

    Raises `ValidationError` when that is not an importable package name of its own.
    """
    project = name if name is not None else target.resolve().name
    pkg = project.replace("-", "_")
    where = f"the name {name!r}" if name is not None else f"the folder name {project!r}"
    if not (pkg.isascii() and pkg.isidentifier()) or keyword.iskeyword(pkg):
        raise ValidationError(
            f"{where} gives the package name {pkg!r}, which is not a valid Python identifier "
            "(use letters, digits, '_' or '-', not starting with a digit); pass a name"
        )
    if pkg in RESERVED_NAMES:
        raise ValidationError(
            f"{where} gives the package name {pkg!r}, which is taken (the standard library, "
            "lambda_workflows or the tests folder); pass another name"
        )
    if importlib.util.find_spec(pkg) is not None:
        raise ValidationError(
            f"{where} gives the package name {pkg!r}, which an installed package already "
            "has (the project's would hide it, or it the project's); pass another name"
        )
    return pkg


def _project_files(project: str, pkg: str) -> dict[str, str]:
    """Each file of the new project (relative path → rendered text), in writing order."""
    templates = {
        "pyproject.toml": PYPROJECT,
        f"{pkg}/__init__.py": PACKAGE_INIT,
        f"{pkg}/app.py": APP,
        "tests/test_greeting.py": TEST_GREETING,
        "README.md": README,
        ".gitignore": GITIGNORE,
        **INFRA_TEMPLATES,
    }
    stack = "".join(part.capitalize() for part in pkg.split("_") if part)
    values = {"project": project, "pkg": pkg, "stack": stack}
    return {path: Template(text).substitute(values) for path, text in templates.items()}


def init_project(target: Path, name: str | None = None) -> list[Path]:
    """Write a new project into `target` (created if missing, else it must be empty).

    `name` is the project's name; it defaults to the folder's, and its package is the name
    with dashes turned into underscores. Returns the files written. Raises
    `ValidationError` (and writes nothing) if `target` is a file or a non-empty folder,
    or if the package name is not a valid Python identifier. Raises `OSError` when the
    folder or a file cannot be created (a parent that is a file, a name too long, no
    permission, a full disk), after removing what it had written and the folders it made.
    """
    target = Path(target)
    if target.exists():
        if not target.is_dir():
            raise ValidationError(f"{target} exists and is not a directory")
        if any(target.iterdir()):
            raise ValidationError(
                f"{target} is not empty; lwf init writes a new project into an empty "
                "or missing directory"
            )
    pkg = package_name(target, name)
    project = name if name is not None else target.resolve().name

    written: list[Path] = []
    made: list[Path] = []
    try:
        for relative, text in _project_files(project, pkg).items():
            path = target / relative
            made += _missing_folders(path.parent)
            path.parent.mkdir(parents=True, exist_ok=True)
            written.append(path)
            path.write_text(text, encoding="utf-8", newline="\n")
    except OSError:
        for path in written:
            path.unlink(missing_ok=True)
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return written


def _missing_folders(folder: Path) -> list[Path]:
    """`folder` and its parents that do not exist yet, outermost first."""
    missing: list[Path] = []
    while folder != folder.parent and not os.path.lexists(folder):
        missing.append(folder)
        folder = folder.parent
    return missing[::-1]
