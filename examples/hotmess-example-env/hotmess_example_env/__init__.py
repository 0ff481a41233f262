"""Example hotmess environment families, registered through the `hotmess.envs` entry-point
group (see docs/adding-an-environment.md in the hotmess repository)."""
