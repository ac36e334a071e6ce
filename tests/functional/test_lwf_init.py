"""`lwf init`: the scaffolded project runs its own tests with only the installed package."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lambda_workflows.cli import main
from lambda_workflows.cli.scaffold import init_project
from lambda_workflows.errors import ValidationError

REPO = Path(__file__).resolve().parents[2]


def _env_outside_the_repo() -> dict[str, str]:
    """This process's environment, minus every PYTHONPATH entry that points into the repo
    (the new project must not import `functions`, `tests` or anything else from here) and
    the variables describing this pytest run's xdist worker."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_")}
    kept = [
        entry
        for entry in env.pop("PYTHONPATH", "").split(os.pathsep)
        if entry and not Path(entry).resolve().is_relative_to(REPO)
    ]
    if kept:
        env["PYTHONPATH"] = os.pathsep.join(kept)
    return env


def test_the_new_project_passes_its_own_tests(tmp_path: Path) -> None:
    project = tmp_path / "my-flows"
    written = init_project(project)

    assert sorted(p.relative_to(project).as_posix() for p in written) == [
        ".gitignore",
        "README.md",
        "cdk.json",
        "infra/__init__.py",
        "infra/app.py",
        "my_flows/__init__.py",
        "my_flows/app.py",
        "pyproject.toml",
        "tests/test_greeting.py",
    ]
    assert all(p.is_file() for p in written)
    pyproject = (project / "pyproject.toml").read_text()
    assert 'app = "my_flows.app:app"' in pyproject
    assert 'name = "my-flows"' in pyproject
    assert "pip install -e" in pyproject

    # Outside the repo, pytest's rootdir is the new project (its pyproject.toml has
    # [tool.pytest.ini_options]), so neither the repo's pyproject.toml nor its conftest.py
    # applies. Had the repo's config been used, the `workflows` fixture would load the
    # example app, which has no `greeting` workflow, and the tests would fail.
    # schemathesis' and hypothesis' pytest plugins (installed here for the repo's own
    # tests) take seconds to import and play no part in the project: blocked.
    assert not project.resolve().is_relative_to(REPO)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:schemathesis",
            "-p",
            "no:hypothesispytest",
        ],
        cwd=project,
        env=_env_outside_the_repo(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(r"\b2 passed\b", output), output


def test_the_new_projects_cdk_app_synthesizes_its_own_workflows(tmp_path: Path) -> None:
    """infra/app.py of a new project builds the lambda-workflows construct for that
    project's app (bundling skipped: it would fetch wheels)."""
    import importlib.util

    from aws_cdk import App
    from aws_cdk.assertions import Template

    project = tmp_path / "scaffold-synth"
    init_project(project)
    spec = importlib.util.spec_from_file_location("scaffold_synth_infra", project / "infra/app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        stack = module.build(App(context={"aws:cdk:bundling-stacks": []}))
        template = Template.from_stack(stack)
    finally:
        sys.path[:] = [p for p in sys.path if p != str(project.resolve())]
        for name in [m for m in sys.modules if m.split(".")[0] == "scaffold_synth"]:
            del sys.modules[name]
    assert stack.stack_name == "ScaffoldSynth"
    functions = template.find_resources("AWS::Lambda::Function")
    assert {f["Properties"]["Environment"]["Variables"]["LWF_APP"] for f in functions.values()} == {
        "scaffold_synth.app:app"
    }
    assert len(functions) == 3  # worker, api, sweeper: the app declares no crons
    assert json.loads((project / "cdk.json").read_text()) == {"app": "python infra/app.py"}


def test_name_overrides_the_folder_name(tmp_path: Path) -> None:
    written = init_project(tmp_path / "anything", name="billing-flows")
    assert tmp_path / "anything" / "billing_flows" / "app.py" in written
    assert 'name = "billing-flows"' in (tmp_path / "anything" / "pyproject.toml").read_text()


def test_an_existing_empty_folder_is_fine(tmp_path: Path) -> None:
    (tmp_path / "flows").mkdir()
    assert init_project(tmp_path / "flows")


def test_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    project = tmp_path / "flows"
    project.mkdir()
    (project / "notes.txt").write_text("mine")
    with pytest.raises(ValidationError, match="is not empty"):
        init_project(project)
    assert [p.name for p in project.iterdir()] == ["notes.txt"]


def test_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "flows").write_text("")
    with pytest.raises(ValidationError, match="not a directory"):
        init_project(tmp_path / "flows")


@pytest.mark.parametrize(
    ("folder", "name"),
    [("2fast", None), ("my.flows", None), ("flows", "my flows"), ("flows", "class")],
)
def test_refuses_a_name_that_is_not_an_identifier(
    tmp_path: Path, folder: str, name: str | None
) -> None:
    with pytest.raises(ValidationError, match="not a valid Python identifier"):
        init_project(tmp_path / folder, name=name)
    assert not (tmp_path / folder).exists()


@pytest.mark.parametrize("name", ["email", "lambda-workflows", "tests"])
def test_refuses_a_name_that_would_hide_another_package(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValidationError, match="is taken"):
        init_project(tmp_path / "flows", name=name)
    assert not (tmp_path / "flows").exists()


# -- folders the system will not make: one line, no traceback, nothing left behind --------


def _lwf_init(capsys: pytest.CaptureFixture[str], directory: Path) -> tuple[int, str]:
    """`lwf init directory`: its exit code and its one error line."""
    code = main(["init", str(directory)])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return code, lines[0]


def test_a_folder_under_a_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    target = tmp_path / "notes.txt" / "flows"
    assert _lwf_init(capsys, target) == (2, f"error: cannot create {target}: Not a directory")


def test_a_name_too_long_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "made" / ("f" * 300) / "flows"
    code, line = _lwf_init(capsys, target)
    assert code == 2
    assert line.startswith(f"error: cannot create {target}: ")
    assert line.endswith("File name too long")
    assert list(tmp_path.iterdir()) == []  # `made` was created, and removed again


def test_a_folder_that_is_not_writable_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The system refusing (EACCES, as for a user without write permission: simulated,
    since root, who runs CI, may write anywhere)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    real_mkdir = Path.mkdir

    def refuse(self: Path, *args: Any, **kwargs: Any) -> None:
        if self.parent == locked:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    code, line = _lwf_init(capsys, locked / "flows")
    assert (code, line) == (1, f"error: cannot create {locked / 'flows'}: Permission denied")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_folder_the_system_refuses_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    """/proc takes no new folders, not even from root."""
    target = Path("/proc/lwf-init-test")
    code, line = _lwf_init(capsys, target)
    assert (code, line) == (1, f"error: cannot create {target}: No such file or directory")


def test_a_write_that_fails_halfway_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = Path.write_text
    calls: list[Path] = []

    def write_text(path: Path, *args: Any, **kwargs: Any) -> int:
        calls.append(path)
        if len(calls) == 4:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_write(path, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", write_text)
    (tmp_path / "mine").mkdir()
    with pytest.raises(OSError, match="No space left"):
        init_project(tmp_path / "mine" / "deep" / "flows")
    assert len(calls) == 4
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]  # the folder there before stays
    assert list((tmp_path / "mine").iterdir()) == []
