"""The one HTML page builder of the run report and the search report.

A :class:`Page` collects sections and plotly figures and renders one self-contained document from
the package's templates (``templates/page.html``, ``page.css``, ``page.js``): plotly.js is
embedded once, each figure is a JSON spec drawn by the page script, and the page follows the
system's light or dark theme. Nothing is fetched from the network.

>>> page = Page("densecell-bench search q")                   # doctest: +SKIP
>>> page.section("history", "Optimization history", page.figure(fig, "caption"))  # doctest: +SKIP
>>> page.write("search-report.html", subtitle="...")          # doctest: +SKIP
"""

from __future__ import annotations

import functools
import html
import re
import string
from importlib import resources
from pathlib import Path
from typing import Any

from analysis.files import atomic_write_text
from analysis.report.markup import script_safe

__all__ = ["DEFAULT_FOOTER", "Page", "anchor", "template"]

DEFAULT_FOOTER = "densecell-bench; every figure is interactive (hover, zoom, click the legend)."


@functools.cache
def template(name: str) -> str:
    """The text of ``templates/<name>`` (package data)."""
    return (resources.files(__package__) / "templates" / name).read_text(encoding="utf-8")


def anchor(title: str) -> str:
    """A section id from a title: ``Optimization history: mean`` -> ``optimization-history-mean``."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "section"


class Page:
    """Sections and figures of one HTML document, rendered by :meth:`render` or :meth:`write`.

    Args:
        title: shown as the document's title and heading (plain text).
        footer: the footer line (plain text).
    """

    def __init__(self, title: str, footer: str = DEFAULT_FOOTER) -> None:
        self.title = title
        self.footer = footer
        self.sections: list[tuple[str, str, str]] = []
        self.figures: list[tuple[str, str]] = []

    def section(self, anchor: str, title: str, body: str) -> None:
        """Appends a section (``body`` is HTML); ``anchor`` is its id and link target."""
        self.sections.append((anchor, title, body))

    def figure(self, fig: Any, caption: str = "") -> str:
        """Registers a plotly figure; returns the HTML of its container (with ``caption``, HTML).

        The container has the figure's height (``layout.height``, default 450): plotly's
        responsive resizing (window resize, theme relayout) sizes a figure from its container and
        forgets ``layout.height``.
        """
        import plotly.io as pio

        div = f"fig-{len(self.figures)}"
        spec = pio.to_json(fig, validate=False, pretty=False)
        self.figures.append((div, script_safe(spec)))
        cap = f'<p class="caption">{caption}</p>' if caption else ""
        height = int(fig.layout.height or 450)
        return (
            f'<div class="figure"><div id="{div}" class="plot" style="height:{height}px"></div>'
            f"{cap}</div>"
        )

    def render(self, subtitle: str = "") -> str:
        """The whole document; ``subtitle`` is HTML."""
        import plotly.offline

        nav = "".join(f'<a href="#{a}">{html.escape(t)}</a>' for a, t, _ in self.sections)
        body = "\n".join(
            f'<section id="{a}"><h2>{html.escape(t)}</h2>\n{b}\n</section>'
            for a, t, b in self.sections
        )
        specs = "\n".join(
            f'<script type="application/json" class="plotly-figure" data-target="{d}">{s}</script>'
            for d, s in self.figures
        )
        return string.Template(template("page.html")).substitute(
            title=html.escape(self.title),
            subtitle=subtitle,
            css=template("page.css"),
            plotly=plotly.offline.get_plotlyjs(),
            nav=nav,
            body=body,
            footer=html.escape(self.footer),
            specs=specs,
            script=template("page.js"),
        )

    def write(self, path: str | Path, subtitle: str = "") -> Path:
        """Writes :meth:`render` atomically, readable by all (a report is meant to be shared)."""
        out = atomic_write_text(path, self.render(subtitle))
        out.chmod(0o644)  # the temporary file was private (mkstemp)
        return out
