"""The base class every hotmess environment shares: text spaces, JSON tool calls, the
action cap, and outcome recording. A task family only generates tasks, implements its
tools and its oracle; everything an agent can get wrong about the protocol is handled here.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from hotmess.envs.examples import EXAMPLE_SEED, EXAMPLE_TRIES, Example, LazyExamples, solve
from hotmess.outcome import Outcome, OutcomeKind

#: Observation and action alphabet: printable ASCII. Set explicitly because the
#: `spaces.Text` default is alphanumeric only.
CHARSET = string.printable
MAX_TEXT = 1_000_000
#: Appended to the observation before the last allowed action when `final_answer` is on.
FINAL_ANSWER_NOTICE = "[One action left: you must submit your answer now.]"
_CHARSET_SET = frozenset(CHARSET)


class ToolError(Exception):
    """Raised by a tool for a call the agent got wrong; becomes the observation."""


@dataclass(frozen=True)
class Tool:
    """One tool an agent can call: its JSON Schema (the OpenAI function shape) and handler."""

    name: str
    description: str
    parameters: dict[str, Any]
    handler: Callable[..., str] = field(repr=False, compare=False)

    def spec(self) -> dict[str, Any]:
        """The tool as an OpenAI-style function spec, for native tool calling."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


def params(
    required: dict[str, tuple[str, str]], optional: dict[str, tuple[str, str]] | None = None
) -> dict[str, Any]:
    """JSON Schema for an object of `{name: (json type, description)}` arguments."""
    properties = {
        name: {"type": kind, "description": text}
        for name, (kind, text) in {**required, **(optional or {})}.items()
    }
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def choice_schema(choices: list[str], what: str) -> dict[str, Any]:
    """The `submit` arguments of a categorical answer: one of `choices` by name, or an
    object giving each of them a probability. The names are an enum, so an agent held to
    the schema (a grammar, strict tool calling) cannot submit a name that is no choice."""
    return {
        "type": "object",
        "properties": {
            "answer": {
                "description": f"One of {', '.join(choices)}; or an object mapping {what} "
                "to probabilities.",
                "anyOf": [
                    {"type": "string", "enum": list(choices)},
                    {
                        "type": "object",
                        "properties": {c: {"type": "number"} for c in choices},
                        "additionalProperties": False,
                    },
                ],
            }
        },
        "required": ["answer"],
        "additionalProperties": False,
    }


def tool_call(tool: str, **arguments: Any) -> str:
    """The action string that calls `tool` with `arguments`: what oracles and tests send."""
    return json.dumps({"tool": tool, "arguments": arguments})


class Oracle(Protocol):
    """A solver bound to one task, replaying its solution as actions through the tools.

    `mistake` (a number in [0, 1)) asks for one of the family's plausible errors at this
    step, the number choosing which: a misread value, a wrong hop; never a malformed call.
    Steps where no such error exists (submitting what was computed) ignore it. This is
    what the `noisy` agent is built on.
    """

    def act(self, observation: str, *, mistake: float | None = None) -> str:
        """The next action, given the last observation."""
        ...

    # Optional: `guess() -> str | None`, the submit call of the best answer from what the
    # oracle has read so far (called after `act`), which scripted agents send when the
    # episode asks for a final answer before the solution is done (`final_answer`).


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def _check_arguments(tool: Tool, arguments: dict[str, Any]) -> None:
    schema = tool.parameters
    properties: dict[str, Any] = schema.get("properties", {})
    missing = [name for name in schema.get("required", []) if name not in arguments]
    if missing:
        raise ToolError(f"{tool.name}() is missing required argument(s): {', '.join(missing)}.")
    unknown = [name for name in arguments if name not in properties]
    if unknown:
        raise ToolError(
            f"{tool.name}() got unknown argument(s): {', '.join(unknown)}; it takes: {', '.join(properties) or 'none'}."
        )
    for name, value in arguments.items():
        kinds = properties[name].get("type")
        if kinds is None:
            continue
        allowed = tuple(
            t
            for k in ([kinds] if isinstance(kinds, str) else kinds)
            for t in _JSON_TYPES.get(k, (object,))
        )
        if isinstance(value, bool) and bool not in allowed:
            allowed = ()
        if not isinstance(value, allowed):
            raise ToolError(
                f"{tool.name}(): argument '{name}' must be of type {kinds}, got {type(value).__name__}."
            )


def sanitize(text: str, limit: int) -> str:
    """Fit text to the observation space: escape non-ASCII, cut the middle of long text."""
    if not text.isascii():
        text = text.encode("ascii", "backslashreplace").decode("ascii")
    if not _CHARSET_SET.issuperset(text):
        text = "".join(c if c in _CHARSET_SET else f"\\x{ord(c):02x}" for c in text)
    if len(text) > limit:
        keep = limit // 2 - 40
        cut = len(text) - 2 * keep
        text = f"{text[:keep]}\n[... {cut} characters cut ...]\n{text[-keep:]}"
    return text


class ToolEnv(gym.Env[str, str]):
    """A task the agent solves by calling tools, one JSON call per action.

    Subclasses implement `_generate` (build the task from a seed), `_tools`, `_prompt`,
    `_min_actions`, `_judge` (turn a submitted answer into an `Outcome`), `_missing_outcome`
    (the outcome when the agent never submitted) and `oracle`.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 1}  # noqa: RUF012 (Gymnasium declares it so)
    #: One line for `hotmess envs`.
    description: ClassVar[str] = ""
    #: Outcome kind this family produces.
    outcome_kind: ClassVar[OutcomeKind] = "scalar"
    #: Default action cap = ceil(cap_factor * the oracle's action count).
    cap_factor: ClassVar[float] = 2.0
    #: Whether the family runs commands in a sandbox (pure-Python tool envs do not).
    needs_sandbox: ClassVar[bool] = False

    @classmethod
    def outcome_kind_for(cls, options: Mapping[str, Any]) -> OutcomeKind:
        """The outcome kind an env made with `options` produces (what an episode that
        never ran, censored or the agent's failure, is recorded as)."""
        return cls.outcome_kind

    @classmethod
    def dataset_size(cls, options: Mapping[str, Any]) -> int | None:
        """How many distinct tasks an env made with `options` has, for envs whose tasks
        come from a fixed set (Harbor folders); None for envs that generate a task per
        seed."""
        return None

    def __init__(
        self,
        horizon: int = 8,
        *,
        max_actions: int | None = None,
        sandbox: str = "auto",
        sandbox_options: dict[str, Any] | None = None,
        max_observation_chars: int = 16_000,
        render_mode: str | None = None,
        final_answer: bool = True,
    ) -> None:
        if not isinstance(horizon, int) or isinstance(horizon, bool) or horizon < 1:
            raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        self.horizon = horizon
        self.render_mode = render_mode
        self.sandbox_kind = sandbox if self.needs_sandbox else "none"
        self.sandbox_options = dict(sandbox_options or {})
        self.max_observation_chars = max_observation_chars
        self._max_actions_arg = max_actions
        self.final_answer = final_answer
        self.observation_space = spaces.Text(max_length=MAX_TEXT, min_length=0, charset=CHARSET)
        self.action_space = spaces.Text(max_length=MAX_TEXT, min_length=0, charset=CHARSET)
        self.task_seed: int | None = None
        self.n_actions = 0
        self._tool_map: dict[str, Tool] = {}
        self._done = True
        self._transcript: list[str] = []
        self._examples: list[Example] = []
        self._next_example_seed = EXAMPLE_SEED

    # -- what a family implements -------------------------------------------------------

    def _generate(self, seed: int) -> None:
        raise NotImplementedError

    def _tools(self) -> list[Tool]:
        raise NotImplementedError

    def _prompt(self) -> str:
        raise NotImplementedError

    def _min_actions(self) -> int:
        """Actions the oracle needs for the current task (submit included)."""
        raise NotImplementedError

    def _judge(self, answer: Any) -> Outcome:
        """Score a submitted answer; raise `ToolError` if it is not a valid answer at all."""
        raise NotImplementedError

    def _missing_outcome(self) -> Outcome:
        """The outcome of an episode that ended without a submission."""
        raise NotImplementedError

    def _task_spec(self) -> Any:
        """A JSON-serialisable description of the whole hidden task (for fingerprints)."""
        raise NotImplementedError

    def oracle(self) -> Oracle:
        """A solver for the current task (call after `reset`)."""
        raise NotImplementedError

    def _submit_schema(self) -> dict[str, Any]:
        return params({"answer": ("string", "Your final answer.")})

    def examples(self, n: int) -> list[Example]:
        """`n` worked examples of this env at its horizon and options, for agents that show
        a model solved tasks before its own (the reset `info["examples"]`).

        By default the env's oracle solves tasks of seeds from EXAMPLE_SEED on, which no
        sweep draws, on a copy of the env, so the current task is untouched. Each example
        submits another answer than the one before it when one of the next few seeds does:
        a small model shown the same answer twice tends to copy it. Override to hand-write
        them; `examples(k)` must be the first k of `examples(n)`."""
        if n > len(self._examples):
            sibling = self._sibling()
            try:
                self._examples = self._more_examples(sibling, n)
            finally:
                sibling.close()
        return self._examples[:n]

    def _more_examples(self, sibling: ToolEnv, n: int) -> list[Example]:
        examples, seed = list(self._examples), self._next_example_seed
        while len(examples) < n:
            candidates = []
            for _ in range(EXAMPLE_TRIES if examples and self.outcome_kind != "tests" else 1):
                candidates.append(solve(sibling, seed))
                seed += 1
                if not examples or candidates[-1].steps[-1] != examples[-1].steps[-1]:
                    break  # another answer than the example before
            examples.append(candidates[-1])
        self._next_example_seed = seed
        return examples

    def _sibling(self) -> ToolEnv:
        """An env with this one's options and none of its episode state."""
        return copy.copy(self)

    # -- the Gymnasium contract ---------------------------------------------------------

    @property
    def env_id(self) -> str:
        """The registered id (`hotmess/KVSum-v0`); the class name for an unregistered env."""
        return self.spec.id if self.spec is not None else type(self).__name__

    @property
    def max_actions(self) -> int:
        """The action cap: the episode is truncated after this many actions."""
        if self._max_actions_arg is not None:
            return self._max_actions_arg
        return math.ceil(self.cap_factor * self._min_actions())

    @property
    def submit_only(self) -> bool:
        """Whether the next action is the final answer: with `final_answer` on, the last
        allowed action of an unfinished episode, where only `submit` is asked for (the way
        the paper forces an answer when a reasoning budget runs out). Another action is
        still carried out, and the episode then ends truncated."""
        return self.final_answer and not self._done and self.n_actions == self.max_actions - 1

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Generate the task for `seed` (drawn from the env's RNG when None) and return
        `(prompt, info)`; info carries `prompt`, `tools` (OpenAI function specs),
        `horizon`, `max_actions`, `task_seed`, `submit_only` (see `step`) and `examples`
        (worked examples, a sequence made when first read; see `examples`)."""
        super().reset(seed=seed)
        if seed is None:
            seed = int(self.np_random.integers(0, 2**31 - 1))
        self.task_seed = int(seed)
        self._generate(self.task_seed)
        tools = [
            *self._tools(),
            Tool(
                "submit",
                "Submit your final answer; this ends the episode.",
                self._submit_schema(),
                self._submit,
            ),
        ]
        self._tool_map = {tool.name: tool for tool in tools}
        self.n_actions = 0
        self._done = False
        self._outcome: Outcome | None = None
        prompt = self._prompt()
        self._transcript = [prompt]
        info = {
            "prompt": prompt,
            "tools": [tool.spec() for tool in tools],
            "horizon": self.horizon,
            "max_actions": self.max_actions,
            "task_seed": self.task_seed,
            "submit_only": self.submit_only,
            "examples": LazyExamples(self),
        }
        if self.submit_only:
            prompt += f"\n{FINAL_ANSWER_NOTICE}"
        return sanitize(prompt, MAX_TEXT), info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Run one tool call. A malformed call or a failing tool is an observation, never an
        exception, and counts as an action. Terminates on a valid submit; truncates at the
        action cap. `info["outcome"]` is set on the last step. With `final_answer` on, the
        observation before the last allowed action says that only `submit` remains, and
        `info["submit_only"]` is True; a submit then is recorded as `forced`."""
        if self._done:
            raise RuntimeError("step() called on a finished episode: call reset() first")
        forced = self.submit_only
        self.n_actions += 1
        info: dict[str, Any] = {"n_actions": self.n_actions, "error": False, "tool": None}
        try:
            name, arguments = self._parse(action)
            info["tool"] = name
            tool = self._tool_map[name]
            _check_arguments(tool, arguments)
            observation = tool.handler(**arguments)
        except ToolError as exc:
            info["error"] = True
            observation = f"Error: {exc}"
        terminated = self._outcome is not None
        truncated = not terminated and self.n_actions >= self.max_actions
        if truncated:
            self._outcome = self._missing_outcome()
            self._outcome.truncated = True
            observation += f"\n[Action cap of {self.max_actions} reached: the episode is over.]"
        reward = 0.0
        if terminated or truncated:
            assert self._outcome is not None
            self._outcome.n_actions = self.n_actions
            self._outcome.forced = forced and terminated
            info["outcome"] = self._outcome
            reward = 1.0 if self._outcome.success else 0.0
            self._done = True
        info["submit_only"] = self.submit_only
        if info["submit_only"]:
            observation += f"\n{FINAL_ANSWER_NOTICE}"
        observation = sanitize(observation, self.max_observation_chars)
        self._transcript += [f"> {action}", observation]
        return observation, reward, terminated, truncated, info

    def abandon(self, reason: str) -> Outcome:
        """End the episode for a reason outside the agent's control (an API that stayed
        down, a sandbox engine that failed): the outcome is censored, not scored."""
        return self._end_early(infra_error=reason)

    def fail(self, reason: str) -> Outcome:
        """End the episode because the agent broke it (an exception in `act()`, an action the
        env could not execute): scored as a missing answer, `agent_failure` says why."""
        return self._end_early(agent_failure=reason)

    def cut(self) -> Outcome:
        """End the episode as truncated before the action cap (the agent's context window is
        full): scored as a truncated episode."""
        return self._end_early(truncated=True)

    def _end_early(self, **fields: Any) -> Outcome:
        outcome = self._missing_outcome()
        for name, value in fields.items():
            setattr(outcome, name, value)
        outcome.n_actions = self.n_actions
        self._outcome, self._done = outcome, True
        return outcome

    def render(self) -> str | None:
        """With render_mode="ansi": the transcript so far."""
        return "\n".join(self._transcript) if self.render_mode == "ansi" else None

    # -- shared machinery -----------------------------------------------------------------

    def task_fingerprint(self) -> str:
        """SHA-256 of the hidden task: equal for equal seeds on any machine."""
        blob = json.dumps(
            [self.env_id or type(self).__name__, self.horizon, self._task_spec()], sort_keys=True
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    def _parse(self, action: Any) -> tuple[str, dict[str, Any]]:
        hint = 'An action is one JSON object: {"tool": NAME, "arguments": {...}}.'
        if not isinstance(action, str):
            raise ToolError(f"the action must be a string, got {type(action).__name__}. {hint}")
        try:
            call = json.loads(action)
        except json.JSONDecodeError as exc:
            raise ToolError(
                f"the action is not valid JSON ({exc.msg} at position {exc.pos}). {hint}"
            ) from None
        if not isinstance(call, dict) or not isinstance(call.get("tool"), str):
            raise ToolError(f'the action has no "tool" name. {hint}')
        unexpected = set(call) - {"tool", "arguments"}
        if unexpected:
            raise ToolError(
                f"the action has unexpected key(s) {', '.join(sorted(unexpected))}. {hint}"
            )
        name, arguments = call["tool"], call.get("arguments", {})
        if name not in self._tool_map:
            raise ToolError(f"there is no tool '{name}'. Tools: {', '.join(self._tool_map)}.")
        if not isinstance(arguments, dict):
            raise ToolError(
                f'"arguments" must be a JSON object, got {type(arguments).__name__}. {hint}'
            )
        return name, arguments

    def _submit(self, answer: Any) -> str:
        self._outcome = self._judge(answer)
        return "Answer submitted."


def one_hot(index: int, size: int) -> list[float]:
    vector = [0.0] * size
    vector[index] = 1.0
    return vector


def parse_distribution(answer: Any, choices: list[str]) -> list[float]:
    """A categorical answer as a probability vector over `choices`: a choice name (one-hot),
    or a JSON object / JSON string mapping choices to probabilities (normalised)."""
    listing = ", ".join(choices)
    if isinstance(answer, str):
        text = answer.strip()
        if text.startswith("{"):
            try:
                answer = json.loads(text)
            except json.JSONDecodeError:
                raise ToolError(
                    f"the answer looks like JSON but does not parse; give one of: {listing}."
                ) from None
        else:
            lowered = {choice.lower(): i for i, choice in enumerate(choices)}
            if text.lower() not in lowered:
                raise ToolError(f"'{text}' is not a valid answer; give one of: {listing}.")
            return one_hot(lowered[text.lower()], len(choices))
    if isinstance(answer, dict):
        unknown = [k for k in answer if k not in choices]
        if unknown:
            raise ToolError(
                f"unknown choice(s) {', '.join(map(str, unknown))}; choices are: {listing}."
            )
        weights = np.array([answer.get(c, 0.0) for c in choices], dtype=float)
        if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
            raise ToolError("probabilities must be non-negative numbers that do not all equal 0.")
        return list(weights / weights.sum())
    raise ToolError(
        f"the answer must be one of: {listing} (or an object mapping them to probabilities)."
    )


def categorical_outcome(answer: Any, choices: list[str], target: int) -> Outcome:
    """The outcome of a submitted categorical answer: right when the gold choice alone has
    the highest probability. Raises `ToolError` for an answer that is no valid choice."""
    probs = parse_distribution(answer, choices)
    best = max(probs)
    success = probs[target] == best and probs.count(best) == 1
    return Outcome(
        kind="categorical",
        prediction=probs,
        target=target,
        choices=choices,
        answer=answer,
        success=success,
    )
