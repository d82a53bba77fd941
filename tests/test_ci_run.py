"""`.ci/run`, CI's entry point, run with stand-ins for the tools it calls (each logs its call)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCAL_POSTGRES_TOOLS = ("pg_isready", "psql", "createdb", "pg_ctlcluster", "apt-get", "su")
# The README's test command, as stand-ins: python3 makes a .venv whose pip and python log.
FAKE_PYTHON = """#!/bin/sh
echo "python3 $*" >> "$CALLS"
mkdir -p .venv/bin
for tool in pip python; do
  printf '#!/bin/sh\\necho "%s $* PG=$CHORUS_TEST_POSTGRES_URL" >> "$CALLS"\\n' $tool \\
    > .venv/bin/$tool
  chmod +x .venv/bin/$tool
done
"""


def stand_in(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text(script)
    path.chmod(0o755)


def test_a_postgres_url_given_is_used_as_it_is_with_no_local_server_set_up(tmp_path):
    # A CI service container, say: nothing listens on 127.0.0.1:5432 and nothing need.
    repo, tools, calls = tmp_path / "repo", tmp_path / "bin", tmp_path / "calls"
    (repo / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "run", repo / ".ci" / "run")
    tools.mkdir()
    for tool in (*LOCAL_POSTGRES_TOOLS, "pgbouncer"):
        # As if nothing answered: pg_isready fails, and so would anything asking the server.
        stand_in(tools, tool, f'#!/bin/sh\necho "{tool} $*" >> "$CALLS"\nexit 2\n')
    stand_in(tools, "python3", FAKE_PYTHON)
    url = "postgresql://ci@postgres.service:5432/chorus_test"

    result = subprocess.run(
        ["bash", str(repo / ".ci" / "run")],
        env={
            "PATH": f"{tools}:/usr/bin:/bin",
            "CALLS": str(calls),
            "CHORUS_TEST_POSTGRES_URL": url,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert calls.read_text().splitlines() == [
        "python3 -m venv .venv",
        f"pip install -q -e .[test] PG={url}",
        f"python -m pytest PG={url}",
    ]
