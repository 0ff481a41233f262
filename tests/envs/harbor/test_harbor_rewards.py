"""Reading what Harbor's verifier leaves, without Docker: reward.txt and reward.json by
Harbor's rules, CTRF and JUnit per-test reports, and the outcome each run becomes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hotmess.envs import make_env
from hotmess.envs.harbor.task import load_task
from hotmess.envs.harbor.verifier import (
    RewardError,
    VerifierResult,
    headline,
    parse_ctrf,
    parse_junit,
    parse_report,
    parse_reward_json,
    parse_reward_text,
)

DATA = Path(__file__).parents[2] / "data" / "harbor_tasks"

JUNIT = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="4">
<testcase classname="test_outputs" name="test_add" time="0.001"/>
<testcase classname="test_outputs" name="test_mul"><failure message="assert 1 == 2"/></testcase>
<testcase classname="test_outputs" name="test_mean"><error message="boom"/></testcase>
<testcase classname="test_outputs" name="test_later"><skipped message="later"/></testcase>
</testsuite></testsuites>"""


def ctrf(*statuses: str) -> bytes:
    tests = [{"name": f"t{i}", "status": s, "duration": 1} for i, s in enumerate(statuses)]
    return json.dumps({"results": {"tool": {"name": "pytest"}, "tests": tests}}).encode()


@pytest.mark.parametrize(
    ("text", "value"), [(b"1\n", 1.0), (b"0", 0.0), (b" 0.25 \n", 0.25), (b"-1", -1.0)]
)
def test_reward_txt_is_one_number(text, value):
    assert parse_reward_text(text) == {"reward": value}


@pytest.mark.parametrize(
    ("text", "message"),
    [(b"", "empty"), (b"  \n", "empty"), (b"yes", "not a number"), (b"nan", "non-finite")],
)
def test_a_bad_reward_txt_says_what_is_wrong(text, message):
    with pytest.raises(RewardError, match=message):
        parse_reward_text(text)


def test_reward_json_holds_finite_numbers_by_name():
    assert parse_reward_json(b'{"reward": 1, "style": 0.5}') == {"reward": 1.0, "style": 0.5}
    assert parse_reward_json(b"0.75") == {"reward": 0.75}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"", "empty"),
        (b"{", "not valid JSON"),
        (b"{}", "no reward"),
        (b'{"reward": "1"}', "not a number"),
        (b'{"reward": true}', "not a number"),
        (b'{"reward": NaN}', "not finite"),
        (b'{"reward": 1e999}', "not finite"),
    ],
)
def test_a_bad_reward_json_says_what_is_wrong(text, message):
    with pytest.raises(RewardError, match=message):
        parse_reward_json(text)


def test_the_headline_reward_is_the_reward_key_else_the_mean():
    assert headline({"reward": 0.5, "other": 1.0}) == 0.5
    assert headline({"a": 1.0, "b": 0.0}) == 0.5


def test_junit_testcases_pass_unless_they_failed_or_errored():
    assert parse_junit(JUNIT) == [
        ("test_outputs::test_add", True),
        ("test_outputs::test_mul", False),
        ("test_outputs::test_mean", False),
        ("test_outputs::test_later", True),
    ]


def test_ctrf_statuses_and_duplicate_names():
    assert parse_ctrf(ctrf("passed", "failed", "skipped", "pending", "other")) == [
        ("t0", True),
        ("t1", False),
        ("t2", True),
        ("t3", False),
        ("t4", False),
    ]
    report = {"results": {"tests": [{"name": "x", "status": "passed"}] * 2}}
    assert [name for name, _ in parse_ctrf(json.dumps(report).encode())] == ["x", "x#2"]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("ctrf.json", b"not json"),
        ("ctrf.json", b'{"results": {}}'),
        ("ctrf.json", ctrf()),
        ("junit.xml", b"<testsuite"),
        ("junit.xml", b"<testsuite/>"),
    ],
)
def test_a_report_without_usable_results_gives_none(name, data):
    assert parse_report(name, data) is None


@pytest.fixture
def env():
    made = make_env("hotmess/Harbor-v0", horizon=4, path=str(DATA), sandbox="docker")
    made.task = load_task(DATA / "fix-calc")
    yield made
    made.close()


def test_per_test_results_make_a_tests_outcome(env):
    tests = [("a", True), ("b", False)]
    outcome = env._outcome_of(VerifierResult(rewards={"reward": 0.0}, tests=tests), "note")
    assert (outcome.kind, outcome.tests, outcome.prediction) == ("tests", ["a", "b"], [True, False])
    assert not outcome.success and outcome.agent_failure is None
    assert outcome.answer["reward"] == 0.0 and outcome.answer["note"] == "note"


def test_a_reward_alone_is_one_test_passed_at_one(env):
    for reward, passed in ((1.0, True), (0.0, False), (0.5, False)):
        outcome = env._outcome_of(VerifierResult(rewards={"reward": reward}), None)
        assert (outcome.tests, outcome.prediction, outcome.success) == (
            ["reward"],
            [passed],
            passed,
        )


def test_no_reward_is_the_agents_failure_with_every_test_failing(env):
    known = env._outcome_of(VerifierResult(rewards={"reward": 1.0}, tests=[("a", True)]), None)
    assert known.success
    outcome = env._outcome_of(VerifierResult(problem="test.sh wrote neither"), None)
    # The task's tests from an earlier episode, so its samples keep one set of tests.
    assert outcome.tests == ["a"] and outcome.prediction is None and not outcome.success
    assert "test.sh wrote neither" in outcome.agent_failure and outcome.infra_error is None


def test_outcome_reward_makes_a_scalar_outcome_with_target_one():
    env = make_env(
        "hotmess/Harbor-v0", horizon=4, path=str(DATA), sandbox="docker", outcome="reward"
    )
    env.task = load_task(DATA / "partial-credit")
    half = env._outcome_of(VerifierResult(rewards={"reward": 0.5}), None)
    assert (half.kind, half.prediction, half.target, half.success) == ("scalar", 0.5, 1.0, False)
    missing = env._outcome_of(VerifierResult(problem="crashed"), None)
    assert missing.prediction == 0.0 and missing.agent_failure == "no reward: crashed"
    env.close()
