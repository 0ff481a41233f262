"""Agents: the protocol, scripted baselines, LLM agents, and the spec registry."""

from hotmess.agents.base import (
    Agent,
    AgentStep,
    FinalAnswering,
    Replayable,
    Reseedable,
    Task,
)
from hotmess.agents.registry import AgentEntry, AgentSpec, agent_entries, make_agent, register_agent

__all__ = [
    "Agent",
    "AgentEntry",
    "AgentSpec",
    "AgentStep",
    "FinalAnswering",
    "Replayable",
    "Reseedable",
    "Task",
    "agent_entries",
    "make_agent",
    "register_agent",
]
