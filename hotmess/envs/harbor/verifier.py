"""Scoring a Harbor task as Harbor's verifier does (harbor/verifier/verifier.py): tests/
uploaded to /tests after the agent is done, test.sh run from the working directory with
its output in /logs/verifier/test-stdout.txt, the reward read from reward.json (first) or
reward.txt, and per-test results from a CTRF json or a JUnit XML the tests left there."""

from __future__ import annotations

import json
import math
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from hotmess.envs.harbor.container import HarborSandbox
from hotmess.envs.harbor.task import (
    LOGS_DIR,
    REWARD_JSON,
    REWARD_TXT,
    TEST_STDOUT,
    TESTS_DIR,
    VERIFIER_DIR,
    HarborTask,
)

#: Largest reward file read back (a reward is a number or a small JSON object).
REWARD_LIMIT = 64 * 1024
#: Largest per-test report read back.
REPORT_LIMIT = 8 * 2**20


class RewardError(ValueError):
    """A reward file that is empty, not a number, or not finite (Harbor's
    RewardFileEmptyError / VerifierOutputParseError)."""


def parse_reward_text(data: bytes) -> dict[str, float]:
    """reward.txt: one number (Harbor: `float(text)`, finite)."""
    text = data.decode("utf-8", errors="replace").strip()
    if not text:
        raise RewardError("reward.txt is empty")
    try:
        value = float(text)
    except ValueError:
        raise RewardError(f"reward.txt is not a number: {text[:80]!r}") from None
    if not math.isfinite(value):
        raise RewardError(f"reward.txt holds a non-finite reward {text[:80]!r}")
    return {"reward": value}


def parse_reward_json(data: bytes) -> dict[str, float]:
    """reward.json: an object of finite numbers (Harbor's multi-reward form), or one number."""
    if not data.strip():
        raise RewardError("reward.json is empty")
    try:
        rewards = json.loads(data)
    except ValueError:
        raise RewardError("reward.json is not valid JSON") from None
    if not isinstance(rewards, dict):
        rewards = {"reward": rewards}
    if not rewards:
        raise RewardError("reward.json holds no reward")
    for key, value in rewards.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RewardError(f"reward.json: {key!r} is {value!r}, not a number")
        if not math.isfinite(value):
            raise RewardError(f"reward.json: {key!r} is not finite")
    return {str(k): float(v) for k, v in rewards.items()}


def headline(rewards: dict[str, float]) -> float:
    """The one reward of a run: the `reward` key (Harbor's 1-D convention), else the mean
    of every key."""
    if "reward" in rewards:
        return rewards["reward"]
    return sum(rewards.values()) / len(rewards)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return out


def parse_ctrf(data: bytes) -> list[tuple[str, bool]]:
    """A CTRF report (pytest-json-ctrf, Terminal-Bench 2.0): (test name, passed) per test;
    `skipped` counts as passed, as it does for pytest's exit code."""
    report = json.loads(data)
    tests = report["results"]["tests"]
    names = _unique([str(t["name"]) for t in tests])
    return [
        (name, str(t.get("status")) in ("passed", "skipped"))
        for name, t in zip(names, tests, strict=True)
    ]


def parse_junit(data: bytes) -> list[tuple[str, bool]]:
    """A JUnit XML report (pytest --junitxml): (classname::name, passed) per testcase;
    a testcase with <failure> or <error> failed, a skipped one passed."""
    root = ET.fromstring(data)
    cases = list(root.iter("testcase"))
    names = _unique(
        ["::".join(p for p in (case.get("classname"), case.get("name")) if p) for case in cases]
    )
    return [
        (name, case.find("failure") is None and case.find("error") is None)
        for name, case in zip(names, cases, strict=True)
    ]


def parse_report(name: str, data: bytes) -> list[tuple[str, bool]] | None:
    """Per-test results from a report file; None when it holds none or does not parse."""
    try:
        results = parse_ctrf(data) if name.endswith(".json") else parse_junit(data)
    except (ValueError, KeyError, TypeError, ET.ParseError):
        return None
    return results or None


@dataclass
class VerifierResult:
    """What one verifier run left: the rewards (None when it wrote none), per-test results,
    and why there is no reward when there is none."""

    rewards: dict[str, float] | None = None
    tests: list[tuple[str, bool]] | None = None
    report: str | None = None
    exit_code: int | None = None
    timed_out: bool = False
    problem: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def reward(self) -> float | None:
        return None if self.rewards is None else headline(self.rewards)


def _prepare(box: HarborSandbox) -> None:
    """Fresh, root-owned /logs/verifier and /tests: nothing the agent put there counts."""
    script = (
        f"if [ -L {LOGS_DIR} ] || {{ [ -e {LOGS_DIR} ] && [ ! -d {LOGS_DIR} ]; }}; then rm -rf {LOGS_DIR}; fi; "
        f"rm -rf {VERIFIER_DIR} {TESTS_DIR} && mkdir -p {VERIFIER_DIR} {TESTS_DIR} "
        f"&& chmod 777 {VERIFIER_DIR}"
    )
    code, _, err = box.root_exec(["sh", "-c", script])
    if code != 0:
        raise RewardError(
            f"could not make a clean {VERIFIER_DIR}: {err.decode(errors='replace')[:200]}"
        )


def verify(
    box: HarborSandbox, task: HarborTask, *, user: str, network: bool = False
) -> VerifierResult:
    """Kill every process of the agent's, upload tests/, run test.sh with the task's
    verifier timeout (on Docker's bridge network with `network`: the agent's processes are
    dead by then), kill whatever it left running, then read what it wrote.

    Raises `InfrastructureError` when the container engine fails; every other way the
    verifier can fail (no reward, a bad one, a time-out) is in the result."""
    box.kill_everything()
    if network:
        box.connect()
    result = VerifierResult()
    # What test.sh may run that the agent replaced: recorded, for the reader to judge.
    count, paths = box.system_changes()
    result.details["system_changes"] = {"count": count, "paths": paths}
    try:
        _prepare(box)
    except RewardError as exc:  # the agent made /logs unusable
        result.problem = str(exc)
        return result
    box.upload_tree(task.tests_dir, TESTS_DIR)
    box.root_exec(["chmod", "+x", f"{TESTS_DIR}/test.sh"])
    limit = task.config.verifier.timeout_sec
    started = time.monotonic()
    result.exit_code = box.run_as(
        f"{TESTS_DIR}/test.sh > {TEST_STDOUT} 2>&1",
        user=user,
        timeout=limit,
        environment=task.env("verifier"),
    )
    result.timed_out = time.monotonic() - started >= limit
    box.kill_everything()  # nothing the tests started writes after this
    _read_rewards(box, result)
    _read_tests(box, result)
    if result.rewards is None and result.timed_out:
        result.problem = f"test.sh did not finish within the verifier timeout of {limit:g} s"
    return result


def _read_rewards(box: HarborSandbox, result: VerifierResult) -> None:
    for path, parse in ((REWARD_JSON, parse_reward_json), (REWARD_TXT, parse_reward_text)):
        data = box.read_bounded(path, REWARD_LIMIT)
        if data is None:
            continue
        try:
            result.rewards = parse(data)
        except RewardError as exc:
            result.problem = str(exc)
        return
    result.problem = f"test.sh wrote neither {REWARD_TXT} nor {REWARD_JSON}"


def _read_tests(box: HarborSandbox, result: VerifierResult) -> None:
    code, out, _ = box.root_exec(
        [
            "find",
            VERIFIER_DIR,
            "-maxdepth",
            "1",
            "-type",
            "f",
            "(",
            "-name",
            "*.xml",
            "-o",
            "-name",
            "ctrf*.json",
            ")",
        ]
    )
    if code != 0:
        return
    found = sorted(out.decode(errors="replace").split(), key=lambda p: (not p.endswith(".json"), p))
    for path in found:
        data = box.read_bounded(path, REPORT_LIMIT)
        tests = None if data is None else parse_report(path, data)
        if tests is not None:
            result.tests, result.report = tests, path.rsplit("/", 1)[-1]
            return
