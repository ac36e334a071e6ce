"""Code in the docs is code that runs: snippets are kept verbatim in test files."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _python_blocks(doc: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / doc).read_text(), re.S)


def test_the_testing_guides_complete_example_is_a_test_that_runs() -> None:
    (example,) = [b for b in _python_blocks("docs/testing.md") if "def test_approved" in b]
    tests = (ROOT / "tests/functional/examples/test_testing_guide.py").read_text()
    assert example in tests


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
