"""`hotmess janitor` and `hotmess containers build`: the sandboxes' housekeeping."""

from __future__ import annotations

from typing import Annotated

import typer

from hotmess.cli.app import app, console


@app.command("janitor")
def janitor_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list what would be removed.")
    ] = False,
) -> None:
    """Remove sandboxes (containers, cgroups, directories) left by runs that were killed.

    Example: [bold]hotmess janitor --dry-run[/bold]
    """
    from hotmess.sandbox.janitor import janitor

    report = janitor(dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for kind, items in (
        ("container", report.containers),
        ("cgroup", report.cgroups),
        ("directory", report.directories),
    ):
        for item in items:
            console.print(f"{verb} {kind} {item}", markup=False, highlight=False)
    if report.docker_error:
        console.print(f"containers not checked: {report.docker_error}", style="dim")
    console.print(f"{verb} {report.total} leftover(s)")


containers_app = typer.Typer(help="Build the sandbox images.", no_args_is_help=True)
app.add_typer(containers_app, name="containers")


@containers_app.command("build")
def containers_build_command(
    force: Annotated[
        bool,
        typer.Option("--force", help="Rebuild even if an image with this content hash exists."),
    ] = False,
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            help="Base image to build FROM (default: a public Debian image, or one made with debootstrap where no registry answers).",
        ),
    ] = None,
) -> None:
    """Build the sandbox image from containers/, tagged with a hash of its content.

    Example: [bold]hotmess containers build[/bold]
    """
    from hotmess.sandbox.images import build_image

    tag = build_image(
        base=base, force=force, log=lambda line: console.print(line, markup=False, highlight=False)
    )
    console.print(f"sandbox image: {tag}")
