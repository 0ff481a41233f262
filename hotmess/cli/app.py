"""The `hotmess` Typer app, its consoles, and `main`: errors a user can fix print one line and
exit 2; anything else is a bug and keeps its traceback."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console

from hotmess.errors import HotmessDeprecationWarning, HotmessError

app = typer.Typer(
    name="hotmess",
    help="Measure how AI agents fail as their tasks get longer: horizon sweeps and bias-variance decompositions.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console()
if not console.is_terminal:
    # Piped output (CI logs, `| less`) keeps every column readable instead of 80 wide.
    console = Console(width=200)
err_console = Console(stderr=True)


def _show_version(value: bool) -> None:
    if value:
        from hotmess import __version__

        console.print(f"hotmess {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Print hotmess's version and exit.",
        ),
    ] = False,
) -> None:
    """Measure how AI agents fail as their tasks get longer: horizon sweeps and
    bias-variance decompositions."""


def _one_line_deprecations(show: Callable[..., None]) -> Callable[..., None]:
    """`warnings.showwarning` that prints a deprecated name as one line, like an error."""

    def show_warning(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, HotmessDeprecationWarning):
            err_console.print(
                f"hotmess: warning: {message}", markup=False, highlight=False, soft_wrap=True
            )
        else:
            show(message, category, *args, **kwargs)

    return show_warning


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `hotmess` console script."""
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_deprecations(warnings.showwarning)
        try:
            app(args=argv, prog_name="hotmess", standalone_mode=True)
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except HotmessError as exc:
            err_console.print(
                f"hotmess: error: {exc}", markup=False, highlight=False, soft_wrap=True
            )
            return 2
    return 0
