"""`vasmart generate` refuses bad arguments with a one-line reason and a non-zero exit status."""

import subprocess
import sys
from pathlib import Path

VASMART = Path(sys.executable).with_name("vasmart")


def run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(VASMART), *args], capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False)


def test_bad_end_date_is_refused_with_its_value(tmp_path):
    result = run("generate", "--out", str(tmp_path / "o"), "--end-date", "2026-11-20", tmp_path=tmp_path)
    assert result.returncode != 0
    assert "2026-11-20" in result.stderr
    assert not (tmp_path / "o" / "landing").exists()


def test_zero_users_is_refused(tmp_path):
    result = run("generate", "--out", str(tmp_path / "o"), "--users", "0", tmp_path=tmp_path)
    assert result.returncode != 0
    assert "users" in result.stderr


def test_landing_summary_names_a_missing_directory(tmp_path):
    result = run("landing-summary", "--landing", str(tmp_path / "nowhere"), tmp_path=tmp_path)
    assert result.returncode == 1
    assert "nowhere" in result.stderr
