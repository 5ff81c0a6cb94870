import subprocess
import sys

from stsg_bench.case import open_case
from stsg_bench.cli import main


def test_twin_command(tmp_path, capsys):
    assert main(["twin", "--preset", "tiny", "--seed", "1", "--out", str(tmp_path / "w")]) == 0
    ds = open_case(tmp_path / "w" / "case.nc")
    assert "truth" in ds
    assert any((tmp_path / "w" / "ismn").rglob("*.stm"))


def test_unknown_preset_is_one_line_error(tmp_path, capsys):
    assert main(["twin", "--preset", "huge", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown twin preset 'huge'" in err and "tiny" in err and "\n" not in err


def test_help_runs_for_every_command():
    out = subprocess.run([sys.executable, "-m", "stsg_bench.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "demo" in out.stdout
    for cmd in (
        "twin",
        "case",
        "fuse",
        "train",
        "score",
        "report",
        "check",
        "demo",
        "run",
        "methods",
        "export",
        "card",
    ):
        r = subprocess.run([sys.executable, "-m", "stsg_bench.cli", cmd, "--help"], capture_output=True, text=True)
        assert r.returncode == 0, cmd
        assert "usage" in r.stdout
