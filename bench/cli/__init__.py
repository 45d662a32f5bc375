"""The `bench` command. Each module in this package adds its commands via `register(app)`,
so a new command is a new file here, not an edit to a central if-chain."""

from __future__ import annotations

import sys

import typer

from ..errors import BenchError
from ..plugins import import_submodules

app = typer.Typer(
    help="Rate-distortion benchmark suite for image codecs: run codecs over datasets, "
         "compute metrics, BD-rate tables, RD plots and reports.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _register_all() -> None:
    for module in import_submodules(__name__, __path__, skip=()):
        if hasattr(module, "register"):
            module.register(app)


_register_all()


def main() -> None:
    try:
        rc = app(standalone_mode=False)   # returns the code of a typer.Exit in this mode
        sys.exit(rc if isinstance(rc, int) else 0)
    except BenchError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.secho("interrupted: finished jobs are stored; re-run the same command to resume",
                    fg="yellow", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except Exception as exc:  # click usage errors
        import click
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
