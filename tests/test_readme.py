"""The README's examples run as written, and the files it shows exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backprop_xp import BackendUnavailableError

README = Path(__file__).resolve().parent.parent / "README.md"
#: The Python examples, but those marked "<!-- not run by the tests: WHY -->" (a cluster, hours of work).
BLOCKS = [
    code for marker, code in re.findall(r"(<!-- not run by the tests[^>]*-->\n)?```python\n(.*?)```", README.read_text(), flags=re.S)
    if not marker
]
OPTIONAL = ("torch", "jax", "cupy", "array_api_strict", "sklearn")


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_python_examples_run_as_written(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        exec(compile(block, "README.md", "exec"), {})  # each block stands on its own
    except BackendUnavailableError as exc:
        pytest.skip(f"this example needs another backend: {exc}")
    except ModuleNotFoundError as exc:
        if exc.name not in OPTIONAL:
            raise
        pytest.skip(f"this example needs {exc.name}, which this session does not install")


def test_there_are_examples_and_the_saving_one_writes_its_files(tmp_path, monkeypatch):
    assert len(BLOCKS) >= 3
    saving = next(b for b in BLOCKS if "moons.npz" in b)
    monkeypatch.chdir(tmp_path)
    exec(compile(saving, "README.md", "exec"), {})
    assert (tmp_path / "moons.npz").is_file() and (tmp_path / "moons.png").is_file()


def test_linked_files_exist():
    links = re.findall(r"\]\(((?:docs|backends|bench)/[^)#]+)\)", README.read_text())
    assert any(link.endswith(".png") for link in links)
    for link in links:
        assert (README.parent / link).is_file(), link
