"""The README's and the docs pages' examples run as written, and the files they link to exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backprop_xp import BackendUnavailableError

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
#: The Python examples of each page, but those marked "<!-- not run by the tests: WHY -->" (a cluster, hours of work).
BLOCKS = [
    (page, code)
    for page in PAGES
    for marker, code in re.findall(
        r"(<!-- not run by the tests[^>]*-->\n)?```python\n(.*?)```", page.read_text(), flags=re.DOTALL
    )
    if not marker
]
OPTIONAL = ("torch", "jax", "cupy", "array_api_strict", "sklearn")


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize(
    "page, block", BLOCKS, ids=[f"{_name(p)}-{i}" for i, (p, _) in enumerate(BLOCKS)]
)
def test_python_examples_run_as_written(page, block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        exec(compile(block, _name(page), "exec"), {})  # each block stands on its own
    except BackendUnavailableError as exc:
        pytest.skip(f"this example needs another backend: {exc}")
    except ModuleNotFoundError as exc:
        if exc.name not in OPTIONAL:
            raise
        pytest.skip(f"this example needs {exc.name}, which this session does not install")


def test_there_are_examples_and_the_saving_one_writes_its_files(tmp_path, monkeypatch):
    assert any(page == README for page, _ in BLOCKS), "the README shows no Python example"
    assert len(BLOCKS) >= 3
    saving = next(code for _, code in BLOCKS if "moons.npz" in code)
    monkeypatch.chdir(tmp_path)
    exec(compile(saving, "saving", "exec"), {})
    assert (tmp_path / "moons.npz").is_file() and (tmp_path / "moons.png").is_file()


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_linked_files_exist(page):
    # Relative links only (not http:, not #anchors), from the page's own folder.
    links = re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", page.read_text())
    for link in links:
        assert (page.parent / link).exists(), f"{_name(page)} links to {link}, which does not exist"


def test_the_readme_shows_the_pictures_and_links_every_docs_page():
    text = README.read_text()
    assert re.search(r"\]\(docs/lab/[^)]+\.png\)", text)
    for page in PAGES[1:]:
        assert f"](docs/{page.name})" in text, f"the README does not link {page.name}"
