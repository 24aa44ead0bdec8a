"""The CJK font the report ships with, embedded in the Chinese page as well as in its charts.

A reader's machine without a Chinese font (a fresh Linux box, a headless browser, an archive
opened years later) would show the page's text as boxes; the page is meant to open offline and
self-contained. So the Chinese page carries the glyphs it uses of Noto Sans SC (SIL OFL 1.1: the
licence allows embedding, and the subset keeps the font's name table with its licence), as a
WOFF data URI of a few tens of kilobytes, after the reader's own fonts in the CSS: a machine that
has Chinese fonts uses them.
"""

from __future__ import annotations

import base64
import io
from functools import lru_cache

import pylopdf_fonts_zh_cn
from fontTools import subset
from fontTools.ttLib import TTFont

FAMILY = "Client Care CJK"
SOURCE = pylopdf_fonts_zh_cn.sans_path()


@lru_cache(maxsize=8)
def _woff(chars: frozenset[str]) -> bytes:
    options = subset.Options()
    options.flavor = "woff"  # zlib, which fontTools writes without another package
    options.name_IDs = ["*"]  # copyright, licence and its URL stay with the glyphs
    options.name_languages = ["*"]
    options.layout_features = ["*"]
    options.hinting = False
    font = TTFont(str(SOURCE), lazy=True)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(ord(c) for c in chars))
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def font_face(text: str) -> str:
    """A CSS `@font-face` rule with the glyphs of `text` beyond ASCII (empty if there are none)."""
    chars = frozenset(c for c in text if ord(c) > 0x7F)
    if not chars:
        return ""
    data = base64.b64encode(_woff(chars)).decode("ascii")
    return (
        f'@font-face{{font-family:"{FAMILY}";font-display:block;'
        f'src:url(data:font/woff;base64,{data}) format("woff")}}'
    )
