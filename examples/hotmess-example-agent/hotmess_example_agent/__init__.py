"""An example hotmess agent, registered through the `hotmess.agents` entry-point group
(see docs/plugging-in-an-agent.md in the hotmess repository)."""
