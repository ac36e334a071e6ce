"""Code in the docs is code that runs: snippets are kept verbatim in test files."""

from __future__ import annotations

import re
from pathlib import Path

from lambda_workflows.cli.scaffold import _project_files

ROOT = Path(__file__).resolve().parents[2]


def _python_blocks(doc: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / doc).read_text(), re.S)


def test_the_testing_guides_complete_example_is_a_test_that_runs() -> None:
    (example,) = [b for b in _python_blocks("docs/testing.md") if "def test_approved" in b]
    tests = (ROOT / "tests/functional/examples/test_testing_guide.py").read_text()
    assert example in tests


def test_the_guides_rollback_example_is_a_test_that_runs() -> None:
    (example,) = [b for b in _python_blocks("docs/guide.md") if "class Transfer" in b]
    tests = (ROOT / "tests/functional/examples/test_guide_rollbacks.py").read_text()
    assert example in tests


def test_the_guides_common_mistakes_are_tests_that_run() -> None:
    guide = (ROOT / "docs/guide.md").read_text()
    section = guide[guide.index("## Common mistakes") :]
    section = section[: section.index("\n## ", 1)]
    examples = re.findall(r"```python\n(.*?)```", section, re.S)
    tests = (ROOT / "tests/functional/examples/test_guide_mistakes.py").read_text()
    assert len(examples) == 6
    for example in examples:
        assert example in tests, example


def test_the_testing_guides_settings_are_what_lwf_init_writes() -> None:
    (settings,) = re.findall(r"```toml\n(.*?)```", (ROOT / "docs/testing.md").read_text(), re.S)
    written = _project_files("myproject", "myproject")["pyproject.toml"]
    kept = [line for line in written.splitlines() if line and not line.startswith("#")]
    start = kept.index("[tool.lambda-workflows]")
    assert settings.splitlines() == _with_blank_lines(kept[start:])


def _with_blank_lines(lines: list[str]) -> list[str]:
    """`lines` with a blank line before each table header but the first."""
    out: list[str] = []
    for line in lines:
        if line.startswith("[") and out:
            out.append("")
        out.append(line)
    return out


def test_the_guides_concurrency_example_is_a_test_that_runs() -> None:
    (example,) = [b for b in _python_blocks("docs/guide.md") if "concurrency=2" in b]
    tests = (ROOT / "tests/functional/examples/test_concurrency_guide.py").read_text()
    assert example in tests


def _squeezed(text: str) -> str:
    return "".join(text.split())


def test_the_readmes_test_snippets_are_tests_that_run() -> None:
    snippets = [b for b in _python_blocks("README.md") if "def test_" in b]
    assert len(snippets) == 2
    tests = _squeezed((ROOT / "tests/functional/examples/test_approval.py").read_text())
    for snippet in snippets:
        function = snippet[snippet.index("def test_") :]
        assert _squeezed(function) in tests, function


def test_the_versioning_guides_examples_are_tests_that_run() -> None:
    blocks = [b for b in _python_blocks("docs/guide.md") if "fraud-check" in b]
    assert len(blocks) == 2
    tests = (ROOT / "tests/functional/examples/test_versioning_guide.py").read_text()
    for block in blocks:
        assert block.rstrip(" ") in tests, block
