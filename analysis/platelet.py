"""Label colors of the platelet-em data set (Guay et al. 2020), defined once for the whole project.

The report's slice viewer draws labels in these colors; ``benchmark.data`` reads and writes label
images with them (``benchmark.data.platelet`` re-exports this table; analysis never imports the
training code, so the definition lives here).
"""

from __future__ import annotations

__all__ = ["PLATELET_COLORS"]

# RGB colors of the platelet-em semantic labels, one per class id (PAPER_SPEC, "What the real data
# look like").
PLATELET_COLORS: dict[int, tuple[int, int, int]] = {
    0: (0, 0, 0),
    1: (1, 1, 224),
    2: (1, 171, 254),
    3: (1, 254, 1),
    4: (255, 224, 0),
    5: (250, 94, 0),
    6: (245, 0, 203),
}
