"""Bundling the functions' code without Docker: the project's runtime dependencies as
Lambda (Linux, arm64) wheels, installed with pip's `--platform`, plus the project's own
code and the `lambda_workflows` package this synth runs with.

Tests synthesize without bundling (the `aws:cdk:bundling-stacks` context set to `[]`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import BundlingOptions, ILocalBundling
from aws_cdk import aws_lambda as lambda_

import lambda_workflows
from lambda_workflows.errors import ValidationError

PLATFORM = "manylinux2014_aarch64"
ENGINE_DISTRIBUTION = "lambda-workflows"
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "tests", ".*")

SOURCE_EXCLUDE = [
    ".*",
    "cdk.out",
    "node_modules",
    "tests",
    "docs",
    "benchmarks",
    "**/__pycache__",
    "*.pyc",
    "*.egg-info",
]
"""What the source fingerprint leaves out of the project folder (caches, tests, docs)."""

Runner = Callable[[Sequence[str]], None]


def _run(command: Sequence[str]) -> None:
    subprocess.run(list(command), check=True)


def runtime_requirements(project_dir: Path) -> list[str]:
    """The project's `[project] dependencies` without the engine itself (copied from this
    environment, so the functions run the version that synthesized them), plus the
    engine's own runtime dependencies the project does not declare (pydantic, Powertools,
    ...: the copied engine imports them)."""
    data = tomllib.loads((project_dir / "pyproject.toml").read_text())
    declared: list[str] = data.get("project", {}).get("dependencies", [])
    wanted = [d for d in declared if _distribution(d) != ENGINE_DISTRIBUTION]
    named = {_distribution(d) for d in wanted}
    return wanted + [d for d in engine_requirements() if _distribution(d) not in named]


def engine_requirements() -> list[str]:
    """What the installed engine distribution requires at run time (no extras)."""
    try:
        required = metadata.requires(ENGINE_DISTRIBUTION) or []
    except metadata.PackageNotFoundError:  # pragma: no cover - the engine runs installed
        return []
    return [r.split(";")[0].strip() for r in required if "extra ==" not in r.replace("'", '"')]


def _distribution(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement.strip())
    return re.sub(r"[._-]+", "-", match.group().lower()) if match else ""


def pip_command(
    requirements: Sequence[str], target: str, python_version: str, constraints: Path | None
) -> list[str]:
    """`pip install` of Lambda arm64 wheels for `python_version` into `target`."""
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--platform", PLATFORM, "--implementation", "cp", "--python-version", python_version,
        "--only-binary=:all:", "--target", target,
    ]  # fmt: skip
    if constraints is not None:
        command += ["--constraint", str(constraints)]
    return command + list(requirements)


@jsii.implements(ILocalBundling)
class LocalPipBundling:
    """CDK local bundling: pip for the dependencies, a copy for the code."""

    def __init__(
        self,
        project_dir: Path,
        packages: Sequence[str],
        python_version: str,
        run: Runner = _run,
    ) -> None:
        self.project_dir = project_dir
        self.packages = list(packages)
        self.python_version = python_version
        self.run = run

    def try_bundle(self, output_dir: str, *_options: Any, **_named: Any) -> bool:
        requirements = runtime_requirements(self.project_dir)
        lock = self.project_dir / "requirements.lock"
        if requirements:
            self.run(
                pip_command(
                    requirements, output_dir, self.python_version, lock if lock.is_file() else None
                )
            )
        target = Path(output_dir)
        engine = Path(lambda_workflows.__file__).parent
        shutil.copytree(engine, target / "lambda_workflows", ignore=_SKIP, dirs_exist_ok=True)
        for package in self.packages:
            source = self.project_dir / package
            if source.is_dir():
                shutil.copytree(source, target / package, ignore=_SKIP, dirs_exist_ok=True)
            elif source.with_suffix(".py").is_file():
                shutil.copy2(source.with_suffix(".py"), target / f"{package}.py")
            else:
                raise ValidationError(
                    f"bundling: no package or module {package!r} in {self.project_dir}"
                )
        return True


def bundled_code(
    project_dir: Path, app_path: str, runtime: lambda_.Runtime, run: Runner = _run
) -> lambda_.Code:
    """The functions' code asset: the app's top-level package and its dependencies."""
    package = app_path.partition(":")[0].split(".")[0]
    version = runtime.name.removeprefix("python")
    return lambda_.Code.from_asset(
        str(project_dir),
        exclude=SOURCE_EXCLUDE,
        bundling=BundlingOptions(
            image=runtime.bundling_image,
            local=LocalPipBundling(project_dir, [package], version, run),
            command=["false"],  # Docker is never used: local bundling always succeeds or raises
        ),
    )
