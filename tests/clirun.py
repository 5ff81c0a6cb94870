"""Run the command line the way a user does, but in this process (no interpreter and torch start-up per
call, which made the bad-input suites slow): ``stsg_bench.cli.main`` with stdout, stderr and log records
captured. A call that needs its own process (an environment, a working folder) runs as a subprocess."""

from __future__ import annotations

import contextlib
import io
import logging
import subprocess
import sys

CLI = [sys.executable, "-m", "stsg_bench.cli"]


def run_cli(*args, env: dict | None = None, cwd=None, timeout: int = 600) -> subprocess.CompletedProcess:
    argv = [str(a) for a in args]
    if env is not None or cwd is not None:
        return subprocess.run(CLI + argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    from stsg_bench.cli import main

    out, err = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(err)  # what the CLI logs reaches "stderr" as in a real run
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(argv)
            except SystemExit as exc:  # argparse's own errors
                rc = exc.code if isinstance(exc.code, int) else 2
    finally:
        root.removeHandler(handler)
    return subprocess.CompletedProcess(CLI + argv, rc, out.getvalue(), err.getvalue())
