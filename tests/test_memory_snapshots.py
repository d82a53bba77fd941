"""A soak's Python memory, traced: a process started with the fault run's tracing settings
writes snapshots as it goes, and the report names what grew and where it was made."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.fault_run import TRACED_BOT, memory_tracing
from bench.memory_snapshots import main, report, snapshot_files

GROWER = """\
import time
kept = []
def grow():
    kept.append(bytearray(100_000))
for _ in range(20):
    grow()
    time.sleep(0.1)
time.sleep(0.6)
"""


def run_python(code: str, env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": os.environ.get("PATH", ""), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_what_grows_in_a_traced_process_is_reported_with_where_it_was_made(tmp_path):
    (tmp_path / "grower.py").write_text(GROWER)
    snapshots = tmp_path / "snapshots"
    env = memory_tracing(snapshots) | {"CHORUS_MEMORY_SNAPSHOT_SECONDS": "0.3"}
    env["PYTHONPATH"] += os.pathsep + str(tmp_path)

    run_python("import grower", env, tmp_path)

    files = snapshot_files(snapshots)
    assert len(files) >= 3, files
    lines = report(files)
    most = lines.index(next(line for line in lines if line.startswith("grown from")))
    grown_kib = float(lines[most + 1].split()[0])
    assert 300 <= grown_kib <= 2_000, lines  # 20 blocks of 100,000 bytes, less the first few
    assert str(tmp_path / "grower.py") + ":4" in lines[most + 2], lines


def test_a_process_with_the_hook_on_its_path_but_no_directory_is_not_traced(tmp_path):
    env = {"PYTHONPATH": str(TRACED_BOT)}
    assert run_python("import tracemalloc; print(tracemalloc.is_tracing())", env, tmp_path) == (
        "False\n"
    )


def test_a_directory_without_snapshots_says_so(tmp_path, capsys):
    assert main([str(tmp_path)]) == 1
    assert capsys.readouterr().out == f"no snapshots in {tmp_path}\n"
