"""``python -m benchmark doctor``: does the fast path work here, how fast, how many per GPU.

One command a user with a new machine (or cluster) runs first: the environment (torch, CUDA,
cuDNN, GPUs, bf16, Ray and its GPUs), then on each kind of device a table of checks, each PASS,
FAIL or SKIP with its figure:

- ``correctness``: the fast path trains like plain fp32 from the same seed
  (:mod:`~benchmark.doctor.correctness`);
- ``speed``: the fast path against eager bf16 and eager fp32, with and without ``torch.compile``
  (:mod:`~benchmark.doctor.speed`, timed by ``benchmark.training.perf``);
- ``memory``: one instance's peak GPU memory against the packing estimate
  (:mod:`~benchmark.doctor.memory`);
- ``packing``: 1, 2 and 4 instances per GPU through Ray (:mod:`~benchmark.doctor.packing`);
- ``inference``: ``segment`` of an ensemble in s/Gvoxel, and MONAI's sliding window
  (:mod:`~benchmark.doctor.inference`).

Without CUDA the CPU subset runs at the quick profile's size. The exit code is 1 when a
correctness check fails.
"""

from benchmark.doctor.report import Check, DoctorReport, Section
from benchmark.doctor.run import run_doctor
from benchmark.doctor.settings import DoctorSettings, preset

__all__ = ["Check", "DoctorReport", "DoctorSettings", "Section", "preset", "run_doctor"]
