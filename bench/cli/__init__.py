"""The `bench` command. Each module in this package declares its commands with
`@command(...)` or `register_group(...)` (see _command.py); the top-level group looks a
command up in the registry and imports only its module, so a new command is a new file
here, not an edit to a central list, and `bench list codecs` does not import what
`bench report` needs."""

from __future__ import annotations

import sys

import typer
from typer.core import TyperGroup

from ..errors import BenchError
from ._command import COMMANDS, click_command


class LazyCommands(TyperGroup):
    def list_commands(self, ctx) -> list[str]:
        """Commands, then groups, each in file order (as Typer lists them)."""
        entries = COMMANDS.entries().values()
        return [e.name for e in entries if e.via == "register_command"] + [
            e.name for e in entries if e.via != "register_command"]

    def get_command(self, ctx, name: str):
        if COMMANDS.canonical(name) is None:
            return None
        if name not in self.commands:
            self.commands[name] = click_command(name)
        return self.commands[name]


app = typer.Typer(
    cls=LazyCommands,
    help="Rate-distortion benchmark suite for image codecs: run codecs over datasets, "
         "compute metrics, BD-rate tables, RD plots and reports.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


@app.callback()
def _root() -> None:
    pass


def _interrupted() -> None:
    typer.secho("interrupted: finished jobs are stored; re-run the same command to resume",
                fg="yellow", err=True)


def main() -> None:
    try:
        rc = app(standalone_mode=False)   # returns the code of a typer.Exit in this mode
        if rc == 130:                     # Typer turned a Ctrl-C into Exit(130) before our handler saw it
            _interrupted()
        sys.exit(rc if isinstance(rc, int) else 0)
    except BenchError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        _interrupted()
        sys.exit(130)
    except typer.Exit as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):
            _interrupted()
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except Exception as exc:  # usage errors of (Typer's copy of) click: its message, no traceback
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            sys.exit(exc.exit_code)
        raise
