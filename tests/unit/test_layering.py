"""The arrows of the architecture: client API -> runtime -> ports, never back."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "shared" / "lambda_workflows"
CLIENT_SIDE = ("instances", "status", "testing", "local", "cli", "engine", "http")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _modules(*folders: str) -> list[Path]:
    return [p for folder in folders for p in sorted((PACKAGE / folder).rglob("*.py"))]


def test_the_runtime_and_the_ports_never_import_the_client_api() -> None:
    """Guards the layering: nothing in runtime/, journal/ or the port modules imports the
    instance API, the status views, the harness, the local cloud or the CLI."""
    ports = [
        PACKAGE / name
        for name in ("blobs.py", "payloads.py", "wakeups.py", "metrics.py", "services.py")
    ]
    offenders = {
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in _modules("runtime", "journal") + ports
        for module in _imports(path)
        if any(
            module == f"lambda_workflows.{side}" or module.startswith(f"lambda_workflows.{side}.")
            for side in CLIENT_SIDE
        )
    }
    assert not offenders


def test_boto3_is_only_imported_under_aws_and_local() -> None:
    """Guards: boto3 and botocore stay behind the adapters in aws/ (and the local cloud)."""
    offenders = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).parts[0] not in ("aws", "local", "bindings")
        and any(m.split(".")[0] in ("boto3", "botocore") for m in _imports(path))
    }
    assert not offenders
