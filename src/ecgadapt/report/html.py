"""Self-contained HTML reports: Markdown rendered to HTML, PNG figures inlined as data URIs (one file to share)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import markdown
from jinja2 import Template

_PAGE = Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; } code { background: #f3f3f3; padding: 0 3px; }
.good { color: #1a7f37; } .bad { color: #b42318; }
</style></head><body>
{{ body }}
</body></html>
""")


def _inline_images(html: str, base: Path) -> str:
    def repl(m: re.Match[str]) -> str:
        path = base / m.group(1)
        if not path.is_file():
            return m.group(0)
        data = base64.b64encode(path.read_bytes()).decode()
        return f'src="data:image/png;base64,{data}"'

    return re.sub(r'src="([^"]+\.png)"', repl, html)


def markdown_page(title: str, text: str, base: str | Path) -> str:
    """Render Markdown (tables included) to one HTML page; images relative to ``base`` are embedded."""
    body = markdown.markdown(text, extensions=["tables", "fenced_code"])
    return _PAGE.render(title=title, body=_inline_images(body, Path(base)))


def html_page(title: str, body_html: str, base: str | Path) -> str:
    return _PAGE.render(title=title, body=_inline_images(body_html, Path(base)))
