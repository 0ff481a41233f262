"""`hotmess/Harbor-v0`: a Harbor task folder (Terminal-Bench 2.0's format) as an environment.
The agent gets instruction.md and a shell in the task's own container; after `submit`, or
at the action cap, tests/ enters the container and test.sh's reward decides. The horizon
is the action cap: these tasks are as long as they are."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from hotmess.envs.base import Tool, ToolEnv, params, tool_call
from hotmess.envs.examples import Example
from hotmess.envs.harbor.container import HarborSandbox
from hotmess.envs.harbor.image import image_defaults, resolve_uid, task_image
from hotmess.envs.harbor.task import SOLUTION_DIR, HarborTask, find_tasks, load_task, pick
from hotmess.envs.harbor.verifier import VerifierResult, verify
from hotmess.envs.sandboxed import SandboxEnv
from hotmess.errors import ConfigError
from hotmess.outcome import Outcome, OutcomeKind
from hotmess.sandbox import SandboxConfig

OUTCOMES = ("tests", "reward")
#: The one test a run without per-test results is scored on: its reward, passed at 1.
REWARD_TEST = "reward"


def _tighter(user: float | None, task: float | None) -> float | None:
    """The task's resource when the user set none, never more than the user allowed."""
    if user is None:
        return task
    return user if task is None else min(user, task)


class HarborEnv(SandboxEnv):
    """A Harbor task in its container; scored by its tests/test.sh, Harbor's way."""

    description = (
        "A Harbor task folder (Terminal-Bench 2.0 format, -O path=DIR) in its own Docker "
        "image; test.sh's reward, per test where the tests report them (tests)."
    )
    outcome_kind = "tests"
    #: Tasks come from folders the user names (`path`), not from a generator.
    external_tasks: ClassVar[bool] = True
    command_timeout_s = 600.0

    @classmethod
    def outcome_kind_for(cls, options: Mapping[str, Any]) -> OutcomeKind:
        return "scalar" if options.get("outcome") == "reward" else "tests"

    @classmethod
    def dataset_size(cls, options: Mapping[str, Any]) -> int | None:
        if options.get("path") is None:
            raise ConfigError(
                "hotmess/Harbor-v0 needs path=: a Harbor task folder or a folder of them "
                "(-O path=DIR)"
            )
        return len(find_tasks(options["path"]))

    def __init__(
        self,
        horizon: int = 8,
        *,
        path: str | None = None,
        allow_internet: bool = False,
        verifier_network: bool = False,
        outcome: str = "tests",
        **kwargs: Any,
    ) -> None:
        if path is None:
            raise ValueError(
                "hotmess/Harbor-v0 needs path=: a Harbor task folder or a folder of them "
                "(-O path=DIR)"
            )
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
        for name, value in (
            ("allow_internet", allow_internet),
            ("verifier_network", verifier_network),
        ):
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false, got {value!r}")
        if kwargs.get("sandbox", "auto") not in ("auto", "docker"):
            raise ValueError(
                "Harbor tasks run in their own Docker image: use --sandbox docker (or auto)"
            )
        super().__init__(horizon, **kwargs)
        self.path, self.allow_internet, self.outcome_mode = str(path), allow_internet, outcome
        self.verifier_network = verifier_network
        self.task_paths = find_tasks(path)
        self.task: HarborTask | None = None
        self.network = False
        self._grading = True
        self._known_tests: dict[str, list[str]] = {}
        self._loaded: dict[Path, HarborTask] = {}

    # -- the task and its container -----------------------------------------------------

    def _generate(self, seed: int) -> None:
        root = pick(self.task_paths, seed)
        if root not in self._loaded:  # read and hashed once per process: folders can be big
            self._loaded[root] = load_task(root)
        self.task = self._loaded[root]
        wants = self.task.config.environment.wants_network
        if wants and not self.allow_internet:
            raise ConfigError(
                f"Harbor task {self.task.name} asks for the network (task.toml [environment] "
                "allow_internet = true or network_mode public/allowlist); hotmess runs "
                "tasks without it unless you pass -O allow_internet=true"
            )
        # Allowed, the network is Harbor's: on unless the task turns it off.
        self.network = self.allow_internet and self.task.config.environment.harbor_network

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Pick the task for `seed`, build or reuse its image, start its container."""
        self._close_sandbox()
        if self._resolve_sandbox_kind() != "docker":
            raise ConfigError(
                "Harbor tasks run in their own Docker image, and no Docker engine answers: "
                "start Docker"
            )
        self._grading = True
        observation, info = ToolEnv.reset(self, seed=seed, options=options)
        assert self.task is not None
        image = task_image(self.task)
        self.sandbox = HarborSandbox(
            self._sandbox_config(image.name),
            environment=self.task.env("environment"),
            agent_network=self.network,
            keeper_python=image.keeper_python,
        )
        info["harbor"] = {
            "task": self.task.name,
            "image": image.name,
            "network": self.network,
            "verifier_network": self.verifier_network or self.network,
        }
        return observation, info

    def _sandbox_config(self, image: str) -> SandboxConfig:
        """hotmess's limits, tightened by what task.toml asks for: never looser than the
        user's own `sandbox_options`; the network only as `_generate` allowed it."""
        assert self.task is not None
        environment, asked = self.task.config.environment, self.sandbox_options
        image_user, image_workdir = image_defaults(image)
        agent_user = self.task.config.agent.user
        defaults = SandboxConfig()
        limits: dict[str, Any] = {
            "command_timeout_s": self.command_timeout_s,
            "output_limit_bytes": self.max_observation_chars // 2 - 100,
            **asked,
            "image": image,
            "network": self.network or self.verifier_network,
            "workdir": environment.workdir or image_workdir or "/",
            "memory_mb": _tighter(asked.get("memory_mb"), environment.memory_mb)
            or defaults.memory_mb,
            "cpus": _tighter(asked.get("cpus"), environment.cpus) or defaults.cpus,
            "file_size_mb": _tighter(
                asked.get("file_size_mb", defaults.file_size_mb), environment.storage_mb
            ),
            "episode_timeout_s": _tighter(
                asked.get("episode_timeout_s", defaults.episode_timeout_s),
                self.task.config.agent.timeout_sec,
            ),
        }
        config = SandboxConfig(**{k: v for k, v in limits.items() if k != "uid"})
        # SandboxConfig keeps uid >= 1 for hotmess's own images; a Harbor task's agent runs
        # as the task says, root unless it names another user, as in Harbor.
        uid = resolve_uid(image, agent_user if agent_user is not None else image_user)
        return config.model_copy(update={"uid": uid})

    def _box(self) -> HarborSandbox:
        box = super()._box()
        assert isinstance(box, HarborSandbox)
        return box

    def upload_solution(self) -> None:
        """Copy solution/ to /solution: for the oracle only, at its first action."""
        assert self.task is not None
        self._box().upload_tree(self.task.solution_dir, SOLUTION_DIR)

    # -- what the agent sees ------------------------------------------------------------

    def _prompt(self) -> str:
        assert self.task is not None
        return (
            f"{self.task.instruction.rstrip()}\n\n"
            "(Work with the tools in the task's container; call submit when you are done: "
            "the tests run after that.)"
        )

    def _tools(self) -> list[Tool]:
        """The shell tools, their texts saying the task's container, not hotmess's /work."""
        network = "network access" if self.network else "no network"
        bash = (
            "Run a bash command in the task's container (state such as the current directory "
            f"and variables persist between calls; {network})."
        )
        tools = []
        for tool in self.shell_tools()[:4]:
            schema = json.loads(
                json.dumps(tool.parameters).replace(
                    "relative to /work", "relative to the working directory"
                )
            )
            text = bash if tool.name == "bash" else tool.description
            tools.append(Tool(tool.name, text, schema, tool.handler))
        return tools

    def _submit_schema(self) -> dict[str, Any]:
        return params({}, {"answer": ("string", "Optional note on what you did.")})

    def _min_actions(self) -> int:
        return self.horizon

    def _task_spec(self) -> Any:
        assert self.task is not None
        return {"task": self.task.name, "digest": self.task.digest}

    def examples(self, n: int) -> list[Example]:
        """None: a worked example would be another task's solution, run in Docker."""
        return []

    def oracle(self) -> HarborOracle:
        return HarborOracle(self)

    # -- the end of an episode: Harbor's verifier ------------------------------------------

    def _judge(self, answer: Any = None) -> Outcome:
        return self._grade(answer)

    def _missing_outcome(self) -> Outcome:
        """At the cap, on the agent's time-out, a context window full or an agent that
        broke: its work is graded, as Harbor grades after AgentTimeoutError; after a fault
        outside the agent (`abandon`) nothing is."""
        if not self._grading or self.sandbox is None:
            return self._outcome_of(VerifierResult(problem="not graded"), None)
        return self._grade(None)

    def abandon(self, reason: str) -> Outcome:
        self._grading = False
        return super().abandon(reason)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """As `ToolEnv.step`; besides, the episode ends truncated (and is graded) once the
        task's agent timeout (task.toml [agent] timeout_sec) has passed, as Harbor grades
        after its AgentTimeoutError."""
        observation, reward, terminated, truncated, info = super().step(action)
        if not (terminated or truncated) and self._timed_out():
            outcome = self._grade(None)
            outcome.truncated, outcome.n_actions = True, self.n_actions
            self._outcome, self._done = outcome, True
            info["outcome"], info["submit_only"] = outcome, False
            observation += "\n[The task's agent timeout has passed: the episode is over.]"
            truncated, reward = True, float(outcome.success)
        return observation, reward, terminated, truncated, info

    def _timed_out(self) -> bool:
        """Whether the agent's time is up: the container's wall-clock limit, which is the
        task's agent timeout (or the user's `episode_timeout_s`, when that is shorter)."""
        return self.sandbox is not None and self._box().expired

    def _grade(self, note: Any) -> Outcome:
        assert self.task is not None
        verifier_user = self.task.config.verifier.user
        user = str(0 if verifier_user is None else verifier_user)
        result = verify(
            self._box(), self.task, user=user, network=self.verifier_network and not self.network
        )
        return self._outcome_of(result, note)

    def _outcome_of(self, result: VerifierResult, note: Any) -> Outcome:
        """Harbor's reward as a hotmess outcome: per-test results where the tests left them,
        else the reward as one test passed at 1 (or the reward itself, outcome=reward). No
        reward is the agent's failure, scored as every test failing (Harbor: reward 0)."""
        assert self.task is not None
        reward = result.reward
        success = reward is not None and reward >= 1.0
        answer = {
            "note": note,
            "reward": reward,
            "rewards": result.rewards,
            "verifier_exit_code": result.exit_code,
            "tests_report": result.report,
            "network": self.network,
            "verifier_network": self.verifier_network or self.network,
            **result.details,
        }
        failure = None if reward is not None else f"no reward: {result.problem}"
        if self.outcome_mode == "reward":
            return Outcome(
                kind="scalar",
                prediction=0.0 if reward is None else reward,
                target=1.0,
                answer=answer,
                success=success,
                agent_failure=failure,
            )
        if result.tests is not None:
            names = [name for name, _ in result.tests]
            self._known_tests.setdefault(self.task.name, names)
            passed: list[bool] | None = [ok for _, ok in result.tests]
        else:
            names = self._known_tests.get(self.task.name, [REWARD_TEST])
            passed = [success] * len(names)
        return Outcome(
            kind="tests",
            tests=names,
            prediction=None if reward is None else passed,
            answer=answer,
            success=success,
            agent_failure=failure,
        )


class HarborOracle:
    """Runs the task's solution/solve.sh (uploaded at its first action, never before),
    then submits. A mistake wastes the action on a look around instead."""

    def __init__(self, env: HarborEnv) -> None:
        self.env = env
        self.solved = False

    def act(self, observation: str, *, mistake: float | None = None) -> str:
        if self.solved:
            return tool_call("submit", answer="ran solution/solve.sh")
        if mistake is not None:
            return tool_call("bash", command="ls -la")
        task = self.env.task
        assert task is not None
        if not task.has_solution:
            raise RuntimeError(f"Harbor task {task.name} has no solution/solve.sh")
        self.env.upload_solution()
        self.solved = True
        exports = "".join(
            f"export {key}={shlex.quote(value)}; "
            for key, value in {
                "DEBIAN_FRONTEND": "noninteractive",
                **task.env("solution"),
            }.items()
        )
        return tool_call(
            "bash", command=f"{exports}chmod +x {SOLUTION_DIR}/solve.sh && {SOLUTION_DIR}/solve.sh"
        )
