"""Harbor-v0 end to end under real Docker: the test task folders built once (their images
are cached by content, so later sessions reuse them), solved by the oracle, half solved by
scripted agents, searched by an agent for the hidden tests, and attacked by one that forges
the reward. Task seeds 0, 1, 2 are count-lines, fix-calc, partial-credit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hotmess.agents import make_agent
from hotmess.envs import make_env, tool_call
from hotmess.runner import run_episode

pytestmark = pytest.mark.docker

DATA = Path(__file__).parents[2] / "data" / "harbor_tasks"
COUNT_LINES, FIX_CALC, PARTIAL_CREDIT = 0, 1, 2


class Scripted:
    """Sends its actions in order, then submits; keeps what it saw."""

    def __init__(self, *actions: str) -> None:
        self.actions = actions

    def reset(self, task, seed):
        self.queue, self.seen = list(self.actions), []

    def act(self, observation):
        self.seen.append(observation)
        return self.queue.pop(0) if self.queue else tool_call("submit", answer="done")


def bash(command: str) -> str:
    return tool_call("bash", command=command)


@pytest.fixture(scope="module")
def harbor(docker_ready):
    env = make_env("hotmess/Harbor-v0", horizon=4, path=str(DATA), sandbox="docker")
    yield env
    env.close()


def run(env, agent, seed):
    return run_episode(env, agent, seed, agent_seed=1)


def test_the_oracle_solves_every_task_and_the_reward_is_read_harbors_way(harbor):
    outcomes = [run(harbor, make_agent("oracle"), seed).outcome for seed in range(3)]
    assert all(o.success and o.infra_error is None and o.n_actions == 2 for o in outcomes)
    count, calc, partial = outcomes
    assert (count.tests, count.prediction, count.answer["reward"]) == (["reward"], [True], 1.0)
    assert calc.tests == [f"test_outputs::test_{n}" for n in ("add", "mul", "mean")]
    assert calc.prediction == [True] * 3 and calc.answer["tests_report"] == "junit.xml"
    assert partial.tests == [f"test_{c}" for c in "abcd"] and partial.prediction == [True] * 4
    assert partial.answer["tests_report"] == "ctrf.json" and partial.answer["network"] is False
    assert all(o.answer["system_changes"] == {"count": 0, "paths": []} for o in outcomes)


def test_a_partial_fix_passes_some_tests_and_fails_the_task(harbor):
    agent = Scripted(bash("sed -i 's/return a - b/return a + b/' calc.py && pwd && whoami"))
    episode = run(harbor, agent, FIX_CALC)
    assert "/app\nroot\n" in agent.seen[1]  # the task's WORKDIR and user, as in Harbor
    outcome = episode.outcome
    assert outcome.prediction == [True, True, False] and not outcome.success
    assert outcome.answer["reward"] == 0.0 and outcome.agent_failure is None


def test_a_continuous_reward_is_kept_as_a_number_with_outcome_reward(docker_ready):
    env = make_env(
        "hotmess/Harbor-v0", horizon=4, path=str(DATA), sandbox="docker", outcome="reward"
    )
    agent = Scripted(bash("echo A > out/a.txt && echo B > out/b.txt"))
    try:
        outcome = run(env, agent, PARTIAL_CREDIT).outcome
    finally:
        env.close()
    assert (outcome.kind, outcome.prediction, outcome.target) == ("scalar", 0.5, 1.0)
    assert not outcome.success


def test_tests_and_solution_are_nowhere_in_the_container_before_scoring(harbor):
    # The markers are split so that no command line or command file holds them whole; a
    # control file that holds one shows the search finds what is there.
    search = (
        'm=HARBOR-HIDDEN; m="$m-"; '
        'grep -rlI --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev "$m" / 2>/dev/null; '
        "find / -xdev \\( -name test_outputs.py -o -name solve.sh \\) -print 2>/dev/null; "
        "ls -d /tests /solution /logs 2>&1; echo END"
    )
    agent = Scripted(bash('m=HARBOR-HIDDEN; echo "$m-control" > /tmp/control'), bash(search))
    outcome = run(harbor, agent, FIX_CALC).outcome
    listing = agent.seen[2].split("END")[0].splitlines()
    assert [line for line in listing if line.startswith("/")] == ["/tmp/control"]
    for path in ("/tests", "/solution", "/logs"):
        assert f"cannot access '{path}': No such file or directory" in agent.seen[2]
    # Then scored: the untouched module fails two of the three hidden tests.
    assert not outcome.success and outcome.prediction == [False, True, False]


def test_a_forged_reward_and_a_process_rewriting_it_do_not_count(harbor):
    forge = (
        "mkdir -p /logs/verifier && echo 1 > /logs/verifier/reward.txt && "
        "echo '{\"reward\": 1}' > /logs/verifier/reward.json && "
        "printf '<testsuite><testcase name=\"x\"/></testsuite>' > /logs/verifier/junit.xml && "
        "printf '#!/bin/sh\\nexit 0\\n' > /usr/local/bin/pytest && chmod +x /usr/local/bin/pytest"
    )
    daemon = (
        "nohup setsid bash -c 'while :; do mkdir -p /logs/verifier; "
        'echo 1 > /logs/verifier/reward.txt; echo "{\\"reward\\": 1}" > /logs/verifier/reward.json; '
        "sleep 0.01; done' >/dev/null 2>&1 & sleep 0.5; "
        "pgrep -f 'while :' >/dev/null && echo FORGER-RUNNING"
    )
    agent = Scripted(bash(forge), bash(daemon))
    outcome = run(harbor, agent, COUNT_LINES).outcome
    assert "FORGER-RUNNING" in agent.seen[2]  # at submit, the forger was still running
    assert not outcome.success and outcome.prediction == [False]
    assert outcome.answer["reward"] == 0.0 and outcome.answer["rewards"] == {"reward": 0.0}
    # A planted tool test.sh might run is no defence's business here, but it is on record.
    assert outcome.answer["system_changes"] == {"count": 1, "paths": ["/usr/local/bin/pytest"]}


def test_the_agent_timeout_ends_the_episode_truncated_and_its_work_is_graded(
    docker_ready, tmp_path
):
    task = shutil.copytree(DATA / "count-lines", tmp_path / "count-lines")
    toml = (task / "task.toml").read_text().replace("timeout_sec = 300.0", "timeout_sec = 5.0")
    (task / "task.toml").write_text(toml)
    env = make_env("hotmess/Harbor-v0", horizon=8, path=str(task), sandbox="docker")
    agent = Scripted(bash("wc -l < data.txt > answer.txt"), bash("sleep 60"), bash("echo never"))
    try:
        episode = run(env, agent, 0)
    finally:
        env.close()
    outcome = episode.outcome
    # The sleep is cut where the agent's time ends, and the episode with it (or, on a
    # machine slow enough, right after the first action): never at the third.
    assert outcome.truncated and outcome.success and outcome.n_actions <= 2
    assert "agent timeout has passed" in episode.steps[-1].observation


def test_a_sweep_from_the_command_line_runs_each_task_of_the_dataset_once(docker_ready, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])}
    done = subprocess.run(
        [sys.executable, "-m", "hotmess", "sweep", "--env", "hotmess/Harbor-v0", "-O",
         f"path={DATA}", "--agent", "oracle", "--horizons", "2", "--tasks", "3", "--samples",
         "1", "--sandbox", "docker", "--out", str(out), "--progress", "quiet"],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert sorted(r["task_seed"] for r in records) == [0, 1, 2]
    assert all(r["outcome"]["success"] for r in records)
    assert {len(r["outcome"]["tests"]) for r in records} == {1, 3, 4}


@pytest.mark.parametrize(
    ("asks", "options", "agent_net", "verifier_net"),
    [
        (False, {}, False, False),
        (False, {"verifier_network": True}, False, True),
        (False, {"allow_internet": True}, True, True),
        (True, {"allow_internet": True}, True, True),
    ],
)
def test_the_network_reaches_only_the_phases_it_was_given_to(
    docker_ready, tmp_path, asks, options, agent_net, verifier_net
):
    task = shutil.copytree(DATA / "count-lines", tmp_path / "count-lines")
    if asks:
        (task / "task.toml").write_text(
            (task / "task.toml").read_text() + "allow_internet = true\n"
        )
    (task / "tests" / "test.sh").write_text(
        "#!/bin/bash\nif ls /sys/class/net | grep -qv '^lo$'; then r=1; else r=0; fi\n"
        "echo $r > /logs/verifier/reward.txt\n"
    )
    env = make_env("hotmess/Harbor-v0", horizon=4, path=str(task), sandbox="docker", **options)
    agent = Scripted(bash("ls /sys/class/net"))
    try:
        outcome = run(env, agent, 0).outcome
    finally:
        env.close()
    interfaces = agent.seen[1].split("[exit code")[0].split()
    assert (interfaces != ["lo"]) is agent_net
    assert outcome.answer["reward"] == float(verifier_net)
    assert outcome.answer["network"] is agent_net


def test_an_image_without_python_gets_one_for_the_shell_and_the_task_still_runs(
    docker_ready, tmp_path
):
    task = shutil.copytree(DATA / "count-lines", tmp_path / "no-python")
    dockerfile = task / "environment" / "Dockerfile"
    # Like `FROM ubuntu:24.04`: no python3 anywhere on PATH.
    dockerfile.write_text(
        dockerfile.read_text().replace("USER root\n", "USER root\nRUN rm -f /usr/bin/python3*\n")
    )
    env = make_env("hotmess/Harbor-v0", horizon=4, path=str(task), sandbox="docker")
    agent = Scripted(bash("command -v python3 || echo no-python3"))
    try:
        episode = run(env, agent, 0)
        oracle = run(env, make_agent("oracle"), 0)
    finally:
        env.close()
    assert "no-python3" in agent.seen[1]
    assert not episode.outcome.success and oracle.outcome.success


def test_env_templates_reach_the_agents_shell_and_the_verifier(docker_ready, tmp_path, monkeypatch):
    """Harbor fills `${VAR}` in task.toml's env from the host's environment: here the
    agent's shell sees one, and test.sh takes its expected answer from another (38, where
    the task's default is 37)."""
    task = shutil.copytree(DATA / "count-lines", tmp_path / "count-lines")
    toml = task / "task.toml"
    toml.write_text(
        toml.read_text().replace(
            "[environment]\n",
            '[environment]\nenv = { GREETING = "${HM_TEST_GREETING}" }\n',
        )
        + '[verifier.env]\nEXPECTED = "${HM_TEST_EXPECTED:-37}"\n'
    )
    test_sh = task / "tests" / "test.sh"
    test_sh.write_text(test_sh.read_text().replace('= "37"', '= "$EXPECTED"'))
    monkeypatch.setenv("HM_TEST_GREETING", "hello-from-the-host")
    monkeypatch.setenv("HM_TEST_EXPECTED", "38")
    env = make_env("hotmess/Harbor-v0", horizon=4, path=str(task), sandbox="docker")
    agent = Scripted(bash('echo "greeting=$GREETING"; echo 38 > /app/answer.txt'))
    try:
        episode = run(env, agent, 0)
    finally:
        env.close()
    assert "greeting=hello-from-the-host" in agent.seen[1]
    assert episode.outcome.success and episode.outcome.answer["reward"] == 1.0


def test_gymnasiums_env_checker_passes(docker_ready):
    from gymnasium.utils.env_checker import check_env

    env = make_env("hotmess/Harbor-v0", horizon=2, path=str(DATA / "count-lines"), sandbox="docker")
    try:
        check_env(env, skip_render_check=True)
    finally:
        env.close()


def test_an_agent_that_stops_its_own_container_is_still_graded(harbor):
    # As root the agent can kill the container's keep-alive, which stops the container: its
    # next command fails (the agent's doing), and the files it left are graded.
    agent = Scripted(
        bash("wc -l < data.txt > answer.txt && kill -KILL $(pgrep -x sleep)"), bash("echo next")
    )
    outcome = run(harbor, agent, COUNT_LINES).outcome
    assert outcome.infra_error is None and outcome.agent_failure is not None
    assert outcome.prediction == [True] and outcome.answer["reward"] == 1.0


def test_reads_out_of_the_container_are_bounded_regular_files(harbor):
    harbor.reset(seed=COUNT_LINES)
    box = harbor.sandbox
    box.exec(
        "mkdir -p /r/dir && printf 1 > /r/one && ln -s /r/one /r/link && mkfifo /r/fifo "
        "&& head -c 100000 /dev/zero > /r/big"
    )
    try:
        assert box.read_bounded("/r/one", 10) == b"1"
        assert box.read_bounded("/app/data.txt", 4096).startswith(b"row 1\nrow 2\n")
        for path in ("/r/missing", "/r/dir", "/r/link", "/r/fifo", "/r/big"):
            assert box.read_bounded(path, 65536) is None, path
    finally:
        harbor.close()


def test_a_prebuilt_docker_image_runs_as_its_own_user_and_workdir(docker_ready, tmp_path):
    # The sandbox image stands in for task.toml's docker_image: USER agent, WORKDIR /work.
    task = tmp_path / "prebuilt"
    (task / "tests").mkdir(parents=True)
    (task / "task.toml").write_text(f'[environment]\ndocker_image = "{docker_ready}"\n')
    (task / "instruction.md").write_text("Create the file done in your working directory.\n")
    (task / "tests" / "test.sh").write_text(
        "#!/bin/bash\nif [ -f /work/done ]; then r=1; else r=0; fi\n"
        "echo $r > /logs/verifier/reward.txt\n"
    )
    env = make_env("hotmess/Harbor-v0", horizon=2, path=str(task), sandbox="docker")
    agent = Scripted(bash("whoami; pwd; touch done"))
    try:
        outcome = run(env, agent, 0).outcome
    finally:
        env.close()
    assert agent.seen[1].startswith("agent\n/work\n")
    assert outcome.success and outcome.answer["reward"] == 1.0


def test_a_verifier_past_its_timeout_is_no_reward_and_the_agents_failure(docker_ready, tmp_path):
    task = shutil.copytree(DATA / "count-lines", tmp_path / "count-lines")
    (task / "task.toml").write_text(
        (task / "task.toml").read_text().replace("timeout_sec = 60.0", "timeout_sec = 2.0")
    )
    (task / "tests" / "test.sh").write_text(
        "#!/bin/bash\nsleep 30\necho 1 > /logs/verifier/reward.txt\n"
    )
    env = make_env("hotmess/Harbor-v0", horizon=2, path=str(task), sandbox="docker")
    try:
        outcome = run(env, Scripted(), 0).outcome
    finally:
        env.close()
    assert outcome.prediction is None and not outcome.success and outcome.infra_error is None
    assert "verifier timeout of 2 s" in outcome.agent_failure
    assert outcome.answer["verifier_exit_code"] == 137


def test_a_task_whose_image_does_not_build_says_why(docker_ready, tmp_path):
    from hotmess.errors import SandboxError

    task = shutil.copytree(DATA / "count-lines", tmp_path / "broken-build")
    dockerfile = task / "environment" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "RUN echo about-to-fail && exit 3\n")
    env = make_env("hotmess/Harbor-v0", horizon=2, path=str(task), sandbox="docker")
    try:
        with pytest.raises(SandboxError) as failed:
            env.reset(seed=0)
    finally:
        env.close()
    message = str(failed.value)
    assert "Harbor task broken-build: docker build of environment/ failed" in message
    assert "returned a non-zero code: 3" in message and "about-to-fail" in message
