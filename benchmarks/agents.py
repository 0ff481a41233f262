"""What the local agent's machinery costs: tokens per second through `local:<model>` (the
whole ChatAgent path: transcript, context fitting, chat template, tokenizer, grammar,
parsing) against llama-cpp-python generating the same requests directly.

    python benchmarks/agents.py [--model smollm2-135m] [--episodes 2] [--horizons 2,8]

Each episode runs the agent on a pure env; every request it sends to llama-cpp-python is
recorded (prompt tokens, grammar, seed, sampling settings). Then the same requests are sent
straight to `Llama.create_completion`, in the same order, from the same empty cache, so the
model does exactly the same work (the table checks the texts match). Agent time is the
runner's per-step latency (`act` only, not the env); raw time is the calls alone; tokens per
second are generated tokens over that time, prompt evaluation included. Episodes alternate
with their replays, so load from other processes hits both sides alike.

Target (issue): the agent machinery costs under 15% of the tokens-per-second.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from typing import Any

from hotmess.agents import make_agent
from hotmess.agents.local import LocalAgent
from hotmess.envs import make_env
from hotmess.runner import run_episode
from hotmess.runner.cells import agent_seed

ENVS = ["hotmess/KVSum-v0", "hotmess/PointerChase-v0"]
OVERHEAD_TARGET = 0.15


@dataclass
class Side:
    """Tokens generated and seconds spent by one side of the comparison."""

    tokens: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


@dataclass
class Row:
    env: str
    horizon: int
    steps: int = 0
    agent: Side = field(default_factory=Side)
    raw: Side = field(default_factory=Side)
    same_text: bool = True

    @property
    def overhead(self) -> float:
        """Extra time per generated token through the agent, relative to raw generation."""
        return self.agent.seconds / self.raw.seconds - 1 if self.raw.seconds else 0.0


def run_pair(agent: LocalAgent, env_id: str, horizon: int, seed: int, row: Row) -> None:
    """One agent episode, then the replay of its requests straight to llama-cpp-python."""
    requests: list[dict[str, Any]] = []
    build = agent.request

    def recording(messages: Any, request_seed: int) -> dict[str, Any]:
        kwargs = build(messages, request_seed)
        requests.append(kwargs)
        return kwargs

    agent.request = recording  # type: ignore[method-assign,assignment]
    llm = agent.model.llm
    env = make_env(env_id, horizon=horizon)
    try:
        llm.reset()
        record = run_episode(env, agent, seed, agent_seed=agent_seed(seed, horizon, seed))
    finally:
        env.close()
        agent.request = build  # type: ignore[method-assign]
    row.steps += len(record.steps)
    row.agent.tokens += sum(step.tokens_out for step in record.steps)
    row.agent.seconds += sum(step.latency_s for step in record.steps)

    llm.reset()
    for kwargs, step in zip(requests, record.steps, strict=True):
        start = time.perf_counter()
        response = llm.create_completion(**kwargs)
        row.raw.seconds += time.perf_counter() - start
        row.raw.tokens += response["usage"]["completion_tokens"]
        row.same_text &= response["choices"][0]["text"] == step.agent_message


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--episodes", type=int, default=2, help="Episodes per env and horizon.")
    parser.add_argument("--horizons", default="2,8")
    args = parser.parse_args()
    horizons = [int(h) for h in args.horizons.split(",")]

    agent = make_agent(f"local:{args.model}")
    assert isinstance(agent, LocalAgent)
    agent.count_tokens("warm up")  # load the model before any clock starts
    rows = []
    for env_id in ENVS:
        for horizon in horizons:
            row = Row(env_id, horizon)
            for seed in range(args.episodes):
                run_pair(agent, env_id, horizon, seed, row)
            rows.append(row)

    header = f"{'env':<24}{'H':>4}{'steps':>7}{'tokens':>8}{'agent tok/s':>13}{'raw tok/s':>11}{'overhead':>10}  same text"
    print(f"local:{args.model}, {agent.n_threads} thread(s), {args.episodes} episode(s) per row")
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row.env:<24}{row.horizon:>4}{row.steps:>7}{row.agent.tokens:>8}{row.agent.rate:>13.1f}"
            f"{row.raw.rate:>11.1f}{row.overhead:>9.1%}  {'yes' if row.same_text else 'NO'}"
        )
    total = Row("all", 0)
    for row in rows:
        total.steps += row.steps
        total.agent.tokens += row.agent.tokens
        total.agent.seconds += row.agent.seconds
        total.raw.tokens += row.raw.tokens
        total.raw.seconds += row.raw.seconds
        total.same_text &= row.same_text
    print("-" * len(header))
    print(
        f"{'all':<24}{'':>4}{total.steps:>7}{total.agent.tokens:>8}{total.agent.rate:>13.1f}"
        f"{total.raw.rate:>11.1f}{total.overhead:>9.1%}  {'yes' if total.same_text else 'NO'}"
    )
    verdict = "PASS" if total.overhead < OVERHEAD_TARGET else "FAIL"
    print(
        f"agent machinery overhead {total.overhead:.1%} (target < {OVERHEAD_TARGET:.0%}): {verdict}"
    )


if __name__ == "__main__":
    main()
