"""The installed command itself: version, help, and a bad checkpoint as one line."""

import acnet
from support.installed import assert_one_line_error, run_acnet


def test_version_and_help():
    proc = run_acnet("--version")
    assert proc.returncode == 0 and acnet.__version__ in proc.stdout and proc.stderr == ""
    proc = run_acnet("--help")
    assert proc.returncode == 0 and "export" in proc.stdout and "quickstart" in proc.stdout


def test_foreign_checkpoint_is_one_line(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    proc = run_acnet("export", "onnx", bad, "-o", tmp_path / "m.onnx")
    assert_one_line_error(proc, str(bad))
    assert not (tmp_path / "m.onnx").exists()
