"""The report's two renderings: Markdown as written, HTML by a CommonMark parser
(markdown-it-py) for the Markdown inside each block, self-contained."""

import base64
from pathlib import Path

from neuralode_repro.report.blocks import (
    Bullets,
    Figure,
    Heading,
    Para,
    Table,
    to_html,
    to_markdown,
)

PNG = b"\x89PNG\r\n\x1a\n not decoded: embedded as it is"


def _body(blocks, root: Path) -> str:
    html = to_html(blocks, root, "a <title>")
    assert html.startswith("<!DOCTYPE html>") and "<title>a &lt;title&gt;</title>" in html
    return html.split("<body>\n", 1)[1].rsplit("\n</body>", 1)[0]


def test_inline_markdown_becomes_html(tmp_path):
    text = "**bold**, *italic*, `code <x> & *not em*`, [a link](https://x.org/?a=1&b=2)"
    assert _body([Para(text)], tmp_path) == (
        '<p><strong>bold</strong>, <em>italic</em>, <code>code &lt;x&gt; &amp; *not em*</code>'
        ', <a href="https://x.org/?a=1&amp;b=2">a link</a></p>')


def test_raw_html_and_special_characters_are_text(tmp_path):
    """Raw HTML is off: a value such as ``<script>`` or ``a < b & c`` shows as written."""
    body = _body([Heading("x < y & z", 3), Bullets(("<script>alert(1)</script>", "σ ≥ 0"))],
                 tmp_path)
    assert body == ("<h3>x &lt; y &amp; z</h3>\n<ul><li>&lt;script&gt;alert(1)&lt;/script&gt;"
                    "</li><li>σ ≥ 0</li></ul>")


def test_tables_and_figures_keep_their_structure(tmp_path):
    (tmp_path / "f.png").write_bytes(PNG)
    blocks = [Table(("claim", "verdict"), (("Table 1 `x`", "**reproduced**"),)),
              Figure(Path("f.png"), "The paper's *value*."),
              Figure(Path("staged.gif"), "staged", data=b"GIF89a")]
    body = _body(blocks, tmp_path)
    assert body.startswith("<table><thead><tr><th>claim</th><th>verdict</th></tr></thead>"
                           "<tbody><tr><td>Table 1 <code>x</code></td><td><strong>reproduced"
                           "</strong></td></tr></tbody></table>\n")
    png, gif = base64.b64encode(PNG).decode(), base64.b64encode(b"GIF89a").decode()
    assert (f'<figure><img alt="The paper&#x27;s *value*." src="data:image/png;base64,{png}">'
            "<figcaption>The paper's <em>value</em>.</figcaption></figure>") in body
    assert f'src="data:image/gif;base64,{gif}"' in body  # the bytes given, not the file


def test_markdown_is_the_text_as_written():
    blocks = [Heading("T", 1), Para("a *b* `c`"), Bullets(("x", "y")),
              Table(("h",), (("1",),)), Figure(Path("f.png"), "cap")]
    assert to_markdown(blocks) == ("# T\n\na *b* `c`\n\n- x\n- y\n\n| h |\n|---|\n| 1 |\n\n"
                                   "![cap](f.png)\n\n*cap*\n")
