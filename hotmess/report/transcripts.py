"""The transcript browser: per cell, the first samples of its first task, read from the
store in a second pass that parses only their lines, cut to a few KB each and shown as
nested <details> (no script)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hotmess.report.markup import escape
from hotmess.report.runs import ReportRun, Series
from hotmess.store import LightEpisode, iter_episodes

OBSERVATION_LIMIT = 2_000
"""Characters of an observation shown in a transcript; the rest is cut with a note."""
TEXT_LIMIT = 8_000
"""Characters of a prompt, action or agent message shown in a transcript."""


@dataclass(frozen=True)
class Step:
    action: str
    observation: str
    cut: int  # characters of the observation left out
    tool: str | None
    tool_error: bool
    agent_error: str | None
    agent_message: str | None
    replayed: bool


@dataclass(frozen=True)
class Transcript:
    task_seed: Any
    sample: int
    key: str
    prompt: str
    outcome: dict[str, Any]
    steps: tuple[Step, ...]


Cell = tuple[int, str, str, int]
"""(run index, env, agent, horizon)."""


def _chosen(runs: Sequence[ReportRun], per_cell: int) -> dict[int, dict[str, Cell]]:
    """Per run, key → cell of the episodes to show: the first `per_cell` samples (by
    sample index) of each cell's first task (in store order)."""
    chosen: dict[int, dict[str, Cell]] = {}
    for index, run in enumerate(runs):
        first_task: dict[tuple[str, str, int], Any] = {}
        candidates: dict[tuple[str, str, int], list[LightEpisode]] = defaultdict(list)
        for episode in run.episodes:
            cell = (episode.env, episode.agent, episode.horizon)
            if first_task.setdefault(cell, episode.task_seed) == episode.task_seed:
                candidates[cell].append(episode)
        chosen[index] = {
            episode.key: (index, *cell)
            for cell, episodes in candidates.items()
            for episode in sorted(episodes, key=lambda e: e.sample)[:per_cell]
        }
    return chosen


def read_transcripts(runs: Sequence[ReportRun], per_cell: int) -> dict[Cell, list[Transcript]]:
    """Read the chosen episodes through the store's key filter (no other line is parsed),
    and keep each as a truncated transcript: memory holds a few KB per shown episode, never the store."""
    found: dict[Cell, list[Transcript]] = defaultdict(list)
    if per_cell == 0:
        return found
    for index, keys in _chosen(runs, per_cell).items():
        if not keys:
            continue
        for record in iter_episodes(runs[index].path, keys=keys):
            if record.get("key") in keys:
                found[keys[record["key"]]].append(_transcript(record))
    for transcripts in found.values():
        transcripts.sort(key=lambda t: t.sample)
    return found


def cut(text: Any, limit: int) -> tuple[str, int]:
    """The first `limit` characters of `text`, and how many were left out."""
    text = "" if text is None else str(text)
    if len(text) <= limit:
        return text, 0
    return text[:limit], len(text) - limit


def _pretty_action(action: Any) -> str:
    """A JSON tool call indented; anything else (a malformed action) as it was."""
    text = "" if action is None else str(action)
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def _transcript(record: Mapping[str, Any]) -> Transcript:
    steps = []
    for step in record.get("steps") or []:
        if not isinstance(step, dict):
            continue
        observation, left_out = cut(step.get("observation"), OBSERVATION_LIMIT)
        message = step.get("agent_message")
        steps.append(
            Step(
                action=cut(_pretty_action(step.get("action")), TEXT_LIMIT)[0],
                observation=observation,
                cut=left_out,
                tool=step.get("tool"),
                tool_error=bool(step.get("tool_error")),
                agent_error=step.get("agent_error"),
                agent_message=cut(message, TEXT_LIMIT)[0] if message else None,
                replayed=bool(step.get("replayed")),
            )
        )
    outcome = record.get("outcome")
    return Transcript(
        task_seed=record.get("task_seed"),
        sample=int(record.get("sample") or 0),
        key=str(record.get("key")),
        prompt=cut(record.get("prompt"), TEXT_LIMIT)[0],
        outcome=outcome if isinstance(outcome, dict) else {},
        steps=tuple(steps),
    )


# --------------------------------------------------------------------------- html


def transcripts_section(
    labels: Mapping[Series, str], transcripts: Mapping[Cell, list[Transcript]]
) -> str:
    """The page's transcript browser: a <details> per cell, one nested per episode."""
    if not transcripts:
        return "<p>No transcripts (--transcripts 0).</p>"
    parts = [
        '<p class="lead">Per cell, the first samples of its first task. Observations longer than '
        f"{OBSERVATION_LIMIT:,} characters are cut (the note says by how much); prompts, actions and "
        f"messages at {TEXT_LIMIT:,}.</p>"
    ]
    by_env: dict[str, list[Cell]] = defaultdict(list)
    for cell in transcripts:
        by_env[cell[1]].append(cell)
    for env in sorted(by_env):
        parts.append(f"<h3>{escape(env)}</h3>")
        for cell in sorted(by_env[env], key=lambda c: (c[0], c[2], c[3])):
            index, _, agent, horizon = cell
            episodes = transcripts[cell]
            wins = sum(bool(t.outcome.get("success")) for t in episodes)
            parts.append(
                f"<details><summary>{escape(labels.get((index, agent), agent))} · horizon "
                f"{escape(horizon)} · task {escape(episodes[0].task_seed)} · "
                f"{wins}/{len(episodes)} right</summary>"
            )
            parts.extend(_episode_html(t) for t in episodes)
            parts.append("</details>")
    return "\n".join(parts)


def _episode_html(t: Transcript) -> str:
    o = t.outcome
    verdict = (
        '<span class="ok">success</span>'
        if o.get("success")
        else '<span class="err">failure</span>'
    )
    extra = []
    if o.get("truncated"):
        extra.append("truncated at the action cap")
    if o.get("infra_error"):
        extra.append(f"infrastructure error: {o['infra_error']}")
    head = f"sample {escape(t.sample)} · {verdict} · {escape(len(t.steps))} actions" + (
        f" · {escape('; '.join(extra))}" if extra else ""
    )
    parts = [f"<details><summary>{head}</summary>"]
    parts.append(f'<div class="label">prompt</div><pre>{escape(t.prompt)}</pre>')
    parts.append('<ol class="steps">')
    parts.extend(_step_html(step) for step in t.steps)
    parts.append("</ol>")
    parts.append(_outcome_html(o))
    parts.append("</details>")
    return "".join(parts)


def _step_html(step: Step) -> str:
    flags = []
    if step.tool_error:
        flags.append('<span class="err">tool error</span>')
    if step.replayed:
        flags.append('<span class="replayed">replayed from the trunk</span>')
    item = [f"<li>{' '.join(flags)}"]
    if step.agent_message:
        item.append(
            f'<div class="label">agent message</div><pre>{escape(step.agent_message)}</pre>'
        )
    item.append(
        f'<div class="label">action{f" ({escape(step.tool)})" if step.tool else ""}</div>'
        f"<pre>{escape(step.action)}</pre>"
    )
    item.append(f'<div class="label">observation</div><pre>{escape(step.observation)}</pre>')
    if step.cut:
        item.append(f'<div class="note">… {step.cut:,} more characters not shown</div>')
    if step.agent_error:
        item.append(
            f'<div class="label err">agent error</div><pre>{escape(step.agent_error)}</pre>'
        )
    item.append("</li>")
    return "".join(item)


def _outcome_html(o: Mapping[str, Any]) -> str:
    """The episode's answer, the target in words, and the scored prediction."""
    answer = json.dumps(o.get("answer"), ensure_ascii=False)
    target = o.get("target")
    if (
        o.get("kind") == "categorical"
        and isinstance(o.get("choices"), list)
        and isinstance(target, int)
    ):
        choices = o["choices"]
        target = choices[target] if 0 <= target < len(choices) else target
    elif o.get("kind") == "tests":
        target = "every hidden test passes"
    prediction = cut(json.dumps(o.get("prediction")), TEXT_LIMIT)[0]
    return (
        f'<div class="label">outcome</div><pre>answer: {escape(cut(answer, TEXT_LIMIT)[0])}\n'
        f"target: {escape(target)}\nprediction: {escape(prediction)}</pre>"
    )
