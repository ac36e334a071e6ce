"""Local bundling of the functions' code (no Docker): the pip command for Lambda arm64
wheels and the code copied beside them. pip itself is not run (no network in tests)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from aws_cdk import aws_lambda as lambda_
from lambda_workflows.cdk.bundling import (
    LocalPipBundling,
    bundled_code,
    pip_command,
    runtime_requirements,
)
from lambda_workflows.cdk.engine import RUNTIME
from lambda_workflows.errors import ValidationError

ROOT = Path(__file__).resolve().parents[2]


def _project(tmp_path: Path, dependencies: list[str]) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    listed = ", ".join(f'"{d}"' for d in dependencies)
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\nname = "mine"\ndependencies = [{listed}]\n'
        '[tool.lambda-workflows]\napp = "myapp.flows:app"\n'
    )
    package = tmp_path / "myapp"
    (package / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "flows.py").write_text("app = None\n")
    (package / "__pycache__" / "flows.cpython-314.pyc").write_bytes(b"")
    (tmp_path / "requirements.lock").write_text("httpx==0.28.1\n")
    return tmp_path


ENGINE_RUNTIME = [
    "boto3==1.44.8", "botocore==1.44.8", "pydantic==2.14.4",
    "aws-lambda-powertools==3.37.0", "typer==0.29.2", "rich==15.0.0",
]  # fmt: skip


def test_the_engine_is_copied_not_installed_but_its_dependencies_are(tmp_path: Path) -> None:
    """A user's project lists only `lambda-workflows`: the copied engine still needs
    pydantic and Powertools in the bundle (without them every function fails to start)."""
    project = _project(
        tmp_path, ["lambda-workflows[cdk]==0.1.0", "Lambda_Workflows", "httpx>=0.27"]
    )
    assert runtime_requirements(project) == ["httpx>=0.27", *ENGINE_RUNTIME]
    pinned = _project(tmp_path / "pinned", ["lambda-workflows", "pydantic==2.14.4"])
    assert runtime_requirements(pinned).count("pydantic==2.14.4") == 1
    assert runtime_requirements(ROOT) == ENGINE_RUNTIME


def test_pip_installs_arm64_wheels_for_the_runtime(tmp_path: Path) -> None:
    command = pip_command(["httpx"], "/out", "3.14", tmp_path / "requirements.lock")
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    joined = " ".join(command)
    for part in (
        "--platform manylinux2014_aarch64",
        "--implementation cp",
        "--python-version 3.14",
        "--only-binary=:all:",
        "--target /out",
        f"--constraint {tmp_path / 'requirements.lock'}",
    ):
        assert part in joined
    assert command[-1] == "httpx"


def test_try_bundle_installs_then_copies_the_app_and_the_engine(tmp_path: Path) -> None:
    project = _project(tmp_path / "project", ["httpx"])
    out = tmp_path / "out"
    out.mkdir()
    commands: list[Sequence[str]] = []
    bundler = LocalPipBundling(project, ["myapp"], "3.14", commands.append)
    assert bundler.try_bundle(str(out), image=None) is True
    [command] = commands
    assert command[-len(ENGINE_RUNTIME) - 1 :] == ["httpx", *ENGINE_RUNTIME]
    assert (out / "myapp" / "flows.py").is_file()
    assert not (out / "myapp" / "__pycache__").exists()
    assert (out / "lambda_workflows" / "handlers" / "entry.py").is_file()
    assert not list(out.rglob("__pycache__"))


def test_a_missing_app_package_is_a_clear_error(tmp_path: Path) -> None:
    project = _project(tmp_path / "project", [])
    bundler = LocalPipBundling(project, ["nothere"], "3.14", lambda _c: None)
    with pytest.raises(ValidationError, match="nothere"):
        bundler.try_bundle(str(tmp_path), image=None)


def test_the_default_code_bundles_for_the_functions_runtime() -> None:
    code = bundled_code(ROOT, "functions.app:app", RUNTIME, lambda _c: None)
    assert isinstance(code, lambda_.AssetCode)
    assert RUNTIME.name == "python3.14"
