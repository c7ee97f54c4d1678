"""The CLI's contract: readable output, and bad input as one line with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from acnet.cli import main
from support.installed import assert_one_line_error, run_acnet


def test_model_summary_prints_parts_and_totals(tmp_path):
    out = tmp_path / "s.json"
    result = CliRunner().invoke(main, ["model", "summary", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "116,628,168" in result.output
    assert "115.597" in result.output
    for part in ("RGB encoder", "depth encoder", "fusion encoder", "ACMs", "decoder"):
        assert part in result.output
    data = json.loads(out.read_text())
    assert data["total_params"] == 116_628_168


def test_bad_input_size_is_one_line_exit_2_without_traceback():
    proc = run_acnet("model", "summary", "--height", "100")
    assert assert_one_line_error(proc) == "acnet: error: input height must be a positive multiple of 32, got 100"


def test_help_lists_commands_without_importing_torch():
    code = (
        "import sys; from click.testing import CliRunner; from acnet.cli import main;"
        "r = CliRunner().invoke(main, ['--help']); print(r.output);"
        "assert 'torch' not in sys.modules, 'help imported torch'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for name in ("quickstart", "train", "export", "infer", "bench", "parity"):
        assert name in proc.stdout
