"""Python memory snapshots of a bot under test, for `python -m bench.memory_snapshots`.

Python imports `sitecustomize` at start-up from any directory on PYTHONPATH: with this
directory there and `CHORUS_MEMORY_SNAPSHOTS` naming another, the process traces its Python
allocations (tracemalloc, 6 frames deep) and writes a snapshot there every
`CHORUS_MEMORY_SNAPSHOT_SECONDS` (300 by default). The bot itself knows nothing of it:
`python -m bench.fault_run --memory-snapshots DIR` starts the bot so.
"""

import os
import threading
import time
import tracemalloc

FRAMES = 6


def _write_snapshots(directory: str, every: float) -> None:
    for number in range(1, 10_000):
        time.sleep(every)
        snapshot = tracemalloc.take_snapshot()
        # tracemalloc's own allocations, made while taking it, are not the process's.
        snapshot = snapshot.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        path = os.path.join(directory, f"snapshot-{os.getpid()}-{number:04d}.pickle")
        snapshot.dump(path + ".part")
        os.replace(path + ".part", path)  # never read half-written


if directory := os.environ.get("CHORUS_MEMORY_SNAPSHOTS"):
    tracemalloc.start(FRAMES)
    every = float(os.environ.get("CHORUS_MEMORY_SNAPSHOT_SECONDS", "300"))
    threading.Thread(
        target=_write_snapshots, args=(directory, every), name="memory-snapshots", daemon=True
    ).start()
