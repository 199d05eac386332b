"""The `benefitpool` command line run in the test's own process (typer's `CliRunner`), or, to
prove the installed entry point, as the console script a user runs."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from adapters import settings
from adapters.cli import app

#: Every setting the program reads from its environment; unset unless a test gives it.
SETTINGS = (settings.DB, settings.POLICIES, settings.AUDIT_KEY, settings.CIPHER_KEY,
            settings.LEDGER_SOCKET)
#: Wide enough that rich never wraps a line the tests read.
COLUMNS = "200"


def run_cli(*args: str, cwd: Path, env: Mapping[str, str | None] | None = None) -> Result:
    """`benefitpool *args` in this process, in the folder `cwd`, with the `BENEFITPOOL_*`
    settings in `env` only. The result has `exit_code`, `stdout` and `stderr` apart.

    An exception the program does not turn into an exit code (a crash, which a user would see
    as a traceback) is raised here, failing the test."""
    environ: dict[str, str | None] = dict.fromkeys(SETTINGS)
    environ["COLUMNS"] = COLUMNS
    environ.update(env or {})
    with contextlib.chdir(cwd):
        result = CliRunner().invoke(app, list(args), env=environ)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def console_script() -> Path:
    """The `benefitpool` program installed beside this interpreter (`pip install -e .`)."""
    return Path(sys.executable).with_name("benefitpool")


def run_console_script(*args: str, cwd: Path, env: Mapping[str, str] | None = None,
                       timeout: float = 120) -> subprocess.CompletedProcess:
    """The installed `benefitpool` program as a user runs it, in its own process, with the
    `BENEFITPOOL_*` settings in `env` only."""
    full_env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    full_env["COLUMNS"] = COLUMNS
    full_env.update(env or {})
    return subprocess.run([str(console_script()), *args], cwd=cwd, capture_output=True,
                          text=True, env=full_env, timeout=timeout)
