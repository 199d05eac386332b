"""The `benefitpool` command line run in the test's own process (typer's `CliRunner`), or, to
prove the installed entry point, as the console script a user runs."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import click
from attrs import frozen
from typer.testing import CliRunner

from adapters import settings
from adapters.cli import app

#: Every setting the program reads from its environment; unset unless a test gives it.
SETTINGS = (settings.DB, settings.POLICIES, settings.AUDIT_KEY, settings.CIPHER_KEY,
            settings.LEDGER_SOCKET, settings.COLUMNAR, settings.DEPLOYMENT,
            settings.DASK_SCHEDULER)
#: Wide enough that rich never wraps a line the tests read.
COLUMNS = "200"


@frozen
class CliResult:
    """What a run of the program gave: its exit code, and its standard output, standard error
    and both interleaved, without terminal styling."""

    exit_code: int
    stdout: str
    stderr: str
    output: str


def run_cli(*args: str, cwd: Path | None = None,
            env: Mapping[str, str | None] | None = None) -> CliResult:
    """`benefitpool *args` in this process, in the folder `cwd` (the current one when None),
    with the `BENEFITPOOL_*` settings in `env` only.

    An exception the program does not turn into an exit code (a crash, which a user would see
    as a traceback) is raised here, failing the test. Terminal styling is removed: the
    program's rich consoles choose their colours when they are made, so under `pytest -s` on a
    terminal they colour what they print even into the runner's buffers."""
    environ: dict[str, str | None] = dict.fromkeys(SETTINGS)
    environ["COLUMNS"] = COLUMNS
    environ.update(env or {})
    with contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext():
        result = CliRunner().invoke(app, list(args), env=environ)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return CliResult(result.exit_code, click.unstyle(result.stdout),
                     click.unstyle(result.stderr), click.unstyle(result.output))


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
