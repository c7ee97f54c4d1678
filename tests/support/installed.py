"""Run the installed ``acnet`` command as users meet it: a real process, default logging, real stderr.

CliRunner keeps exceptions in ``result.exception`` and turns logging off, so an
error promise can only be tested here. The command is the console script
installed beside this interpreter (the one ``pip install`` put on PATH).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def acnet_command() -> list[str]:
    """The installed ``acnet`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "acnet"
    if script.exists():
        return [str(script)]
    found = shutil.which("acnet")
    if found is None:
        raise AssertionError("the `acnet` command is not installed (pip install -e .)")
    return [found]


def run_acnet(*args: str | os.PathLike, env: dict[str, str] | None = None, cwd: str | os.PathLike | None = None,
              timeout: float = 600, input: str | None = None) -> subprocess.CompletedProcess:
    """``acnet ARGS`` in a fresh process; returns the completed process (text stdout/stderr)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*acnet_command(), *map(str, args)], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=timeout, input=input)


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """The whole of stderr is one ``acnet: error: ...`` line containing every fragment; exit code 2."""
    assert proc.returncode == 2, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and proc.stderr.endswith("\n"), f"stderr is not one line:\n{proc.stderr}"
    line = lines[0]
    assert line.startswith("acnet: error: "), line
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    return line
