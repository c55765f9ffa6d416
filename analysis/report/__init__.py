"""A run's results as one self-contained, interactive HTML page, and the page builder it shares
with the search report.

>>> build_report("results/ablations/main1")             # doctest: +SKIP
PosixPath('results/ablations/main1/report.html')

The page embeds plotly.js once and works offline. It shows the run's metadata, a sequential run's
looks and decisions, Table 1, the performance distribution of every architecture (the paper's
Figure 4), the comparisons with the reference (matrix and forest plot), average ranks (when the
analysis has a Friedman test), the limits of these seeds, ensemble-size and expected best-of-k
curves, the seeds needed for 80 % power, training curves, IoU per class and a slice viewer of the
best ensembles. Sections whose inputs are missing are replaced by a one-line note.

Modules:
    build: :func:`build_report`, the sections in order.
    context: what a report is built from (instances, analysis, the run's optional tables).
    page: :class:`Page`, the one HTML page builder (templates/page.html, .css, .js).
    markup, text: HTML pieces; numbers, p-values and intervals as text.
    theme: palette, plotly template, architecture colors, metric labels.
    figures, stat_figures: plotly figures of scores, and of statistics.
    run_section, stats_sections, sequential_section, output_sections: the sections.
    slices, png: the slice viewer's images (Pillow PNGs as data URIs).
"""

from analysis.report.build import build_report
from analysis.report.page import Page
from analysis.report.png import png_bytes, png_data_uri
from analysis.report.slices import SliceStack, slice_stacks
from analysis.report.stat_figures import cd_diagram_figure
from analysis.report.stats_sections import DISTRIBUTION_METRICS

__all__ = [
    "DISTRIBUTION_METRICS",
    "Page",
    "SliceStack",
    "build_report",
    "cd_diagram_figure",
    "png_bytes",
    "png_data_uri",
    "slice_stacks",
]
