"""Every figure of docs/ is drawn by gilt itself and each doc page links the one it shows."""

from pathlib import Path

import pytest

from gilt.docs_figures import FIGURES

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_draws_a_png(name, tmp_path):
    path = FIGURES[name](tmp_path / name)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_figure_is_committed_and_linked_from_a_page():
    linked = "".join(p.read_text() for p in DOCS.glob("*.md"))
    for name in FIGURES:
        assert (DOCS / "figures" / name).is_file(), name
        assert f"figures/{name}" in linked, name
