"""The benchmark's figures as one table: median and 95th percentile of repeated measurements,
the target, and whether it is met; and the line that says which machine measured them."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

HEADER = ("figure", "median", "p95", "target", "met?")


def median(values: Sequence[float]) -> float:
    """The middle value (the mean of the two middle ones for an even count)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def p95(values: Sequence[float]) -> float:
    """The 95th percentile by the nearest-rank method: a value that was measured."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


@dataclass(frozen=True)
class Row:
    """One figure: what was measured, in which unit, and the target it is held to (if any).

    `meets` judges the median and p95; None means the figure has no target of its own."""

    figure: str
    values: tuple[float, ...]
    unit: str
    target: str = "—"
    meets: Callable[[float, float], bool] | None = None
    digits: int = 1

    @property
    def median(self) -> float:
        return median(self.values)

    @property
    def p95(self) -> float:
        return p95(self.values)

    @property
    def met(self) -> bool | None:
        return None if self.meets is None else self.meets(self.median, self.p95)

    def cells(self) -> tuple[str, str, str, str, str]:
        verdict = {None: "", True: "yes", False: "NO"}[self.met]
        return (
            self.figure,
            f"{self.median:.{self.digits}f} {self.unit}".rstrip(),
            f"{self.p95:.{self.digits}f} {self.unit}".rstrip(),
            self.target,
            verdict,
        )


@dataclass(frozen=True)
class Note:
    """A line in the table that measured nothing (a skipped column, a section title)."""

    text: str


Line = Row | Note


def format_table(lines: Sequence[Line]) -> str:
    """Aligned plain-text columns: figure, median, p95, target, met?"""
    rows = [line.cells() for line in lines if isinstance(line, Row)]
    widths = [max(len(cells[i]) for cells in [HEADER, *rows]) for i in range(len(HEADER))]

    def aligned(cells: Sequence[str]) -> str:
        # Figures and targets read left to right; numbers line up on the right.
        parts = [
            cell.rjust(width) if index in (1, 2) else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    out = [aligned(HEADER), aligned(["-" * width for width in widths])]
    for line in lines:
        out.append(aligned(line.cells()) if isinstance(line, Row) else line.text)
    return "\n".join(out)


def machine_line() -> str:
    """Cores, CPU model, memory, OS and Python: what the figures depend on."""
    return (
        f"machine: {os.cpu_count()} cores ({cpu_model()}), {memory_gib():.0f} GiB RAM, "
        f"{platform.system()} {platform.release()} {platform.machine()}, "
        f"Python {platform.python_version()}"
    )


def cpu_model() -> str:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def memory_gib() -> float:
    try:
        meminfo = Path("/proc/meminfo").read_text()
    except OSError:
        return 0.0
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024**2
    return 0.0
