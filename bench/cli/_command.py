"""How a module of this package declares its commands, for the command registry:

    @command("results", help="...")            # a command
    def results(...): ...

    list_app = register_group("list", help="...")   # a group; its subcommands are added
    @list_app.command("codecs", help="...")        # with Typer's own decorator

The registry reads these declarations without importing the module, so `bench X`
imports only the module that defines X (and what X itself needs).
"""

from __future__ import annotations

from typing import Any, Callable

import typer

from ..plugins import Registry

COMMANDS = Registry("command", ("register_command", "register_group"), "Run `bench --help`.", package="bench.cli")


def register_command(name: str, **settings: Any) -> Callable:
    """Register a function as `bench NAME`; settings go to Typer's command() (help, short_help)."""
    def decorate(fn: Callable) -> Callable:
        fn.command_settings = settings
        return COMMANDS.bind(name, fn)
    return decorate


def register_group(name: str, help: str, **settings: Any) -> typer.Typer:
    """Register a group `bench NAME SUBCOMMAND`; returns the Typer to add subcommands to."""
    group = typer.Typer(help=help, no_args_is_help=True, **settings)
    group.info.name = name
    return COMMANDS.bind(name, group)


def click_command(name: str):
    """The click command for a registered name (imports its module)."""
    obj = COMMANDS.load(name)
    if isinstance(obj, typer.Typer):
        cmd = typer.main.get_group(obj)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name, **obj.command_settings)(obj)
        cmd = typer.main.get_command(single)
    cmd.name = name
    return cmd
