"""Inspect eval logs as a hotmess run: one episode per sample and epoch, the chosen
scorer's score as the outcome, the tool calls as actions. Needs the `inspect` extra.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from hotmess.errors import ConfigError
from hotmess.importers.episodes import (
    ACTIONS,
    Imported,
    ImportResult,
    bounded,
    episode_key,
    stable_seed,
    write_run,
)
from hotmess.outcome import Outcome
from hotmess.store import StepRecord

VALUES = {"C": 1.0, "P": 0.5, "I": 0.0, "N": 0.0}
"""Inspect's CORRECT, PARTIAL, INCORRECT and NOANSWER, as its `value_to_float` maps them."""
WORDS = {"yes": 1.0, "true": 1.0, "no": 0.0, "false": 0.0}
"""Strings `value_to_float` reads as booleans (any case)."""
CENSORED_LIMITS = ("operator",)
"""Limits that stop a sample from outside (a person interrupted it): censored. Every other
limit (messages, tokens, turns, time, cost, context) is the agent running long or out of
budget, and counts against it, as hotmess's own action cap does."""
NOT_THE_AGENT = frozenset(
    {
        "max_retries",
        "timeout",
        "attempt_timeout",
        "stream_idle_timeout",
        "max_connections",
        "adaptive_connections",
        "cache",
        "cache_prompt",
        "batch",
        "extra_headers",
        "extra_body",
        "fallback_models",
    }
)
"""Generate-config fields about the connection, not the model's behaviour: left out of the
agent's name."""
_SAMPLE_FIELDS_SKIPPED = {"events", "store", "events_data", "timelines"}
"""Read from each sample: everything but these (the largest, and unused)."""
SAMPLE_BATCH = 100
"""Samples of an `.eval` log read at once: memory holds at most this many."""


class InspectImport(BaseModel):
    """How `hotmess import inspect` reads its logs."""

    model_config = ConfigDict(extra="forbid")

    scorer: str | None = None
    """The scorer whose score is the outcome; None: the first scorer of the first log."""
    score_key: str | None = None
    """For a scorer whose value is a dict of named values: the one to use."""
    horizon: str = ACTIONS
    """`actions` (each question's median tool calls, bucketed by powers of two) or the name
    of a sample metadata field or task argument that holds the horizon."""
    env: str | None = None
    """The env name of every episode; None: each log's task name."""
    agent: str | None = None
    """The agent name of every episode; None: each log's model and its generate config."""
    target_score: float = 1.0
    """The best score: numeric and correct/incorrect scores are scalar outcomes against it."""


def import_inspect(
    logs: Sequence[str | Path], out: str | Path, options: InspectImport, *, force: bool = False
) -> ImportResult:
    """Read Inspect eval logs (`.eval` or `.json`) into the run directory `out`."""
    if not logs:
        raise ConfigError("give at least one Inspect log")
    _require_extra()
    headers = [(Path(log), _read_header(Path(log))) for log in logs]
    scorer = _choose_scorer(headers, options.scorer)
    task_ids: dict[str, str] = {}
    config: dict[str, Any] = {
        "imported_from": "inspect",
        "sources": [str(path) for path, _ in headers],
        "scorer": scorer,
        "horizon": options.horizon,
        "evals": [
            {
                "task": h.eval.task,
                "model": h.eval.model,
                "eval_id": h.eval.eval_id,
                "status": h.status,
            }
            for _, h in headers
        ],
        "task_ids": task_ids,  # filled while reading: the seed of each non-integer sample id
    }
    notes = [
        f"outcome: scorer {scorer!r}"
        + (f", value {options.score_key!r}" if options.score_key else "")
    ]
    for path, header in headers:
        if header.status != "success":
            notes.append(f"{path}: status {header.status!r}, its samples so far are imported")
    invalidated: list[str] = []
    episodes = (
        episode
        for path, header in headers
        for episode in _episodes(path, header, scorer, options, task_ids, invalidated)
    )
    result = write_run(Path(out), episodes, config, force=force)
    if invalidated:
        notes.append(
            f"{len(invalidated)} sample(s) invalidated in Inspect left out (e.g. {invalidated[0]})"
        )
    if result.n_censored == result.n_episodes:
        notes.append(
            f"every episode is censored (see outcome.infra_error): nothing is left to score; "
            f"is {scorer!r} the scorer these samples were scored by?"
        )
    result.notes[:0] = notes
    return result


def _require_extra() -> None:
    try:
        import inspect_ai.log  # noqa: F401
    except ImportError:
        raise ConfigError(
            "importing Inspect logs needs inspect-ai: pip install 'hotmess[inspect]'"
        ) from None


def _read_header(path: Path) -> Any:
    from inspect_ai.log import read_eval_log

    if not path.is_file():
        what = "not found" if not path.exists() else "not a file"
        raise ConfigError(
            f"Inspect log {path} {what}: give a .eval or .json log from `inspect eval`"
        )
    try:
        header = read_eval_log(str(path), header_only=True)
    except Exception as exc:  # inspect raises zip, JSON, validation and OS errors alike
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"{path} is not a readable Inspect eval log ({reason[:200]}): give a .eval or "
            ".json log written by `inspect eval`"
        ) from None
    results = header.results
    if results is not None and results.total_samples == 0:
        raise ConfigError(
            f"{path} holds no samples: the eval ran none, so there is nothing to import"
        )
    return header


def _scorer_names(header: Any) -> list[str]:
    names = [scorer.name for scorer in header.eval.scorers or []]
    if not names and header.results is not None:
        names = [score.scorer for score in header.results.scores]
    return list(dict.fromkeys(names))


def _choose_scorer(headers: Sequence[tuple[Path, Any]], wanted: str | None) -> str:
    """`wanted`, or the first log's first scorer; every log must have it."""
    first_path, first = headers[0]
    names = _scorer_names(first)
    if not names:
        raise ConfigError(
            f"{first_path} has no scores: score it first (`inspect score {first_path}`)"
        )
    scorer = wanted or names[0]
    for path, header in headers:
        known = _scorer_names(header)
        if scorer not in known:
            raise ConfigError(
                f"{path} has no scorer {scorer!r}; its scorers: {', '.join(known) or 'none'} "
                "(pick one with --scorer)"
            )
    return scorer


def _episodes(
    path: Path,
    header: Any,
    scorer: str,
    options: InspectImport,
    task_ids: dict[str, str],
    invalidated: list[str],
) -> Iterator[Imported]:
    spec = header.eval
    env = options.env or spec.task
    agent = options.agent or agent_name(spec.model, spec.model_generate_config)
    count = 0
    tasks: dict[int | str, int] = {}  # the task index: sample ids in the order first read
    for sample in _readable(_samples(path, header), path):
        count += 1
        if sample.invalidation is not None:
            invalidated.append(f"{sample.id}/{sample.epoch}")
            continue
        seed = stable_seed(sample.id)
        if not isinstance(sample.id, int):
            task_ids[str(seed)] = str(sample.id)
        steps = transcript(sample.messages, spec.model, sample.model_usage)
        record = {
            # A sample's uuid follows it into the log of a retry: the same run read twice
            # is written once, two runs of one eval (epochs 1..5 each) are both kept.
            "key": episode_key("inspect", sample.uuid or [spec.eval_id, sample.id, sample.epoch]),
            "env": env,
            "task_seed": seed,
            "task_index": tasks.setdefault(sample.id, len(tasks)),
            "agent": agent,
            "agent_seed": 0,  # Inspect does not seed samples: the epoch tells them apart
            "outcome": sample_outcome(sample, scorer, options, len(steps)),
            "steps": steps,
            "prompt": bounded(_input_text(sample.input)),
            "system_prompt": _system_prompt(sample.messages),
            "sandbox": "inspect",
            "started_at": _timestamp(sample.started_at),
            "duration_s": float(sample.total_time or 0.0),
        }
        yield Imported(record, horizon=_horizon(sample, spec, options.horizon, path))
    if count == 0:
        raise ConfigError(
            f"{path} holds no samples (an eval run with --no-log-samples keeps none): "
            "import a log that has its samples"
        )


def _samples(path: Path, header: Any) -> Iterator[Any]:
    """The log's samples, sample id by sample id, each id's epochs in order. An `.eval` log
    is read a batch at a time (its samples are separate members of the zip, read through
    one shared reader), so memory does not grow with the log; a `.json` log is one JSON
    document, which Inspect can only read whole."""
    from inspect_ai.log import (
        read_eval_log,
        read_eval_log_sample_summaries,
        read_eval_log_samples_by_id,
    )

    listed = header.eval.dataset.sample_ids or []
    position = {sample_id: index for index, sample_id in enumerate(listed)}

    def order(sample_id: int | str, epoch: int) -> tuple[Any, ...]:
        return (position.get(sample_id, len(position)), str(sample_id), epoch)

    if path.suffix != ".eval":
        samples = read_eval_log(str(path), resolve_attachments="core").samples or []
        yield from sorted(samples, key=lambda s: order(s.id, s.epoch))
        return
    summaries = read_eval_log_sample_summaries(str(path))
    wanted = sorted(((s.id, s.epoch) for s in summaries), key=lambda pair: order(*pair))
    for start in range(0, len(wanted), SAMPLE_BATCH):
        yield from read_eval_log_samples_by_id(
            str(path),
            wanted[start : start + SAMPLE_BATCH],
            resolve_attachments="core",
            exclude_fields=_SAMPLE_FIELDS_SKIPPED,
        )


def _readable(samples: Iterator[Any], path: Path) -> Iterator[Any]:
    """`samples`, with a sample the log cannot give (a corrupt or cut-off file) as an error
    naming the log rather than Inspect's traceback."""
    while True:
        try:
            sample = next(samples)
        except StopIteration:
            return
        except Exception as exc:  # zip, JSON and validation errors alike
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(
                f"{path}: a sample cannot be read ({reason[:200]}); the log is damaged"
            ) from None
        yield sample


def agent_name(model: str, config: Any) -> str:
    """`model,key=value,...`: the model and the generate settings that shape its answers."""
    settings = []
    values = config.model_dump(exclude_none=True) if config is not None else {}
    for key, value in sorted(values.items()):
        if key in NOT_THE_AGENT or isinstance(value, (dict, list)):
            continue
        text = str(value)
        if len(text) <= 40 and "," not in text:  # a long system message would swamp tables
            settings.append(f"{key}={text}")
    return ",".join([model, *settings])


# --------------------------------------------------------------------------- outcomes


def sample_outcome(sample: Any, scorer: str, options: InspectImport, n_actions: int) -> Outcome:
    """The outcome of one sample: censored for an Inspect error, a choice for a
    single-answer multiple-choice question, else the score as a scalar against the best."""
    choices = sample.choices or []
    gold = _single_letter(sample.target, len(choices))
    kind: dict[str, Any] = (
        {"kind": "scalar", "target": options.target_score}
        if gold is None
        else {"kind": "categorical", "target": gold, "choices": _letters(len(choices))}
    )
    limit = sample.limit
    if sample.error is not None:
        message = sample.error.message.strip().splitlines()
        reason = message[0][:300] if message else "error"
        return Outcome(**kind, infra_error=f"Inspect sample error: {reason}", n_actions=n_actions)
    if limit is not None and limit.type in CENSORED_LIMITS:
        reason = f"Inspect sample stopped by the {limit.type}"
        return Outcome(**kind, infra_error=reason, n_actions=n_actions)
    truncated = limit is not None
    score = _score(sample.scores or {}, scorer)
    if score is None:
        if not truncated:
            reason = f"no score from scorer {scorer!r} (it did not run on this sample)"
            return Outcome(**kind, infra_error=reason, n_actions=n_actions)
        # A limit hit before scoring: a failure, with no answer (categorical: uniform).
        return Outcome(
            **kind,
            prediction=0.0 if gold is None else None,
            answer=f"{limit.type} limit ({limit.limit:g}) reached before scoring",
            n_actions=n_actions,
            truncated=True,
        )
    value = _value(score.value, scorer, options.score_key)
    answer = bounded(score.answer if score.answer is not None else str(score.value), 500)
    if gold is None:
        prediction: float | list[float] | None = value
        success = value >= options.target_score
    else:
        picked = _single_letter(score.answer or "", len(choices))
        prediction = None if picked is None else [float(i == picked) for i in range(len(choices))]
        success = value >= 1.0
    return Outcome(
        **kind,
        prediction=prediction,
        answer=answer,
        success=success,
        n_actions=n_actions,
        truncated=truncated,
    )


def _score(scores: Mapping[str, Any], scorer: str) -> Any:
    """The sample's score by `scorer`: by its name, or by its name without a package prefix
    (`pkg/name`), as the log's header and its samples may each name it."""
    if scorer in scores:
        return scores[scorer]
    bare = scorer.rpartition("/")[2]
    return next((v for k, v in scores.items() if k.rpartition("/")[2] == bare), None)


def _value(value: Any, scorer: str, key: str | None) -> float:
    """A score value as a number, by Inspect's `value_to_float` conventions."""
    if isinstance(value, Mapping):
        if key is None or key not in value:
            raise ConfigError(
                f"scorer {scorer!r} gives several values ({', '.join(map(str, value))}): "
                "pick one with --score-key"
            )
        value = value[key]
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        number = float(value)
        if not math.isfinite(number):
            raise ConfigError(f"scorer {scorer!r} gave a non-finite value {value!r}")
        return number
    if isinstance(value, str):
        text = value.strip()
        if text in VALUES:
            return VALUES[text]
        if text.lower() in WORDS:
            return WORDS[text.lower()]
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            return number
    raise ConfigError(
        f"scorer {scorer!r} gave {value!r}, which is not C/I/P/N, a boolean or a number: "
        "pick another scorer with --scorer"
    )


_LETTERS = re.compile(r"[A-Z]")


def _letters(n: int) -> list[str]:
    return [chr(ord("A") + i) for i in range(n)]


def _single_letter(text: Any, n_choices: int) -> int | None:
    """The index of the one choice letter in `text` ("B", "B," or ["B"]), None when it
    names none, several, or one beyond the choices."""
    if n_choices == 0:
        return None
    if isinstance(text, list):
        text = ",".join(map(str, text))
    tokens = [token for token in re.split(r"[\s,]+", str(text).strip()) if token]
    if len(tokens) != 1 or not _LETTERS.fullmatch(tokens[0]):
        return None
    index = ord(tokens[0]) - ord("A")
    return index if index < n_choices else None


# --------------------------------------------------------------------------- transcripts


def transcript(messages: Sequence[Any], model: str, usage: Mapping[str, Any]) -> list[StepRecord]:
    """One step per tool call (the tool message as its observation), or per assistant
    message when the sample used no tools. Texts are bounded; the sample's tokens (Inspect
    counts them per sample, not per message) go on its first step."""
    calls = any(m.role == "assistant" and m.tool_calls for m in messages)
    results = {m.tool_call_id: m for m in messages if m.role == "tool"}
    steps: list[StepRecord] = []
    said: list[str] = []  # what the model said since its last action
    for index, message in enumerate(messages):
        if message.role != "assistant":
            continue
        text = message.text.strip()
        if not calls:
            reply = next((m for m in messages[index + 1 :] if m.role == "user"), None)
            steps.append(StepRecord(action=bounded(text), tool=None,
                                    observation=bounded(reply.text) if reply else ""))  # fmt: skip
            continue
        if text:
            said.append(text)
        for call in message.tool_calls or []:
            result = results.get(call.id)
            steps.append(
                StepRecord(
                    action=bounded(
                        json.dumps({"tool": call.function, "arguments": call.arguments})
                    ),
                    observation=bounded(result.text) if result is not None else "",
                    tool=call.function,
                    tool_error=bool(call.parse_error) or bool(result is not None and result.error),
                    agent_message=bounded("\n".join(said)) if said else None,
                )
            )
            said = []
    if said and steps:  # the final answer, after the last tool call
        last = steps[-1]
        steps[-1] = last.model_copy(
            update={"agent_message": bounded("\n".join(filter(None, [last.agent_message, *said])))}
        )
    if steps:
        tokens_in, tokens_out, cost = _usage(usage, model)
        steps[0] = steps[0].model_copy(
            update={"tokens_in": tokens_in, "tokens_out": tokens_out, "cost": cost}
        )
    return steps


def _usage(usage: Mapping[str, Any], model: str) -> tuple[int, int, float | None]:
    """(input tokens with cache reads and writes, output tokens, cost) of the eval's model,
    or of every model when the sample names it under another key."""
    chosen = [usage[model]] if model in usage else list(usage.values())
    tokens_in = sum(
        u.input_tokens + (u.input_tokens_cache_read or 0) + (u.input_tokens_cache_write or 0)
        for u in chosen
    )
    costs = [u.total_cost for u in chosen]
    cost = math.fsum(costs) if costs and all(c is not None for c in costs) else None
    return tokens_in, sum(u.output_tokens for u in chosen), cost


def _input_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "\n\n".join(f"{m.role}: {m.text}" for m in value)


def _system_prompt(messages: Sequence[Any]) -> str | None:
    system = next((m for m in messages if m.role == "system"), None)
    return bounded(system.text) if system is not None else None


def _timestamp(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return 0.0
    return 0.0


def _horizon(sample: Any, spec: Any, field: str, path: Path) -> int | None:
    """The horizon a sample's metadata or its task's arguments name, None for `actions`."""
    if field == ACTIONS:
        return None
    metadata = sample.metadata or {}
    value = metadata.get(field, (spec.task_args or {}).get(field))
    if value is None:
        known = ", ".join(sorted(metadata)) or "none"
        raise ConfigError(
            f"{path}: sample {sample.id!r} has no metadata field or task argument {field!r} "
            f"(its metadata: {known}); pass --horizon actions or a field every sample has"
        )
    try:
        horizon = int(value)
        exact = float(value) == horizon
    except (TypeError, ValueError):
        exact = False
    if not exact or horizon < 1:
        raise ConfigError(
            f"{path}: sample {sample.id!r} has {field}={value!r}; a horizon is a whole number of 1 or more"
        )
    return horizon
