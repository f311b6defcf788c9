"""`carepath` command line. Every command that moves state takes `--now` (or CAREPATH_NOW);
`--json` prints machine-readable output; times are shown in the deployment time zone."""
from __future__ import annotations

import os
import sys
import traceback

import click

from ..settings import SettingsError
from . import deadlines, layout, setup, versions, work  # noqa: F401  (importing them registers the commands)
from . import audit  # noqa: F401  (registers `carepath audit`)
from . import users  # noqa: F401  (registers `carepath user`)
from . import db  # noqa: F401  (registers `carepath db`)
from . import apiclients  # noqa: F401  (registers `carepath api-client`)
from . import simulate  # noqa: F401  (registers `carepath simulate`)
from ..jobs.commands import enqueue, worker
from ..bench.cli import bench
from .common import cli

cli.add_command(worker)
cli.add_command(enqueue)
cli.add_command(bench)


def main():
    try:
        cli(prog_name="carepath")
    except SettingsError as err:
        click.echo(f"配置错误: {err}", err=True)
        sys.exit(2)
    except Exception as err:  # last resort: one clear line, the traceback only on request
        if os.environ.get("CAREPATH_DEBUG"):
            traceback.print_exc()
        click.echo(f"内部错误: {type(err).__name__}: {err}（设置 CAREPATH_DEBUG=1 查看详情）", err=True)
        sys.exit(3)
