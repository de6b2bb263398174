"""The README's examples run as written, and the files it shows exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backprop_xp import BackendUnavailableError

README = Path(__file__).resolve().parent.parent / "README.md"


def test_python_examples_run_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 3
    for block in blocks:
        try:
            exec(compile(block, "README.md", "exec"), {})  # each block stands on its own
        except BackendUnavailableError as exc:  # an example on a backend this session does not have
            pytest.skip(f"README example needs another backend: {exc}")
    assert (tmp_path / "moons.npz").is_file() and (tmp_path / "moons.png").is_file()


def test_linked_files_exist():
    links = re.findall(r"\]\(((?:docs|backends|bench)/[^)#]+)\)", README.read_text())
    assert any(link.endswith(".png") for link in links)
    for link in links:
        assert (README.parent / link).is_file(), link
