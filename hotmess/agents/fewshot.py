"""The few-shot scaffold of `local:`: a plain-text transcript that a small or base model
continues, the env's worked examples first, one `Action:` line per call, no chat template.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hotmess.agents.chat import Message
from hotmess.envs.examples import Example

INSTRUCTIONS = (
    "Each task below is solved with tools. Every Action line is one JSON tool call; the "
    "Observation line after it is what the tool returned. The last action calls submit with "
    "the answer. Copy names and values exactly as the observations show them."
)
#: What the chat transcript puts before an observation; the few-shot one has its own label.
OBSERVATION_PREFIX = "Observation:\n"
#: Heads the task after the examples (each headed `Example N:`).
YOUR_TASK = "Your task:"
#: Where the model writes: the prompt ends here, and its reply is the rest of this line.
ACTION = "Action:"


def tool_lines(tools: Sequence[dict[str, Any]]) -> str:
    """One line per tool: its name, its argument names and its description."""
    lines = []
    for spec in tools:
        function = spec["function"]
        arguments = ", ".join((function.get("parameters") or {}).get("properties", {}))
        lines.append(f"- {function['name']}({arguments}): {function.get('description', '')}")
    return "Tools:\n" + "\n".join(lines)


def example_block(example: Example, number: int = 1) -> str:
    """A worked example as the lines the model will write its own task in."""
    lines = [f"Example {number}:", f"Task: {example.prompt}"]
    for action, observation in example.steps:
        lines += [f"{ACTION} {action}", f"Observation: {observation.rstrip()}"]
    return "\n".join(lines)


def preamble(tools: Sequence[dict[str, Any]], examples: Sequence[Example]) -> str:
    """Everything before the task: what the lines mean, the tools, the worked examples."""
    blocks = [example_block(example, i) for i, example in enumerate(examples, 1)]
    return "\n\n".join([f"{INSTRUCTIONS}\n{tool_lines(tools)}", *blocks])


def transcript(messages: Sequence[Message]) -> str:
    """The text the model continues: the preamble (the first message), the task (the
    second), each action and observation since, then `Action:` for the next call."""
    # Headers set the examples apart from the task: SmolLM2-135M then copies a colour out
    # of PointerChase's last observation right 97% of the time instead of 87% (greedy).
    lines = [messages[0].content, "", YOUR_TASK, f"Task: {messages[1].content}"]
    for message in messages[2:]:
        content = message.content.strip()
        if message.role == "assistant":
            lines.append(f"{ACTION} {content}")
        elif content.startswith("[... ") and "earlier actions" in content:
            lines.append(content)  # the note standing in for actions dropped from the window
        else:
            observation = message.content.removeprefix(OBSERVATION_PREFIX).rstrip()
            lines.append(f"Observation: {observation}")
    lines.append(ACTION)
    return "\n".join(lines)
