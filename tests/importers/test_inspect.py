"""`hotmess import inspect` on real Inspect evals (mockllm, offline, epochs=5): the numbers
of the imported run against a recomputation from the log written here, independently of
hotmess's scoring; the outcome kinds, transcripts, limits, errors and re-imports."""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# The dev extra installs Inspect; in CI (HOTMESS_REQUIRE_SANDBOXES=1) a missing one is an
# import error that fails the run, not a skip.
if os.environ.get("HOTMESS_REQUIRE_SANDBOXES") != "1":
    pytest.importorskip("inspect_ai")

from clirun import hotmess
from imported_runs import cli, per_question
from inspect_tasks import (
    ARITHMETIC,
    CHOICE_QUESTIONS,
    EPOCHS,
    TOOL_CALLS,
    arithmetic_log,
    choice_log,
    tool_log,
)

from hotmess.store import iter_records

AGENT = "mockllm/model,temperature=0.7"


def imported(log: Path, out: Path, *args: str) -> Path:
    result = cli("import", "inspect", log, "--out", out, *args)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The real evals, run once: arithmetic (match + closeness), choice, tools, tools with a
    message limit."""
    root = tmp_path_factory.mktemp("inspect-logs")
    return {
        "arithmetic": arithmetic_log(root / "arithmetic"),
        "choice": choice_log(root / "choice"),
        "tools": tool_log(root / "tools"),
        "limited": tool_log(root / "limited", message_limit=10),
    }


def log_samples(log: Path) -> list[Any]:
    from inspect_ai.log import read_eval_log

    return list(read_eval_log(str(log)).samples or [])


# --------------------------------------------------------------------------- the numbers


def test_correct_incorrect_bias_and_variance_match_a_recomputation_from_the_log(
    logs: dict[str, Path], tmp_path: Path
):
    run = tmp_path / "run"
    result = hotmess("import", "inspect", logs["arithmetic"], "--out", run)
    assert result.returncode == 0, result.stderr
    assert "outcome: scorer 'match'" in result.stdout
    # Recomputed from the log alone: C is 1, I is 0, the best score 1; errored samples out.
    values: dict[str, list[float]] = defaultdict(list)
    for sample in log_samples(logs["arithmetic"]):
        if sample.error is None:
            values[str(sample.id)].append(1.0 if sample.scores["match"].value == "C" else 0.0)
    assert len(values["a4"]) == EPOCHS - 1 and len(values["a1"]) == EPOCHS
    rows = per_question(run)
    assert set(rows) == set(ARITHMETIC)
    nonzero = {"bias": 0, "variance": 0}
    for sample_id, ys in values.items():
        y = np.asarray(ys)
        bias, variance = (y.mean() - 1.0) ** 2, ((y - y.mean()) ** 2).mean()
        row = rows[sample_id]["mse"]
        assert row.n_samples == len(ys)
        assert row.bias == pytest.approx(bias, abs=1e-12)
        assert row.variance == pytest.approx(variance, abs=1e-12)
        assert row.error == pytest.approx(((y - 1.0) ** 2).mean(), abs=1e-12)
        nonzero["bias"] += bias > 0
        nonzero["variance"] += variance > 0
    assert nonzero["bias"] >= 2 and nonzero["variance"] >= 2  # the script varies both
    # The pooled cell of `hotmess score --json` is the mean over the questions.
    scored = hotmess("score", run, "--json")
    assert scored.returncode == 0, scored.stderr
    (cell,) = [r for r in json.loads(scored.stdout) if r["metric"] == "mse"]
    assert (cell["env"], cell["agent"], cell["horizon"]) == ("task", AGENT, 1)
    assert cell["infra_errors"] == 1 and cell["n_tasks"] == 4
    means = [((np.asarray(v) - 1) ** 2).mean() for v in values.values()]
    assert cell["error"] == pytest.approx(float(np.mean(means)), abs=1e-12)


def test_a_numeric_scorer_is_a_scalar_against_the_best_score(logs: dict[str, Path], tmp_path: Path):
    run = imported(logs["arithmetic"], tmp_path / "run", "--scorer", "closeness")
    values: dict[str, list[float]] = defaultdict(list)
    for sample in log_samples(logs["arithmetic"]):
        if sample.error is None:
            values[str(sample.id)].append(float(sample.scores["closeness"].value))
    rows = per_question(run)
    for sample_id, ys in values.items():
        y = np.asarray(ys)
        row = rows[sample_id]["mse"]
        assert row.bias == pytest.approx((y.mean() - 1.0) ** 2, abs=1e-12)
        assert row.variance == pytest.approx(((y - y.mean()) ** 2).mean(), abs=1e-12)
    assert any(0 < v < 1 for ys in values.values() for v in ys)  # not just 0/1
    outcomes = [r.outcome for r in iter_records(run) if r.outcome.infra_error is None]
    assert {o.kind for o in outcomes} == {"scalar"}
    assert sum(o.success for o in outcomes) == sum(v == 1.0 for ys in values.values() for v in ys)


def _kl(p: np.ndarray, target: int, delta: float = 1e-12) -> tuple[float, float, float]:
    """The KL decomposition of one question's [samples, choices] probabilities, as the
    paper defines it (DESIGN, Scoring), written out here."""
    smooth = (p + delta) / (1 + p.shape[1] * delta)
    log_mean = np.log(smooth).mean(axis=0)
    centre = np.exp(log_mean) / np.exp(log_mean).sum()
    bias = -math.log(centre[target])
    variance = float(np.mean([(centre * (np.log(centre) - np.log(q))).sum() for q in smooth]))
    error = float(np.mean(-np.log(smooth[:, target])))
    return bias, variance, error


def test_multiple_choice_is_a_choice_outcome_decomposed_over_the_choices(
    logs: dict[str, Path], tmp_path: Path
):
    run = imported(logs["choice"], tmp_path / "run")
    rows = per_question(run)
    answers: dict[str, list[np.ndarray]] = defaultdict(list)
    for sample in log_samples(logs["choice"]):
        letters = sample.scores["choice"].answer
        vector = np.full(4, 0.25)  # no letter given: the uniform distribution (DESIGN)
        if letters:
            vector = np.eye(4)[ord(letters) - ord("A")]
        answers[str(sample.id)].append(vector)
    assert any(np.allclose(v, 0.25) for v in answers["m3"])  # "I am not sure"
    for sample_id, vectors in answers.items():
        p = np.asarray(vectors)
        target = ord(CHOICE_QUESTIONS[sample_id][2]) - ord("A")
        gold = np.eye(4)[target]
        mean = p.mean(axis=0)
        brier = rows[sample_id]["brier"]
        assert brier.bias == pytest.approx(((gold - mean) ** 2).sum(), abs=1e-12)
        assert brier.variance == pytest.approx(((p - mean) ** 2).sum(axis=1).mean(), abs=1e-12)
        bias, variance, error = _kl(p, target)
        kl = rows[sample_id]["kl"]
        assert kl.bias == pytest.approx(bias, rel=1e-9, abs=1e-9)
        assert kl.variance == pytest.approx(variance, rel=1e-9, abs=1e-9)
        assert kl.error == pytest.approx(error, rel=1e-9)
    assert rows["m1"]["kl"].error == pytest.approx(0.0, abs=1e-9)
    assert rows["m2"]["kl"].variance > 0 and rows["m3"]["kl"].bias > 0
    record = next(iter_records(run))
    assert record.outcome.kind == "categorical" and record.outcome.choices == list("ABCD")


# --------------------------------------------------------------------------- episodes


def test_tool_calls_are_the_actions_and_the_transcript(logs: dict[str, Path], tmp_path: Path):
    run = imported(logs["tools"], tmp_path / "run")
    records = list(iter_records(run))
    assert len(records) == 3 * EPOCHS
    samples = {(s.id, s.epoch): s for s in log_samples(logs["tools"])}
    by_question: dict[int, list[int]] = defaultdict(list)
    for record in records:
        by_question[record.task_seed].append(record.outcome.n_actions)
        assert record.outcome.n_actions == len(record.steps)
        assert all(step.tool == "add" for step in record.steps)
        first = json.loads(record.steps[0].action)
        assert first["tool"] == "add" and set(first["arguments"]) == {"a", "b"}
        assert record.steps[0].observation == str(first["arguments"]["a"] + first["arguments"]["b"])
        assert (record.steps[0].tokens_in, record.steps[0].tokens_out) > (0, 0)
        assert record.steps[-1].agent_message is not None  # the final answer is kept
    counts = sorted(sorted(v) for v in by_question.values())
    assert counts == sorted(sorted(v) for v in TOOL_CALLS.values())
    # The tokens are the log's: the first step of each episode carries its sample's usage.
    total_in = sum(r.steps[0].tokens_in for r in records)
    assert total_in == sum(u.input_tokens for s in samples.values() for u in s.model_usage.values())
    # Horizons: each question's median actions taken, up to a power of two.
    horizons = {r.task_seed: r.horizon for r in records}
    for seed, actions in by_question.items():
        median = float(np.median(actions))
        assert horizons[seed] == 2 ** math.ceil(math.log2(max(median, 1)))


def test_horizon_from_a_metadata_field(logs: dict[str, Path], tmp_path: Path):
    run = imported(logs["tools"], tmp_path / "run", "--horizon", "horizon")
    assert sorted({r.horizon for r in iter_records(run)}) == [2, 4, 8]
    missing = cli("import", "inspect", logs["tools"], "--out", tmp_path / "x", "--horizon", "level")
    assert missing.returncode == 2
    assert "no metadata field or task argument 'level'" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_a_limit_counts_against_the_agent_and_an_error_is_censored(
    logs: dict[str, Path], tmp_path: Path
):
    limited = list(iter_records(imported(logs["limited"], tmp_path / "limited")))
    hit = [r for r in limited if r.outcome.truncated]
    expected = [s for s in log_samples(logs["limited"]) if s.limit is not None]
    assert len(hit) == len(expected) > 0
    assert all(r.outcome.infra_error is None and not r.outcome.success for r in hit)
    errored = [
        r for r in iter_records(imported(logs["arithmetic"], tmp_path / "errored"))
        if r.outcome.infra_error
    ]  # fmt: skip
    assert len(errored) == 1
    assert errored[0].outcome.infra_error.startswith("Inspect sample error: RuntimeError('mock API")


# --------------------------------------------------------------------------- re-imports, errors


def test_reimporting_refuses_without_force_and_replaces_with_it(
    logs: dict[str, Path], tmp_path: Path
):
    run = imported(logs["arithmetic"], tmp_path / "run")
    first = (run / "episodes.jsonl").read_bytes()
    again = cli("import", "inspect", logs["arithmetic"], "--out", run)
    assert again.returncode == 2 and "pass --force" in again.stderr
    assert (run / "episodes.jsonl").read_bytes() == first
    # The same log twice in one import is written once: keys are the log's sample ids.
    twice = cli(
        "import", "inspect", logs["arithmetic"], logs["arithmetic"], "--out", run, "--force"
    )
    assert twice.returncode == 0, twice.stderr
    assert "20 duplicates skipped" in twice.stdout
    assert (run / "episodes.jsonl").read_bytes() == first
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left
    # --force never replaces a directory hotmess did not write.
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    refused = cli("import", "inspect", logs["arithmetic"], "--out", other, "--force")
    assert refused.returncode == 2 and "not a hotmess run directory" in refused.stderr
    assert (other / "keep.txt").read_text() == "mine"


def test_a_json_log_imports_as_its_eval_log_does(logs: dict[str, Path], tmp_path: Path):
    from inspect_ai.log import read_eval_log, write_eval_log

    json_log = tmp_path / "arithmetic.json"
    write_eval_log(read_eval_log(str(logs["arithmetic"])), str(json_log))
    from_eval = imported(logs["arithmetic"], tmp_path / "from-eval")
    from_json = imported(json_log, tmp_path / "from-json")
    fields = ("key", "task_seed", "sample", "horizon", "outcome", "steps", "prompt")
    for a, b in zip(iter_records(from_eval), iter_records(from_json), strict=True):
        assert a.model_dump(include=set(fields)) == b.model_dump(include=set(fields))


def test_samples_invalidated_in_inspect_are_left_out(logs: dict[str, Path], tmp_path: Path):
    from inspect_ai.log import ProvenanceData, invalidate_samples, read_eval_log, write_eval_log

    log = read_eval_log(str(logs["choice"]))
    dropped = [s.uuid for s in log.samples if s.id == "m2" and s.epoch in (1, 2)]
    edited = invalidate_samples(log, dropped, ProvenanceData(author="test", reason="bad"))
    path = tmp_path / "invalidated.eval"
    write_eval_log(edited, str(path))
    result = cli("import", "inspect", path, "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert "2 sample(s) invalidated in Inspect left out" in result.stdout
    rows = per_question(tmp_path / "run")
    assert rows["m2"]["kl"].n_samples == EPOCHS - 2 and rows["m1"]["kl"].n_samples == EPOCHS


def _without_samples(path: Path, logs: dict[str, Path], *, ran_none: bool) -> Path:
    """The choice log without its samples: an eval that ran none, or one run with
    --no-log-samples (its results still count them)."""
    from inspect_ai.log import read_eval_log, write_eval_log

    log = read_eval_log(str(logs["choice"]))
    log.samples = []
    if ran_none:
        log.results.total_samples = 0
        log.results.completed_samples = 0
    write_eval_log(log, str(path))
    return path


def test_bad_input_is_one_line_and_exit_2(logs: dict[str, Path], tmp_path: Path):
    text = tmp_path / "notes.eval"
    text.write_text("not a log")
    cases = [
        ((tmp_path / "missing.eval",), "not found"),
        ((text,), "is not a readable Inspect eval log"),
        ((logs["choice"], "--scorer", "nope"), "has no scorer 'nope'; its scorers: choice"),
        ((_without_samples(tmp_path / "none.eval", logs, ran_none=True),), "holds no samples"),
        ((_without_samples(tmp_path / "unlogged.eval", logs, ran_none=False),), "--no-log-samples"),
    ]
    for number, (args, message) in enumerate(cases):
        run = hotmess if number == 0 else cli  # one as a user runs it, the rest in-process
        result = run("import", "inspect", *args, "--out", tmp_path / "out")
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, result.stderr
        assert result.stderr.startswith("hotmess: error: ")
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_the_import_commands_have_help_with_an_example():
    for command in ("inspect", "harbor"):
        result = cli("import", command, "--help")
        assert result.returncode == 0 and "Example" in result.stdout
        assert f"hotmess import {command}" in result.stdout
