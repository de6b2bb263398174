"""docs/estimators.md's examples run as written (in the numpy session: they test the estimators, not a backend)."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import pytest
from conftest import TEST_ENV

PAGE = Path(__file__).resolve().parent.parent / "docs" / "estimators.md"
#: The Python examples, but those marked "<!-- not run by the tests: WHY -->" (a GPU).
BLOCKS = [
    code for marker, code in re.findall(r"(<!-- not run by the tests[^>]*-->\n)?```python\n(.*?)```", PAGE.read_text(),
                                        flags=re.DOTALL)
    if not marker
]


@pytest.mark.skipif(os.environ.get(TEST_ENV, "numpy").strip() != "numpy", reason="runs in the numpy session only")
@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_the_examples_run_as_written(block, tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the short runs' ConvergenceWarning, as the page says
        exec(compile(block, str(PAGE), "exec"), {})  # noqa: S102 - the page's own examples


def test_the_page_has_its_examples_and_a_gpu_one_that_is_not_run():
    assert len(BLOCKS) == 2
    assert 'backend="torch:cuda"' in PAGE.read_text() and not any("torch:cuda" in b for b in BLOCKS)
