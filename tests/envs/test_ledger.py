"""Ledger in real sandboxes: the oracle at every horizon, one answer per hop, the query tool
(read-only, errors as observations, any string safe), noisy success falling with the
horizon, and the same task and transcript for a seed on any machine and backend."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

from hotmess import make_agent, run_episode
from hotmess.envs import make_env
from hotmess.envs.base import tool_call
from hotmess.envs.ledger import HOP_KINDS, HOPS, LedgerEnv
from hotmess.runner.cells import agent_seed

ENV_ID = "hotmess/Ledger-v0"

#: The test's own reading of each hop, independent of the env's SQL: candidate rows
#: (id, score) and whether the answer is the highest (+1), the lowest (-1) or the only row (0).
CHECKS: dict[str, tuple[str, int]] = {
    "richest": ("SELECT id, balance FROM accounts WHERE owner_id = ?", 1),
    "oldest": ("SELECT id, opened FROM accounts WHERE owner_id = ?", -1),
    "manager": ("SELECT manager_id, 0 FROM people WHERE id = ? AND manager_id IS NOT NULL", 0),
    "top_report": ("SELECT id, salary FROM people WHERE manager_id = ?", 1),
    "next_salary": (
        "SELECT o.id, o.salary FROM people p, people o "
        "WHERE p.id = ? AND o.city = p.city AND o.salary > p.salary",
        -1,
    ),
    "owner": ("SELECT owner_id, 0 FROM accounts WHERE id = ?", 0),
    "largest_out": ("SELECT to_account, amount FROM transfers WHERE from_account = ?", 1),
    "largest_in": ("SELECT from_account, amount FROM transfers WHERE to_account = ?", 1),
}


def run_oracle(env: LedgerEnv, seed: int, mistakes: dict[int, float] | None = None):
    """Play the oracle; return the last step's info and every observation."""
    observation, _ = env.reset(seed=seed)
    oracle, observations = env.oracle(), [observation]
    while True:
        action = oracle.act(observation, mistake=(mistakes or {}).get(len(observations) - 1))
        observation, _, terminated, truncated, info = env.step(action)
        observations.append(observation)
        if terminated or truncated:
            return info, observations


def host_db(env: LedgerEnv, tmp_path) -> sqlite3.Connection:
    path = tmp_path / f"ledger-{len(list(tmp_path.iterdir()))}.db"
    path.write_bytes(env.db_bytes)
    return sqlite3.connect(path)


def generate(horizon: int, seed: int, difficulty: str = "medium") -> LedgerEnv:
    """The task for a seed without a sandbox (generation is pure Python)."""
    env = LedgerEnv(horizon, difficulty=difficulty)
    env._generate(seed)
    return env


@pytest.mark.parametrize("horizon", [1, 2, 4, 8, 16, 32, 64])
def test_oracle_succeeds_at_every_horizon(sandbox_kind, horizon):
    env = make_env(ENV_ID, horizon=horizon, sandbox=sandbox_kind)
    try:
        for seed in (0, 1) if horizon <= 8 else (horizon,):
            info, _ = run_oracle(env, seed)
            outcome = info["outcome"]
            assert outcome.success, outcome
            assert outcome.n_actions == horizon + 1 and not outcome.truncated
            assert outcome.prediction == outcome.target == env.values[env.walk[-1]]
    finally:
        env.close()


@pytest.mark.parametrize("difficulty", ["easy", "medium", "hard"])
def test_every_hop_has_exactly_one_answer(difficulty, tmp_path):
    for horizon in (1, 3, 8, 24, 64):
        for seed in range(6):
            env = generate(horizon, seed, difficulty)
            db = host_db(env, tmp_path)
            (start_rows,) = db.execute(
                "SELECT COUNT(*) FROM people WHERE name = ?", (env.start_name,)
            )
            assert start_rows == (1,)
            assert len(set(env.walk)) == horizon + 1 and set(env.hops) <= set(HOP_KINDS[difficulty])
            for here, kind, there in zip(env.walk[:-1], env.hops, env.walk[1:], strict=True):
                sql, best = CHECKS[kind]
                rows = sorted(db.execute(sql, (here,)), key=lambda row: row[1], reverse=best > 0)
                assert rows, f"seed {seed}: hop {kind} from {here} has no answer"
                if best == 0:
                    assert len(rows) == 1
                else:  # the best score is strictly better than every other candidate's
                    assert all(row[1] != rows[0][1] for row in rows[1:]), (seed, kind, rows[:3])
                assert rows[0][0] == there, (seed, kind)
            db.close()


def test_a_wrong_hop_almost_always_changes_the_final_number(tmp_path):
    """Replay the oracle against the host copy of the database with one mistake."""
    changed = total = 0
    for seed in range(8):
        env = generate(16, seed)
        db = host_db(env, tmp_path)
        for hop in range(16):
            oracle, observation = env.oracle(), ""
            for step in range(17):
                call = json.loads(oracle.act(observation, mistake=0.3 if step == hop else None))
                if call["tool"] == "submit":
                    break
                cursor = db.execute(call["arguments"]["sql"])
                header = "|".join(d[0] for d in cursor.description)
                observation = "\n".join([header, *("|".join(map(str, row)) for row in cursor)])
            changed += call["arguments"]["answer"] != env.values[env.walk[-1]]
            total += 1
        db.close()
    assert changed / total > 0.9


def test_check_env_passes(sandbox_kind):
    env = gym.make(ENV_ID, horizon=2, sandbox=sandbox_kind).unwrapped
    try:
        check_env(env, skip_render_check=False)
    finally:
        env.close()


def test_the_query_tool(sandbox_kind):
    env = make_env(ENV_ID, horizon=3, sandbox=sandbox_kind, max_actions=100)
    try:
        env.reset(seed=7)
        n_people = len(env.tables["people"])

        def query(sql: str) -> tuple[str, bool]:
            observation, _, _, _, info = env.step(tool_call("query", sql=sql))
            return observation, info["error"]

        assert query("SELECT COUNT(*) AS n FROM people") == (f"n\n{n_people}\n", False)
        assert query("SELECT id FROM people WHERE id = -1") == ("id\n(no rows)\n", False)
        observation, error = query("SELEC * FROM people")
        assert error and observation.startswith("Error:") and "syntax error" in observation
        observation, error = query("DELETE FROM people")
        assert error and "readonly" in observation
        assert query("SELECT COUNT(*) AS n FROM people") == (f"n\n{n_people}\n", False)
        observation, error = query(
            f"SELECT 'it''s; \"odd\" $(touch pwned) `touch pwned` \\' AS s,\n"
            f"  name\nFROM people WHERE name = '{env.start_name}';\n"
        )
        assert not error
        assert (
            observation
            == f's|name\nit\'s; "odd" $(touch pwned) `touch pwned` \\|{env.start_name}\n'
        )
        assert "pwned" not in env.step(tool_call("bash", command="ls"))[0]
        observation, error = query("SELECT * FROM transfers")
        lines = observation.splitlines()
        assert not error and len(lines) == 202 and lines[-1].startswith("(only the first 200 rows")
        assert query("SELECT 1; SELECT 2")[1]  # one statement at a time
    finally:
        env.close()


def test_answers_are_scored_exactly_and_a_truncated_episode_has_no_prediction(sandbox_kind):
    env = make_env(ENV_ID, horizon=2, sandbox=sandbox_kind, max_actions=2)
    try:
        env.reset(seed=3)
        target = env.values[env.walk[-1]]
        observation, _, terminated, _, info = env.step(tool_call("submit", answer="a lot"))
        assert observation.startswith("Error:") and not terminated
        _, _, terminated, _, info = env.step(tool_call("submit", answer=f"{target + 1:,}"))
        assert terminated and not info["outcome"].success
        assert info["outcome"].prediction == target + 1
        env.reset(seed=3)
        env.step(tool_call("query", sql="SELECT 1"))
        _, _, terminated, truncated, info = env.step(tool_call("query", sql="SELECT 1"))
        assert truncated and not terminated and info["outcome"].prediction is None
        assert info["outcome"].target == target
    finally:
        env.close()


@pytest.mark.bwrap
@pytest.mark.slow
def test_noisy_success_falls_with_the_horizon(bwrap_ready):
    rates = {}
    for horizon in (1, 16):
        env = make_env(ENV_ID, horizon=horizon, sandbox="bwrap")
        try:
            records = [
                run_episode(
                    env, make_agent("noisy:p=0.3"), seed, agent_seed=agent_seed(seed, horizon, 0)
                )
                for seed in range(20)
            ]
        finally:
            env.close()
        assert not any(record.outcome.infra_error for record in records)
        rates[horizon] = sum(record.outcome.success for record in records) / len(records)
    assert rates[1] >= 0.5 and rates[16] <= 0.2, rates


def test_task_fingerprint_is_the_same_in_another_process_and_differs_by_seed():
    env = make_env(ENV_ID, horizon=16)
    env._generate(1234)
    code = (
        f"import hotmess; e = hotmess.make_env({ENV_ID!r}, horizon=16); "
        "e._generate(1234); print(e.task_fingerprint())"
    )
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "77", "PATH": ""},
    )
    assert other.stdout.strip() == env.task_fingerprint()
    fingerprint = env.task_fingerprint()
    env._generate(1235)
    assert env.task_fingerprint() != fingerprint


@pytest.mark.bwrap
def test_difficulty_changes_the_prompt_the_hops_and_the_schema(bwrap_ready):
    prompts, kinds, tables = {}, {}, {}
    for difficulty in ("easy", "medium", "hard"):
        env = make_env(ENV_ID, horizon=24, sandbox="bwrap", difficulty=difficulty)
        try:
            prompts[difficulty], _ = env.reset(seed=5)
            kinds[difficulty] = set(env.hops)
            observation, *_ = env.step(
                tool_call("query", sql="SELECT name FROM sqlite_master WHERE type = 'table'")
            )
            tables[difficulty] = set(observation.splitlines()[1:])
        finally:
            env.close()
    assert "accounts(id, owner_id, kind, balance, opened)" in prompts["easy"]
    assert "transfers.from_account" in prompts["easy"] and "owner_id" not in prompts["hard"]
    assert kinds["easy"] <= set(HOP_KINDS["easy"]) < set(HOP_KINDS["medium"])
    assert kinds["hard"] - set(HOP_KINDS["medium"])  # hard adds hop kinds
    assert all(HOPS[k].oblique in prompts["hard"] for k in kinds["hard"])
    assert tables["easy"] == tables["medium"] == {"people", "accounts", "transfers"}
    assert tables["hard"] == {"people", "accounts", "transfers", "branches", "audit_log"}


@pytest.mark.docker
@pytest.mark.bwrap
def test_the_same_seed_gives_the_same_transcript_under_docker_and_bwrap(docker_ready, bwrap_ready):
    transcripts, fingerprints = {}, {}
    for kind in ("docker", "bwrap"):
        env = make_env(ENV_ID, horizon=8, sandbox=kind, difficulty="hard")
        try:
            _, transcripts[kind] = run_oracle(env, seed=11, mistakes={3: 0.7})
            fingerprints[kind] = env.task_fingerprint()
        finally:
            env.close()
    assert transcripts["docker"] == transcripts["bwrap"] and len(transcripts["docker"]) == 10
    assert fingerprints["docker"] == fingerprints["bwrap"]
