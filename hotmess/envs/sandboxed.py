"""The base of environments whose tools run in a sandbox: one fresh sandbox per episode,
the shared shell and file tools, and the grader: the agent's code runs on the hidden
tests' inputs in a second, fresh sandbox, and its outputs are compared here, on the host.

A family generates its task in pure Python (`_generate`), lists the files to put in the
workdir (`_files`), and adds its own tools to `shell_tools()`.
"""

from __future__ import annotations

import copy
import io
import secrets
import shlex
import tarfile
from collections.abc import Sequence
from typing import Any, ClassVar

from hotmess.envs import grading
from hotmess.envs.base import Tool, ToolEnv, ToolError, params
from hotmess.envs.grading import Check
from hotmess.sandbox import COLD, Sandbox, SandboxSource, create, resolve_kind

DIFFICULTIES = ("easy", "medium", "hard")
NO_OUTPUT = "(no output)\n"

#: Largest archive of the agent's workdir the grader copies into the scoring sandbox.
WORKDIR_LIMIT_BYTES = 32 * 2**20


def tar_bytes(files: dict[str, str | bytes]) -> bytes:
    """A tar archive of `files` (paths relative to the workdir), deterministic."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path, content in sorted(files.items()):
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def upload_archive(box: Sandbox, archive: bytes, directory: str) -> bool:
    """Unpack a tar archive into `directory` of `box` in one round trip; False if tar failed."""
    name = f"/tmp/.hm-upload-{secrets.token_hex(4)}.tar"
    box.write_file(name, archive)
    target = shlex.quote(directory)
    result = box.exec(
        f"mkdir -p {target} && tar -xf {name} -C {target}; code=$?; rm -f {name}; [ $code = 0 ]"
    )
    return result.exit_code == 0


def terminal_view(stdout: str, stderr: str, exit_code: int) -> str:
    """Command output as a terminal user would see it, then the exit code."""
    output = stdout
    if stderr:
        output += ("" if not output or output.endswith("\n") else "\n") + stderr
    if output and not output.endswith("\n"):
        output += "\n"
    return f"{output or NO_OUTPUT}[exit code {exit_code}]"


class SandboxEnv(ToolEnv):
    """A task whose actions run in a sandbox (docker or bwrap), created fresh each episode."""

    needs_sandbox = True
    #: The command `run_tests()` runs, or None when the family has no visible tests.
    test_command: ClassVar[str | None] = None
    #: Seconds a command of the agent may take before it is killed.
    command_timeout_s: ClassVar[float] = 60.0
    #: Where episodes' sandboxes come from: made at reset, unless the runner hands the env
    #: a pool of warm ones (`hotmess.runner.warm`); either way, fresh for every episode.
    sandbox_source: SandboxSource = COLD

    def __init__(self, horizon: int = 8, *, difficulty: str = "medium", **kwargs: Any) -> None:
        if difficulty not in DIFFICULTIES:
            raise ValueError(
                f"difficulty must be one of {', '.join(DIFFICULTIES)}, got {difficulty!r}"
            )
        super().__init__(horizon, **kwargs)
        self.difficulty = difficulty
        self.sandbox: Sandbox | None = None
        self._options: dict[str, Any] = {}
        self._resolved = False

    # -- what a family implements besides ToolEnv's hooks --------------------------------

    def _files(self) -> dict[str, str | bytes]:
        """Files to create in the workdir at reset (relative paths)."""
        raise NotImplementedError

    # -- the episode's sandbox ----------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Generate the task, start a fresh sandbox and put the task's files in it."""
        self._close_sandbox()
        self._resolve_sandbox_kind()
        observation, info = super().reset(seed=seed, options=options)
        # Output is cut once, by the sandbox, so that stdout and stderr both fit the observation.
        defaults = {
            "command_timeout_s": self.command_timeout_s,
            "output_limit_bytes": self.max_observation_chars // 2 - 100,
        }
        self._options = {**defaults, **self.sandbox_options}
        self.sandbox = self.sandbox_source.take(self.sandbox_kind, self._options)
        self.upload(self._files())
        return observation, info

    def _resolve_sandbox_kind(self) -> str:
        """The backend, with `auto` resolved once, at the first reset (not at make time,
        so making an env never needs Docker)."""
        if not self._resolved:
            self.sandbox_kind = resolve_kind(self.sandbox_kind)
            self._resolved = True
        return self.sandbox_kind

    def upload(self, files: dict[str, str | bytes], directory: str = ".") -> None:
        """Put many files in the sandbox in one round trip (a tar archive)."""
        if files and not upload_archive(self._box(), tar_bytes(files), directory):
            raise RuntimeError(f"could not unpack the task's files in the sandbox ({directory})")

    def _sibling(self) -> SandboxEnv:
        """A copy without this episode's sandbox: its examples run in sandboxes of their own."""
        sibling = copy.copy(self)
        sibling.sandbox = None
        return sibling

    def _box(self) -> Sandbox:
        if self.sandbox is None:
            raise RuntimeError("the sandbox exists only between reset() and the end of the episode")
        return self.sandbox

    def close(self) -> None:
        self._close_sandbox()
        super().close()

    def _close_sandbox(self) -> None:
        if self.sandbox is not None:
            sandbox, self.sandbox = self.sandbox, None
            self.sandbox_source.give_back(sandbox)

    # -- the shared tools ---------------------------------------------------------------

    def shell_tools(self) -> list[Tool]:
        """bash, read_file, write_file, edit_file, and run_tests when the family has tests."""
        tools = [
            Tool(
                "bash",
                "Run a bash command in the task's sandbox (working directory /work; state such as "
                "the current directory and variables persists between calls; no network).",
                params({"command": ("string", "The command line to run.")}),
                self._bash,
            ),
            Tool(
                "read_file",
                "Read a text file.",
                params({"path": ("string", "Path, relative to /work or absolute.")}),
                self._read_file,
            ),
            Tool(
                "write_file",
                "Create or overwrite a file with the given content.",
                params(
                    {
                        "path": ("string", "Path, relative to /work or absolute."),
                        "content": ("string", "The full new content."),
                    }
                ),
                self._write_file,
            ),
            Tool(
                "edit_file",
                "Replace one exact occurrence of `old` in a file with `new`.",
                params(
                    {
                        "path": ("string", "Path, relative to /work or absolute."),
                        "old": ("string", "Text to replace: must occur exactly once in the file."),
                        "new": ("string", "The replacement text."),
                    }
                ),
                self._edit_file,
            ),
        ]
        if self.test_command is not None:
            tools.append(
                Tool(
                    "run_tests",
                    "Run the visible tests and show their results.",
                    params({}),
                    self._run_tests,
                )
            )
        return tools

    def _bash(self, command: str) -> str:
        result = self._box().exec(command)
        return terminal_view(result.stdout, result.stderr, result.exit_code)

    def _read_bytes(self, path: str) -> bytes:
        try:
            return self._box().read_file(path)
        except FileNotFoundError:
            raise ToolError(f"no such file: {path}") from None
        except IsADirectoryError:
            raise ToolError(f"{path} is a directory; list it with bash, e.g. ls {path}") from None
        except OSError as exc:
            raise ToolError(str(exc)) from None

    def _read_file(self, path: str) -> str:
        return self._read_bytes(path).decode("utf-8", errors="replace") or "(empty file)"

    def _write_file(self, path: str, content: str) -> str:
        try:
            self._box().write_file(path, content)
        except OSError as exc:
            raise ToolError(str(exc)) from None
        return f"Wrote {len(content.encode())} bytes to {path}."

    def _edit_file(self, path: str, old: str, new: str) -> str:
        text = self._read_bytes(path).decode("utf-8", errors="replace")
        if not old:
            raise ToolError("`old` is empty; give the exact text to replace.")
        count = text.count(old)
        if count == 0:
            raise ToolError(
                f"`old` does not occur in {path}; read the file and copy the text exactly, whitespace included."
            )
        if count > 1:
            raise ToolError(
                f"`old` occurs {count} times in {path}; include more surrounding lines so it occurs once."
            )
        self._write_file(path, text.replace(old, new, 1))
        return f"Edited {path}: replaced 1 occurrence ({old.count(chr(10)) + 1} line(s) -> {new.count(chr(10)) + 1})."

    def _run_tests(self) -> str:
        assert self.test_command is not None
        return self._bash(self.test_command)

    # -- scoring ------------------------------------------------------------------------

    def grade(
        self, checks: Sequence[Check], *, root: str = "/work", seconds_per_check: float = 8.0
    ) -> list[bool]:
        """Run the agent's functions on the checks' inputs and return pass/fail per check.

        Every process the agent left is killed and its workdir copied into a fresh scoring
        sandbox. There a collector runs each function in a child interpreter and prints the
        raw outputs, signed with a key only the collector holds (never on disk once it has
        started, never in a process that runs the agent's code); the expected values never
        leave the host, which checks the signatures strictly and compares. What the agent's
        code can do at worst is fail its own checks.
        """
        archive = self._workdir_archive(root)
        if archive is None:
            return [False] * len(checks)
        key = secrets.token_hex(32).encode()
        options = {
            **self._options,
            "output_limit_bytes": grading.output_limit(checks),
            "command_timeout_s": seconds_per_check * len(checks) + 30,
        }
        with create(self.sandbox_kind, **options) as box:
            if not upload_archive(box, archive, root):
                return [False] * len(checks)  # the agent's files would not unpack
            directory = f"/tmp/.hm-grade-{secrets.token_hex(8)}"
            request = grading.request(checks, root=root, seconds=seconds_per_check)
            upload_archive(
                box,
                tar_bytes({"collector.py": grading.COLLECTOR, "request.json": request}),
                directory,
            )
            box.write_file(f"{directory}/key", key)
            result = box.exec(
                f"cd {shlex.quote(root)} && python3 -I {directory}/collector.py {directory}",
                timeout=options["command_timeout_s"],
            )
        return grading.verdicts(checks, result.stdout, key)

    def _workdir_archive(self, root: str) -> bytes | None:
        """Kill every process the agent left, then read its workdir as a tar archive; None
        when that fails or is too large (the agent's doing: its checks fail)."""
        box = self._box()
        box.exec("kill -KILL -1 2>/dev/null; true")  # the shell too: a new one starts
        name = f"/tmp/.hm-workdir-{secrets.token_hex(8)}.tar"
        result = box.exec(f"tar -cf {name} -C {shlex.quote(root)} . && stat -c %s {name}")
        size = result.stdout.strip()
        if result.exit_code != 0 or not size.isdigit() or int(size) > WORKDIR_LIMIT_BYTES:
            return None
        try:
            archive = box.read_file(name)
        except OSError:
            return None
        box.exec(f"rm -f {name}")
        return archive if len(archive) <= WORKDIR_LIMIT_BYTES else None
