"""The status vocabulary of instances (runs) and seeds (searches).

``running``: training, or interrupted; ``finished``: trained to its last step;
``early_stopped``: stopped by the early-stop rule (its scores count); ``failed``: an error after
all retries (its error is recorded; it is never scored).
"""

from __future__ import annotations

__all__ = ["FINAL_STATUSES", "SCORED_STATUSES", "STATUSES"]

STATUSES = ("running", "finished", "early_stopped", "failed")
# Statuses that end an instance: a resumed run never trains it again.
FINAL_STATUSES = ("finished", "early_stopped", "failed")
# Statuses whose scores are used by statistics and ensembles.
SCORED_STATUSES = ("finished", "early_stopped")
