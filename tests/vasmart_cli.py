"""Running the real `vasmart` command from tests, as a user would, with a home and a pseudonym key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def vasmart_command() -> list[str]:
    """The installed console script, or the CLI module through this interpreter."""
    exe = Path(sys.executable).parent / "vasmart"
    return [str(exe)] if exe.exists() else [sys.executable, "-c", "from vasmart.cli import app; app()"]


def run_vasmart(home: Path, *args: str, key: str | None = None, stdin: str | None = None,
                timeout: int = 900) -> subprocess.CompletedProcess:
    """Run `vasmart ARGS` with VASMART_HOME=home (and the pseudonym key, if given); never raises on failure."""
    env = {**os.environ, "VASMART_HOME": str(home), "COLUMNS": "400"}
    if key is not None:
        env["VASMART_PSEUDONYM_KEY"] = key
    return subprocess.run([*vasmart_command(), *args], env=env, capture_output=True, text=True, timeout=timeout,
                          check=False, cwd=home, input=stdin)
