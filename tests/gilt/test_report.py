"""Report rendering and atomic output."""

import pytest

from common.files import MARKER
from gilt.report import Section, Table, render_html, render_markdown, write_report


def _sections():
    return [Section("Summary", text=["a <b> & c"],
                    tables=[Table(["layer", "util"], [["conv1", 0.5], ["fc", 1e-6]], "t")],
                    figures=[("f.png", "a figure")])]


def test_markdown_and_html_carry_the_same_content():
    md = render_markdown("R", _sections())
    assert "| layer | util |" in md and "| conv1 | 0.5 |" in md and "1.000e-06" in md
    assert "![a figure](figures/f.png)" in md
    page = render_html("R", _sections())
    assert "a &lt;b&gt; &amp; c" in page  # escaped
    assert "<img src='figures/f.png'" in page and "<td>conv1</td>" in page


def test_write_report_replaces_whole_folder_and_keeps_old_on_failure(tmp_path):
    out = tmp_path / "rep"

    def draw(path):
        path.write_bytes(b"\x89PNG fake")

    write_report(out, "R", _sections(), {"f.png": draw})
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "figures", "index.html",
                                                     "report.md"]
    old = (out / "report.md").read_text()

    def broken(path):
        raise RuntimeError("figure failed")

    with pytest.raises(RuntimeError, match="figure failed"):
        write_report(out, "Other", _sections(), {"f.png": broken})
    assert (out / "report.md").read_text() == old  # the previous report survives
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]  # no staging left behind
