"""What ``doctor`` finds: checks with a status and a figure, grouped by device."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["STATUSES", "Check", "DoctorReport", "Section"]

STATUSES = ("PASS", "FAIL", "SKIP")


@dataclass(frozen=True)
class Check:
    """One line of the table.

    Attributes:
        group: ``correctness``, ``speed``, ``memory``, ``packing`` or ``inference``.
        name: what is checked (``loss curves``, ``fast``, ``eager-fp32+compile``).
        status: ``PASS``, ``FAIL`` or ``SKIP``.
        figure: the measured figure with its tolerance or reference, or why it was skipped.
        values: the numbers behind the figure (for ``--json``).
    """

    group: str
    name: str
    status: str
    figure: str
    values: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    def to_dict(self) -> dict[str, Any]:
        return dict(
            group=self.group,
            name=self.name,
            status=self.status,
            figure=self.figure,
            values=self.values,
        )


@dataclass
class Section:
    """The checks run on one device, with the setting they ran at."""

    device: str
    setting: str
    checks: list[Check] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(
            device=self.device, setting=self.setting, checks=[c.to_dict() for c in self.checks]
        )


@dataclass
class DoctorReport:
    """Environment, one section per device, notes, and the wall time."""

    environment: dict[str, Any]
    sections: list[Section] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def checks(self) -> list[Check]:
        return [c for s in self.sections for c in s.checks]

    @property
    def correctness_failed(self) -> bool:
        return any(c.group == "correctness" and c.status == "FAIL" for c in self.checks)

    @property
    def exit_code(self) -> int:
        """1 when a correctness check failed (the fast path trains wrongly here), else 0."""
        return 1 if self.correctness_failed else 0

    def to_dict(self) -> dict[str, Any]:
        return dict(
            environment=self.environment,
            sections=[s.to_dict() for s in self.sections],
            notes=self.notes,
            wall_s=self.wall_s,
            exit_code=self.exit_code,
        )
