"""Reports: Markdown and HTML pages with matplotlib figures, for any network and hardware.

A report is a list of :class:`Section` (text, tables, figures) rendered twice, to
``report.md`` and ``index.html`` (self-contained apart from the PNGs in ``figures/``). The folder
is written in a staging directory and swapped in whole, so an existing report is never
half-overwritten. ``gilt report`` runs :func:`gilt.pipeline.run_pipeline` for the chosen network
and targets and writes its report; ``gilt demo`` is the same with built-in defaults.
"""

from __future__ import annotations

import html
import io
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from gilt.files import replace_dir_atomic, write_bytes_atomic, write_text_atomic


@dataclass
class Table:
    columns: list[str]
    rows: list[list]
    caption: str = ""


@dataclass
class Section:
    title: str
    text: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (file name, caption)


def _fmt(value) -> str:
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1e5 or abs(value) < 1e-3:
            return f"{value:.3e}"
        return f"{value:.4g}"
    return str(value)


def render_markdown(title: str, sections: list[Section]) -> str:
    out = [f"# {title}", ""]
    for sec in sections:
        out += [f"## {sec.title}", ""]
        for para in sec.text:
            out += [para, ""]
        for table in sec.tables:
            if table.caption:
                out += [f"*{table.caption}*", ""]
            out.append("| " + " | ".join(table.columns) + " |")
            out.append("|" + "---|" * len(table.columns))
            for row in table.rows:
                out.append("| " + " | ".join(_fmt(v) for v in row) + " |")
            out.append("")
        for name, caption in sec.figures:
            out += [f"![{caption}](figures/{name})", "", f"*{caption}*", ""]
    return "\n".join(out)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}table{border-collapse:collapse;margin:1em 0;font-size:0.9em}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f2f2f2}
td:first-child,th:first-child{text-align:left}figure{margin:1.5em 0}img{max-width:100%}
figcaption{color:#555;font-size:0.9em}h2{border-bottom:1px solid #ddd;padding-bottom:4px}
nav a{margin-right:1em}"""


def render_html(title: str, sections: list[Section]) -> str:
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>",
             f"<style>{_CSS}</style></head><body><h1>{esc(title)}</h1><nav>"]
    parts += [f"<a href='#s{i}'>{esc(s.title)}</a>" for i, s in enumerate(sections)]
    parts.append("</nav>")
    for i, sec in enumerate(sections):
        parts.append(f"<h2 id='s{i}'>{esc(sec.title)}</h2>")
        for para in sec.text:
            if para.startswith("```"):
                parts.append(f"<pre>{esc(para.strip('`').strip())}</pre>")
            else:
                parts.append(f"<p>{esc(para)}</p>")
        for table in sec.tables:
            parts.append("<table>")
            if table.caption:
                parts.append(f"<caption>{esc(table.caption)}</caption>")
            parts.append("<tr>" + "".join(f"<th>{esc(c)}</th>" for c in table.columns) + "</tr>")
            for row in table.rows:
                parts.append("<tr>" + "".join(f"<td>{esc(_fmt(v))}</td>" for v in row) + "</tr>")
            parts.append("</table>")
        for name, caption in sec.figures:
            parts.append(f"<figure><img src='figures/{esc(name)}' alt='{esc(caption)}'>"
                         f"<figcaption>{esc(caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def save_figure(fig, path: str | os.PathLike) -> Path:
    """PNG at 110 dpi, written atomically; closes the figure."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return write_bytes_atomic(path, buf.getvalue())


def write_report(out_dir: str | os.PathLike, title: str, sections: list[Section],
                 figures: dict[str, object] | None = None) -> Path:
    """Write ``report.md``, ``index.html`` and ``figures/*.png`` into ``out_dir`` atomically.

    ``figures`` maps file names to callables ``f(path)`` that draw and save one figure."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.staging-"))
    try:
        (staging / "figures").mkdir()
        for name, draw in (figures or {}).items():
            draw(staging / "figures" / name)
        write_text_atomic(staging / "report.md", render_markdown(title, sections))
        write_text_atomic(staging / "index.html", render_html(title, sections))
        return replace_dir_atomic(staging, out_dir)
    except BaseException:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        raise
