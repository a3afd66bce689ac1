"""A tiny document model rendered to Markdown and to self-contained HTML.

Both renderings come from the same blocks, so report.md and report.html never
disagree; the Markdown inside a block's text (``**bold**``, ``*italic*``, ``code``
spans, links) becomes HTML by markdown-it-py, a CommonMark parser, with raw HTML off
(text such as ``<`` is escaped, never markup). The HTML embeds every figure as base64
and loads no remote script, style or font: it opens offline.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Figure:
    path: Path  # relative to the report's folder
    caption: str
    # the PNG itself, for a figure the report's own stage writes: staged, its file is
    # not in place before the stage succeeds, when the HTML is already written
    data: bytes | None = None


Block = Heading | Para | Bullets | Table | Figure


def to_markdown(blocks: Sequence[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"{'#' * b.level} {b.text}")
        elif isinstance(b, Para):
            out.append(b.text)
        elif isinstance(b, Bullets):
            out.append("\n".join(f"- {item}" for item in b.items))
        elif isinstance(b, Table):
            lines = ["| " + " | ".join(b.header) + " |", "|" + "---|" * len(b.header)]
            lines += ["| " + " | ".join(row) + " |" for row in b.rows]
            out.append("\n".join(lines))
        else:
            out.append(f"![{b.caption}]({b.path.as_posix()})\n\n*{b.caption}*")
    return "\n\n".join(out) + "\n"


_CSS = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
line-height:1.45;color:#222}table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}th{background:#f3f3f3}
img{max-width:100%}figure{margin:1rem 0}figcaption{font-style:italic;color:#555}
code{background:#f3f3f3;padding:0 .2rem}"""


def to_html(blocks: Sequence[Block], root: Path, title: str) -> str:
    """Self-contained HTML; figure paths are resolved against ``root``."""
    from markdown_it import MarkdownIt  # here: the figure stages import this module too

    _inline = MarkdownIt("commonmark", {"html": False}).renderInline
    body: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            body.append(f"<h{b.level}>{_inline(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            body.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Bullets):
            body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{_inline(h)}</th>" for h in b.header)
            rows = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>"
                           for r in b.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        else:
            data = base64.b64encode(b.data or (root / b.path).read_bytes()).decode()
            mime = "image/gif" if b.path.suffix == ".gif" else "image/png"
            body.append(f'<figure><img alt="{html.escape(b.caption)}" '
                        f'src="data:{mime};base64,{data}"><figcaption>'
                        f"{_inline(b.caption)}</figcaption></figure>")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")
