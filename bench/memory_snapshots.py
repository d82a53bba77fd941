"""What Python memory a bot holds, snapshot by snapshot, and what grew from the first snapshot
to the last: the allocations that grew most, each with where it was made.

    python -m bench.fault_run --minutes 45 --fault-rate 0.05 --memory-snapshots /tmp/snaps
    python -m bench.memory_snapshots /tmp/snaps

Resident memory (`--memory-every`) counts everything; this counts only what Python allocated
(not the allocator's free lists, nor SQLite's page cache): growth seen there but not here is
outside Python's objects. The snapshots come from `bench/traced_bot/sitecustomize.py`.
"""

from __future__ import annotations

import argparse
import re
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

GROWERS_SHOWN = 10
FRAMES_SHOWN = 4
_NUMBERED = re.compile(r"snapshot-(\d+)-(\d+)\.pickle$")


def snapshot_files(directory: Path) -> list[Path]:
    """The snapshots of one process (the one that wrote the most), in the order taken."""
    by_process: dict[str, list[tuple[int, Path]]] = {}
    for path in directory.iterdir():
        if numbered := _NUMBERED.search(path.name):
            by_process.setdefault(numbered[1], []).append((int(numbered[2]), path))
    if not by_process:
        return []
    taken = max(by_process.values(), key=len)
    return [path for _, path in sorted(taken)]


def report(files: Sequence[Path]) -> list[str]:
    snapshots = [tracemalloc.Snapshot.load(str(path)) for path in files]
    started = files[0].stat().st_mtime
    lines = ["Python memory traced, as the run went:"]
    for path, snapshot in zip(files, snapshots, strict=True):
        traced = sum(trace.size for trace in snapshot.traces)
        minutes = (path.stat().st_mtime - started) / 60
        lines.append(f"  {minutes:6.1f} min  {traced / 2**20:8.2f} MiB  ({path.name})")
    if len(snapshots) < 2:
        return [*lines, "one snapshot: nothing to compare it with"]
    changes = snapshots[-1].compare_to(snapshots[0], "traceback")
    grown = sum(change.size_diff for change in changes)
    lines.append(f"grown from the first snapshot to the last: {grown / 1024:+.0f} KiB; most:")
    for change in changes[:GROWERS_SHOWN]:
        lines.append(
            f"  {change.size_diff / 1024:+9.1f} KiB  {change.count_diff:+7d} blocks  "
            f"now {change.size / 1024:.0f} KiB"
        )
        for frame in reversed(change.traceback[-FRAMES_SHOWN:]):  # where made, then its callers
            lines.append(f"      {frame.filename}:{frame.lineno}")
    return lines


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.memory_snapshots", description=__doc__)
    parser.add_argument("directory", type=Path, help="where the snapshots were written")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    files = snapshot_files(arguments.directory)
    if not files:
        print(f"no snapshots in {arguments.directory}")
        return 1
    print("\n".join(report(files)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
