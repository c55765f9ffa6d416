"""Seed sweeps on Ray Tune: suites (``suites``), the driver (``driver``: ``run_sweep``, fixed
seeds or sequential rounds), the trainable (``trial``), the Tune callbacks (``callbacks``),
experiment trackers (``trackers``), GPU packing (``resources``) and a quiet Ray (``ray_session``)."""
