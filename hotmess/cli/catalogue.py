"""`hotmess envs` and `hotmess agents`: what is registered, and how to spell it."""

from __future__ import annotations

from rich.table import Table

from hotmess.cli.app import app, console


@app.command("envs")
def envs_command() -> None:
    """List the registered environments.

    Example: [bold]hotmess envs[/bold]
    """
    from hotmess.envs import env_class, env_ids

    table = Table("id", "outcome", "description")
    for env_id in env_ids():
        cls = env_class(env_id)
        table.add_row(
            env_id,
            getattr(cls, "outcome_kind", "?"),
            getattr(cls, "description", "") or (cls.__doc__ or "").strip().split("\n")[0],
        )
    console.print(table)


@app.command("agents")
def agents_command() -> None:
    """List the agent kinds and how to spell their specs.

    Example: [bold]hotmess agents[/bold]
    """
    from hotmess.agents import agent_entries

    table = Table("name", "example spec", "what it does")
    for entry in agent_entries().values():
        table.add_row(entry.name, entry.example, entry.summary)
    table.add_row(
        "module:Class",
        "my_pkg.agents:MyAgent,temperature=0.5",
        "your own class; KEY=VALUE options go to its constructor",
    )
    console.print(table)
