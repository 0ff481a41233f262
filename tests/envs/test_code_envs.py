"""CodeFix and CodeBuild in real sandboxes (docker and bwrap): the oracle at every horizon,
the Gymnasium contract, scoring by hidden tests, and the ways an agent could try to read,
overwrite or fake those tests."""

from __future__ import annotations

import json
import subprocess
import sys

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

from hotmess import make_agent, run_episode
from hotmess.envs import make_env
from hotmess.envs.base import tool_call
from hotmess.runner.cells import agent_seed

CODE_ENVS = ["hotmess/CodeFix-v0", "hotmess/CodeBuild-v0"]
HORIZONS = [1, 2, 4, 8, 16, 32, 64]


@pytest.fixture
def open_envs():
    """Envs a test makes, closed (sandbox removed) however the test ends."""
    envs = []

    def make(env_id, **options):
        env = make_env(env_id, **options)
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.close()


def run_oracle(env, seed, *, mistake=None):
    """Reset, replay the oracle (erring at every edit when `mistake` is set); return the
    observations and the last step's info."""
    observation, _ = env.reset(seed=seed)
    oracle = env.oracle()
    observations = [observation]
    while True:
        observation, _reward, terminated, truncated, info = env.step(
            oracle.act(observation, mistake=mistake)
        )
        observations.append(observation)
        if terminated or truncated:
            return observations, info


def submit(env):
    _, _, terminated, _, info = env.step(tool_call("submit", answer="done"))
    assert terminated
    return info["outcome"]


@pytest.mark.parametrize("env_id", CODE_ENVS)
@pytest.mark.parametrize("horizon", HORIZONS)
def test_oracle_succeeds_at_every_horizon(sandbox_kind, env_id, horizon, open_envs):
    env = open_envs(env_id, horizon=horizon, sandbox=sandbox_kind)
    for seed in (0, 1) if horizon <= 16 else (2,):
        observations, info = run_oracle(env, seed)
        outcome = info["outcome"]
        assert not any(obs.startswith("Error") for obs in observations), observations
        assert outcome.kind == "tests" and outcome.success and outcome.n_actions == horizon + 1
        assert outcome.prediction == [True] * horizon and len(outcome.tests) == horizon


@pytest.mark.bwrap
@pytest.mark.parametrize("env_id", CODE_ENVS)
@pytest.mark.parametrize("difficulty", ["easy", "hard"])
def test_oracle_succeeds_at_every_difficulty(bwrap_ready, env_id, difficulty, open_envs):
    env = open_envs(env_id, horizon=8, sandbox="bwrap", difficulty=difficulty)
    assert run_oracle(env, 5)[1]["outcome"].success


@pytest.mark.parametrize("env_id", CODE_ENVS)
def test_check_env_passes(sandbox_kind, env_id):
    env = gym.make(env_id, horizon=2, sandbox=sandbox_kind).unwrapped
    try:
        check_env(env, skip_render_check=False)
    finally:
        env.close()


@pytest.mark.parametrize("env_id", CODE_ENVS)
def test_unedited_code_fails_every_hidden_test(sandbox_kind, env_id, open_envs):
    env = open_envs(env_id, horizon=6, sandbox=sandbox_kind)
    env.reset(seed=3)
    outcome = submit(env)
    assert outcome.prediction == [False] * 6 and not outcome.success
    assert outcome.tests == env.task.test_names and outcome.n_actions == 1


@pytest.mark.parametrize("env_id", CODE_ENVS)
def test_a_mistake_at_every_edit_fails_every_hidden_test(sandbox_kind, env_id, open_envs):
    env = open_envs(env_id, horizon=8, sandbox=sandbox_kind)
    for mistake in (0.0, 0.7):
        observations, info = run_oracle(env, 4, mistake=mistake)
        assert not any(obs.startswith("Error") for obs in observations), "wrong, not malformed"
        assert info["outcome"].prediction == [False] * 8


@pytest.mark.parametrize("env_id", CODE_ENVS)
def test_run_tests_shows_pytest_results(sandbox_kind, env_id, open_envs):
    env = open_envs(env_id, horizon=3, sandbox=sandbox_kind)
    env.reset(seed=8)
    before = env.step(tool_call("run_tests"))[0]
    assert "3 failed" in before and "_examples" in before
    oracle = env.oracle()
    for _ in range(3):
        env.step(oracle.act(""))
    after = env.step(tool_call("run_tests"))[0]
    assert "passed" in after and "failed" not in after
    assert submit(env).success


#: Everywhere a file that is not part of the read-only system image can be: every mount
#: the sandbox may write (its workdir, /tmp, the I/O directory, /dev/shm...), plus the
#: usual scratch places. No time bound: it is small on both backends, whatever the load.
WRITABLE_PLACES = (
    "{ awk '$4 ~ /^rw/ && $3 !~ /^(proc|sysfs|devpts|mqueue|cgroup2?)$/ { print $2 }'"
    ' /proc/self/mounts; echo /work /tmp /var/tmp /dev/shm /run "$HOME"; }'
    " | tr ' ' '\\n' | sort -u | while read -r d; do [ -d \"$d\" ] && printf '%s\\0' \"$d\"; done"
)


@pytest.mark.parametrize("env_id", CODE_ENVS)
def test_hidden_tests_are_nowhere_in_the_sandbox_before_scoring(sandbox_kind, env_id, open_envs):
    """What an agent would try: search every place a file could have been put for test
    definitions and for anything called hidden. None of the hidden tests is there (the
    visible ones are), and one planted in an odd place would be found."""
    env = open_envs(env_id, horizon=4, sandbox=sandbox_kind)
    env.reset(seed=11)
    hidden = "".join(f"def {name}(\n" for name in env.task.test_names)
    visible = "".join(f"def {name}_examples(\n" for name in env.task.test_names)
    env.step(tool_call("write_file", path="/work/.hidden-names", content=hidden))
    env.step(tool_call("write_file", path="/work/.visible-names", content=visible))
    searches = [
        f'{WRITABLE_PLACES} | xargs -0 grep -rI -D skip --exclude=".*-names" "def test_" 2>/dev/null',
        f"{WRITABLE_PLACES} | xargs -0 -I{{}} find {{}} -name '*hidden*' -not -name '*-names'"
        " 2>/dev/null | xargs -r cat 2>/dev/null",
    ]
    for command in searches:
        found = env.step(tool_call("bash", command=f"{command} | grep -F -f /work/.hidden-names"))
        assert found[0] == "(no output)\n[exit code 1]", command
    control = f"{searches[0]} | grep -F -f /work/.visible-names | wc -l"
    assert env.step(tool_call("bash", command=control))[0].startswith("4\n"), "the search works"
    name = env.task.test_names[0]
    plant = f"mkdir -p /tmp/.cache/x && printf 'def {name}():\\n' > /tmp/.cache/x/hidden_t.py"
    env.step(tool_call("bash", command=plant))
    for command in searches:
        found = env.step(tool_call("bash", command=f"{command} | grep -F -f /work/.hidden-names"))
        assert f"def {name}(" in found[0] and found[0].endswith("[exit code 0]"), command


@pytest.mark.parametrize("env_id", CODE_ENVS)
def test_a_background_process_cannot_change_the_scores(sandbox_kind, env_id, open_envs):
    """A process left behind that rewrites any test file it can find with passing tests and
    kills every python it sees is itself killed before the hidden tests arrive."""
    env = open_envs(env_id, horizon=4, sandbox=sandbox_kind)
    env.reset(seed=12)
    passes = "".join(f"def {name}():\\n    pass\\n" for name in env.task.test_names)
    tamper = (
        "nohup sh -c 'while :; do for f in /tmp/*/*.py /tmp/.*/*.py; do "
        f'[ -f "$f" ] && printf "{passes}" > "$f"; done; pkill -9 python3; sleep 0.01; done'
        "' >/dev/null 2>&1 &"
    )
    for fixed in (False, True):
        env.reset(seed=12)
        if fixed:
            oracle = env.oracle()
            for _ in range(4):
                env.step(oracle.act(""))
        env.step(tool_call("bash", command=tamper))
        assert "sh -c" in env.step(tool_call("bash", command="sleep 0.2; ps ax"))[0]
        assert submit(env).prediction == [fixed] * 4


@pytest.mark.parametrize("env_id", CODE_ENVS)
def test_a_fake_pytest_or_conftest_does_not_pass_the_hidden_tests(sandbox_kind, env_id, open_envs):
    env = open_envs(env_id, horizon=3, sandbox=sandbox_kind)
    conftest = (
        "import pytest\n\n"
        "@pytest.hookimpl(hookwrapper=True)\n"
        "def pytest_runtest_makereport(item, call):\n"
        "    outcome = yield\n"
        "    outcome.get_result().outcome = 'passed'\n"
    )
    fake_pytest = "print('99 passed in 0.01s')\n"
    for files in ({"conftest.py": conftest}, {"pytest.py": fake_pytest}):
        env.reset(seed=13)
        for path, content in files.items():
            env.step(tool_call("write_file", path=f"/work/{path}", content=content))
        shown = env.step(tool_call("run_tests"))[0]
        assert "passed" in shown and "failed" not in shown, "the visible run is fooled"
        assert submit(env).prediction == [False] * 3, "the hidden run is not"


#: Agent code that tries to forge the verdict from inside the scoring process: rewrite
#: what the runner prints, make every assertion helper pass, shadow the modules the hidden
#: tests import. It must change nothing: the agent's code never runs in that process.
FORGER = """
import builtins, sys

class _Forge:
    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        return self.stream.write(text.replace("false", "true"))

    def __getattr__(self, name):
        return getattr(self.stream, name)

sys.stdout = _Forge(sys.stdout)
builtins.all = lambda *args: True
"""
SHADOWS = {
    name: "class _Liar:\n    def __eq__(self, other):\n        return True\n"
    "def literal_eval(text):\n    return _Liar()\n"
    for name in ("ast.py", "subprocess.py", "signal.py", "json.py")
}


@pytest.mark.parametrize("env_id", CODE_ENVS)
def test_the_agents_code_cannot_forge_the_verdict(sandbox_kind, env_id, open_envs):
    env = open_envs(env_id, horizon=3, sandbox=sandbox_kind)
    env.reset(seed=14)
    entry = "pkg/__init__.py" if env_id.endswith("CodeFix-v0") else "solution.py"
    forged = {entry: FORGER + env.task.files[entry], **SHADOWS}
    for path, content in forged.items():
        env.step(tool_call("write_file", path=path, content=content))
    assert submit(env).prediction == [False] * 3


@pytest.mark.bwrap
@pytest.mark.parametrize("env_id", CODE_ENVS)
def test_noisy_agent_succeeds_less_at_longer_horizons(bwrap_ready, env_id, open_envs):
    rates = {}
    for horizon in (1, 16):
        env = open_envs(env_id, horizon=horizon, sandbox="bwrap")
        agent = make_agent("noisy:p=0.3")
        records = [
            run_episode(env, agent, seed, agent_seed=agent_seed(seed, horizon, 0))
            for seed in range(15)
        ]
        assert not any(record.outcome.infra_error for record in records)
        rates[horizon] = sum(record.outcome.success for record in records) / len(records)
    # Expected 0.7 and 0.7^16 = 0.003.
    assert rates[1] >= 0.45 and rates[16] <= 0.15, rates


@pytest.mark.bwrap
@pytest.mark.parametrize("env_id", CODE_ENVS)
def test_task_fingerprint_is_the_same_in_another_process(bwrap_ready, env_id, open_envs):
    env = open_envs(env_id, horizon=16, sandbox="bwrap")
    env.reset(seed=1234)
    code = (
        f"import hotmess; e = hotmess.make_env({env_id!r}, horizon=16, sandbox='bwrap'); "
        "e.reset(seed=1234); print(e.task_fingerprint()); e.close()"
    )
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "77", "PATH": "/usr/bin:/bin"},
    )
    assert other.stdout.strip() == env.task_fingerprint()
    env.reset(seed=1235)
    assert other.stdout.strip() != env.task_fingerprint()


@pytest.mark.docker
@pytest.mark.bwrap
@pytest.mark.parametrize("env_id", CODE_ENVS)
def test_same_seed_same_oracle_observations_under_docker_and_bwrap(
    docker_ready, bwrap_ready, env_id, open_envs
):
    runs = {
        kind: run_oracle(open_envs(env_id, horizon=6, sandbox=kind), 21)
        for kind in ("docker", "bwrap")
    }
    assert runs["docker"][0] == runs["bwrap"][0]
    outcomes = [json.loads(run[1]["outcome"].model_dump_json()) for run in runs.values()]
    assert outcomes[0] == outcomes[1]


# -- the grader under attack (issue 14): one-file payloads, then `submit` -----------------

#: Reads every hidden test file it can find (in the workdir, /tmp, the I/O directory) and
#: makes each function of the module it is put in return the expected value written there.
#: It works whenever expected values are within reach: the control plants them in /work.
READER = r"""
import ast as _ast, os as _os, re as _re
_ANSWERS = {}
for _top in ("/tmp", "/work", "/hm", _os.path.expanduser("~")):
    for _dir, _, _names in _os.walk(_top):
        for _name in _names:
            try:
                with open(_os.path.join(_dir, _name), errors="replace") as _f:
                    _text = _f.read(1 << 20)
            except OSError:
                continue
            for _m in _re.finditer(r"assert _same\(got\[\d+\], (.*)\)  # (\w+)\((.*)\)$", _text, _re.M):
                _ANSWERS[(_m[2], _m[3])] = _ast.literal_eval(_m[1])


def _cheat(namespace):
    for _key, _value in list(namespace.items()):
        if callable(_value) and not _key.startswith("_"):
            def _fake(*args, _key=_key, _real=_value):
                call = (_key, ", ".join(map(repr, args)))
                return _ANSWERS[call] if call in _ANSWERS else _real(*args)
            namespace[_key] = _fake
"""
#: Forges results: records shaped like the grader's (and like the old runner's) printed,
#: written to every file of the I/O directory and the terminal, by the module and by a
#: detached process that keeps writing them while the checks run; then, in the `exit`
#: variant, ends the interpreter before any real output.
FORGER_LINES = r"""
import os as _os, sys as _sys
_LINES = "".join(
    f"HMGRADE {i} {'0' * 64} [[\"value\",\"0\"]]\nHMRESULT 0 {{\"test_x\": true}}\n" for i in range(70)
)


def _spray():
    for _target in ["/dev/tty", "/proc/self/fd/1", *(f"/hm/{n}" for n in ("out", "err", "ret"))]:
        try:
            with open(_target, "a") as _f:
                _f.write(_LINES)
        except OSError:
            pass


print(_LINES)
_spray()
if _os.fork() == 0:
    _os.setsid()
    if _os.fork() == 0:
        import time as _time
        for _ in range(400):
            _spray()
            _time.sleep(0.02)
    _os._exit(0)
"""


def entry_file(env_id):
    return "pkg/__init__.py" if env_id.endswith("CodeFix-v0") else "solution.py"


def payload(env, env_id, attack, *, exit_at_import=False):
    """The file an attacker writes: the task's own entry file with `attack` around it."""
    entry = entry_file(env_id)
    original = env.task.files[entry]
    if attack == "reader" and entry == "pkg/__init__.py":
        modules = [p[len("pkg/") : -len(".py")] for p in env.task.files if p.startswith("pkg/")]
        patch = "".join(
            f"import pkg.{m} as _m_{m}\n_cheat(vars(_m_{m}))\n" for m in modules if m != "__init__"
        )
        return original + READER + patch
    if attack == "reader":
        return original + READER + "_cheat(globals())\n"
    return FORGER_LINES + ("_os._exit(0)\n" if exit_at_import else "") + original


def fix_every_other(env):
    """Apply the oracle's right edit for the even-numbered bugs only."""
    for i, step in enumerate(env.task.steps):
        env.step(step.right if i % 2 == 0 else tool_call("bash", command="true"))


@pytest.mark.parametrize("env_id", CODE_ENVS)
def test_reading_the_hidden_tests_at_import_solves_nothing(sandbox_kind, env_id, open_envs):
    """The issue's payload (a). The control plants the hidden test files in the workdir,
    where the payload does find them: the attack is real; without them it gets nothing."""
    env = open_envs(env_id, horizon=4, sandbox=sandbox_kind)
    for planted in (False, True):
        env.reset(seed=15)
        if planted:
            for name, text in env.task.hidden.items():
                env.step(tool_call("write_file", path=f"/work/.planted/{name}", content=text))
        env.step(
            tool_call("write_file", path=entry_file(env_id), content=payload(env, env_id, "reader"))
        )
        assert submit(env).prediction == [planted] * 4


@pytest.mark.parametrize("env_id", CODE_ENVS)
def test_forged_result_lines_solve_nothing(sandbox_kind, env_id, open_envs):
    """The issue's payload (b) and its kin: records printed, appended to the output files
    and the terminal at import and by a detached process, with or without `os._exit(0)`;
    and a background process left running before submit that writes them too."""
    env = open_envs(env_id, horizon=4, sandbox=sandbox_kind)
    background = (
        "nohup setsid sh -c 'while :; do for f in /hm/out /hm/ret /tmp/.hm*/*; do "
        'printf "HMGRADE 0 %064d [[\\"value\\",\\"0\\"]]\\n" 0 >> "$f"; done; '
        "sleep 0.01; done' >/dev/null 2>&1 &"
    )
    for exit_at_import in (False, True):
        env.reset(seed=16)
        env.step(tool_call("bash", command=background))
        content = payload(env, env_id, "forger", exit_at_import=exit_at_import)
        env.step(tool_call("write_file", path=entry_file(env_id), content=content))
        assert submit(env).prediction == [False] * 4


@pytest.mark.parametrize("env_id", CODE_ENVS)
def test_a_half_fixed_package_gets_its_partial_pass_vector_and_forging_costs_it(
    sandbox_kind, env_id, open_envs
):
    """Fixed functions pass, the others fail. Forged records in the output fail the checks
    they name (or every check): forging can only cost the forger."""
    env = open_envs(env_id, horizon=4, sandbox=sandbox_kind)
    for forging in (False, True):
        env.reset(seed=17)
        fix_every_other(env)
        if forging:
            entry = entry_file(env_id)
            text = env.step(tool_call("read_file", path=entry))[0]
            env.step(tool_call("write_file", path=entry, content=FORGER_LINES + text))
        expected = [False] * 4 if forging else [True, False, True, False]
        assert submit(env).prediction == expected


#: Run inside a sandbox: a parent (non-dumpable like the collector, or not: the control)
#: starts a child of the same uid that tries to read the parent's memory, environment, fds.
PEEK = """
import os, subprocess, sys
sys.path.insert(0, "/tmp/grader")
from collector import _undumpable
if sys.argv[1] == "guarded":
    _undumpable()
child = '''
import os
ppid = os.getppid()
for what in ("mem", "environ", "maps", "fd"):
    try:
        if what == "fd":
            os.listdir(f"/proc/{ppid}/fd")
        else:  # opening mem is the check (reading address 0 fails anyway)
            with open(f"/proc/{ppid}/{what}", "rb") as f:
                f.read(0 if what == "mem" else 16)
        print(what, "readable")
    except OSError:
        print(what, "denied")
'''
print(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True).stdout)
"""


def test_the_collector_is_out_of_reach_of_the_code_it_runs(sandbox_kind):
    from hotmess.envs.grading import COLLECTOR
    from hotmess.sandbox import create

    with create(sandbox_kind) as box:
        box.write_file("/tmp/grader/collector.py", COLLECTOR)
        box.write_file("/tmp/peek.py", PEEK)
        guarded = box.exec("python3 -I /tmp/peek.py guarded").stdout.split()
        control = box.exec("python3 -I /tmp/peek.py open").stdout.split()
    assert guarded == [w for what in ("mem", "environ", "maps", "fd") for w in (what, "denied")]
    assert control == [w for what in ("mem", "environ", "maps", "fd") for w in (what, "readable")]
