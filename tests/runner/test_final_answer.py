"""A final answer at the action cap: the env asks for it, the runner forces it, the record
says so; `--no-final-answer` keeps the old truncation, and the two never share a cell key."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hotmess.agents import make_agent
from hotmess.envs import make_env
from hotmess.envs.base import FINAL_ANSWER_NOTICE
from hotmess.errors import StoreError
from hotmess.runner import SweepConfig, run_episode, run_sweep
from hotmess.runner.cells import cell_key, single_cell
from hotmess.store import load_episodes

KVSUM = "hotmess/KVSum-v0"
CHASE = "hotmess/PointerChase-v0"

# A third-party agent that never submits: one that can give a final answer, one that cannot.
PLUGIN = '''
import json


class Stubborn:
    """Looks the same key up forever."""

    def reset(self, task, seed):
        self.key = task.prompt.splitlines()[1].split(", ")[0]

    def act(self, observation):
        return json.dumps({"tool": "lookup", "arguments": {"key": self.key}})


class StubbornButAnswers(Stubborn):
    """As Stubborn; asked for its final answer, submits the one value it keeps reading."""

    def final_answer(self, observation):
        value = int(observation.splitlines()[0].split(" = ")[1])
        return json.dumps({"tool": "submit", "arguments": {"answer": value}})
'''


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "stubborn_agents.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def sweep(out: Path, agents: list[str], **changes) -> list[dict]:
    base = dict(envs=[KVSUM], agents=agents, horizons=[1, 3], tasks=2, samples=2, out=out)
    run_sweep(SweepConfig(**{**base, **changes}))
    return load_episodes(out)


def test_the_env_announces_the_last_action_and_records_a_forced_submit():
    env = make_env(KVSUM, horizon=2, max_actions=3)
    _, info = env.reset(seed=1)
    assert not info["submit_only"] and not env.submit_only
    key = env.keys[0]
    observation, *_, info = env.step(json.dumps({"tool": "lookup", "arguments": {"key": key}}))
    assert not info["submit_only"] and FINAL_ANSWER_NOTICE not in observation
    observation, *_, info = env.step(json.dumps({"tool": "lookup", "arguments": {"key": key}}))
    assert info["submit_only"] and env.submit_only
    assert observation.endswith(FINAL_ANSWER_NOTICE)
    _, _, terminated, truncated, info = env.step(
        json.dumps({"tool": "submit", "arguments": {"answer": 5}})
    )
    assert terminated and not truncated
    assert info["outcome"].forced and info["outcome"].prediction == 5.0
    # A cap of one action: the prompt itself asks for the answer.
    prompt, info = make_env(KVSUM, horizon=2, max_actions=1).reset(seed=1)
    assert info["submit_only"] and prompt.endswith(FINAL_ANSWER_NOTICE)
    # Off: no notice, no flag, and a submit at the last action is not forced.
    env = make_env(KVSUM, horizon=1, max_actions=1, final_answer=False)
    prompt, info = env.reset(seed=1)
    assert not info["submit_only"] and FINAL_ANSWER_NOTICE not in prompt
    *_, info = env.step(json.dumps({"tool": "submit", "arguments": {"answer": 5}}))
    assert not info["outcome"].forced


def test_an_agent_that_never_submits_is_asked_for_its_final_answer(plugin, tmp_path):
    records = sweep(
        tmp_path / "on", ["stubborn_agents:StubbornButAnswers", "stubborn_agents:Stubborn"]
    )
    assert len(records) == 2 * 2 * 2 * 2
    for record in records:
        outcome, steps = record["outcome"], record["steps"]
        cap = 2 * (record["horizon"] + 1)
        assert outcome["n_actions"] == len(steps) == cap
        assert steps[-2]["observation"].endswith(FINAL_ANSWER_NOTICE)
        if record["agent"].endswith(":StubbornButAnswers"):
            assert json.loads(steps[-1]["action"])["tool"] == "submit"
            assert outcome["forced"] and not outcome["truncated"]
            value = int(steps[0]["observation"].split(" = ")[1])
            assert outcome["prediction"] == value
        else:  # no final_answer method: it just acts, and the episode is truncated
            assert steps[-1]["tool"] == "lookup"
            assert outcome["truncated"] and not outcome["forced"]
            assert outcome["prediction"] is None


def test_no_final_answer_truncates_as_before_under_the_old_keys(plugin, tmp_path):
    records = sweep(tmp_path / "off", ["stubborn_agents:StubbornButAnswers"], final_answer=False)
    for record in records:
        outcome = record["outcome"]
        assert outcome["truncated"] and not outcome["forced"] and outcome["prediction"] is None
        assert all(s["tool"] == "lookup" for s in record["steps"])
        assert not any(FINAL_ANSWER_NOTICE in s["observation"] for s in record["steps"])
        # The key an episode had before the setting existed (when every run was "off").
        assert record["key"] == cell_key(
            KVSUM, {}, record["horizon"], record["task_seed"], record["sample"], record["agent"]
        )
    meta = json.loads((tmp_path / "off" / "sweep.json").read_text())
    assert meta["config"]["final_answer"] is False


def test_the_setting_changes_every_cell_key_and_resume_never_mixes_them(tmp_path):
    on = {r["key"] for r in sweep(tmp_path / "on", ["noisy:p=0.3"])}
    off = {r["key"] for r in sweep(tmp_path / "off", ["noisy:p=0.3"], final_answer=False)}
    assert len(on) == len(off) == 8 and not on & off
    assert (
        single_cell(KVSUM, 2, 7, "oracle").key
        != single_cell(KVSUM, 2, 7, "oracle", final_answer=False).key
    )
    with pytest.raises(StoreError, match=r"final_answer: true -> false"):
        run_sweep(
            SweepConfig(
                envs=[KVSUM],
                agents=["noisy:p=0.3"],
                horizons=[1, 3],
                tasks=2,
                samples=2,
                out=tmp_path / "on",
                final_answer=False,
            ),
            resume=True,
        )


def test_scripted_agents_answer_when_forced_before_they_are_done():
    # A cap below the oracle's actions: KVSum at horizon 4 needs 5; with 3, two lookups.
    env = make_env(KVSUM, horizon=4, max_actions=3)
    for spec in ("oracle", "noisy:p=0"):
        episode = run_episode(env, make_agent(spec), 5, agent_seed=1)
        partial = sum(env.table[key] for key in env.keys[:2])
        assert episode.outcome.forced and episode.outcome.prediction == partial
        assert [s.tool for s in episode.steps] == ["lookup", "lookup", "submit"]
    # PointerChase: the colour of the node reached after the hops it had.
    chase = make_env(CHASE, horizon=4, max_actions=3)
    episode = run_episode(chase, make_agent("noisy:p=0"), 5, agent_seed=1)
    reached = re.search(r"-> \S+\. \S+ is (\w+)\.", episode.steps[1].observation).group(1)
    assert episode.outcome.forced and episode.outcome.answer == reached
    # The random agent submits random arguments (its only action here is the final one).
    for seed in range(5):
        kvsum = make_env(KVSUM, horizon=4, max_actions=1)
        episode = run_episode(kvsum, make_agent("random"), 5, agent_seed=seed)
        assert [s.tool for s in episode.steps] == ["submit"]
        assert episode.outcome.forced or episode.steps[0].tool_error


def test_the_default_cap_never_forces_the_oracle_or_the_noisy_agent(tmp_path):
    records = sweep(tmp_path / "run", ["oracle", "noisy:p=0.5"], horizons=[1, 4])
    assert not any(r["outcome"]["forced"] or r["outcome"]["truncated"] for r in records)


def test_score_json_and_table_show_the_forced_share(plugin, tmp_path):
    out = tmp_path / "run"
    sweep(out, ["stubborn_agents:StubbornButAnswers", "oracle"])
    command = [sys.executable, "-m", "hotmess", "score", str(out)]
    done = subprocess.run(
        [*command, "--json"], capture_output=True, text=True, check=True, timeout=120
    )
    shares = {(r["agent"], r["horizon"]): r["forced_share"] for r in json.loads(done.stdout)}
    assert shares == {
        ("stubborn_agents:StubbornButAnswers", 1): 1.0,
        ("stubborn_agents:StubbornButAnswers", 3): 1.0,
        ("oracle", 1): 0.0,
        ("oracle", 3): 0.0,
    }
    table = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
    assert "forced" in table.stdout
