"""The base of environments whose tools run in a sandbox: one fresh sandbox per episode,
the shared shell and file tools, and hidden tests that enter the sandbox only to score.

A family generates its task in pure Python (`_generate`), lists the files to put in the
workdir (`_files`), and adds its own tools to `shell_tools()`.
"""

from __future__ import annotations

import copy
import io
import json
import secrets
import shlex
import tarfile
import textwrap
from typing import Any, ClassVar

from hotmess.envs.base import Tool, ToolEnv, ToolError, params
from hotmess.sandbox import Sandbox, create, resolve_kind

DIFFICULTIES = ("easy", "medium", "hard")
NO_OUTPUT = "(no output)\n"

#: Runs hidden tests without pytest, in isolated mode (so nothing the agent left in the
#: workdir shadows a module), each test under an alarm, and prints one JSON line keyed by
#: a nonce the agent cannot know.
HIDDEN_RUNNER = textwrap.dedent(
    """
    import importlib.util, json, signal, sys, traceback
    nonce = sys.stdin.readline().strip()  # not in argv, where /proc/<pid>/cmdline would show it
    root, per_test = sys.argv[1], float(sys.argv[2])
    sys.path.insert(0, root)
    results = {}

    def alarm(signum, frame):
        raise TimeoutError("test took too long")

    signal.signal(signal.SIGALRM, alarm)
    for path in sys.argv[3:]:
        spec = importlib.util.spec_from_file_location("hidden_" + str(len(results)), path)
        module = importlib.util.module_from_spec(spec)
        try:
            signal.setitimer(signal.ITIMER_REAL, per_test * 4)
            spec.loader.exec_module(module)
            signal.setitimer(signal.ITIMER_REAL, 0)
        except BaseException:
            signal.setitimer(signal.ITIMER_REAL, 0)
            print("import of", path, "failed:", traceback.format_exc(limit=2), file=sys.stderr)
            continue
        for name in sorted(n for n in vars(module) if n.startswith("test_")):
            try:
                signal.setitimer(signal.ITIMER_REAL, per_test)
                getattr(module, name)()
                results[name] = True
            except BaseException:
                results[name] = False
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    sys.stdout.write("\\nHMRESULT " + nonce + " " + json.dumps(results) + "\\n")
    """
)


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

    def __init__(self, horizon: int = 8, *, difficulty: str = "medium", **kwargs: Any) -> None:
        if difficulty not in DIFFICULTIES:
            raise ValueError(
                f"difficulty must be one of {', '.join(DIFFICULTIES)}, got {difficulty!r}"
            )
        super().__init__(horizon, **kwargs)
        self.difficulty = difficulty
        self.sandbox: Sandbox | None = None
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
        if not self._resolved:
            self.sandbox_kind = resolve_kind(self.sandbox_kind)
            self._resolved = True
        observation, info = super().reset(seed=seed, options=options)
        # Output is cut once, by the sandbox, so that stdout and stderr both fit the observation.
        defaults = {
            "command_timeout_s": self.command_timeout_s,
            "output_limit_bytes": self.max_observation_chars // 2 - 100,
        }
        options = {**defaults, **self.sandbox_options}
        self.sandbox = create(self.sandbox_kind, **options)
        self.upload(self._files())
        return observation, info

    def upload(self, files: dict[str, str | bytes], directory: str = ".") -> None:
        """Put many files in the sandbox in one round trip (a tar archive)."""
        if not files:
            return
        box = self._box()
        name = f"/tmp/.hm-upload-{secrets.token_hex(4)}.tar"
        box.write_file(name, tar_bytes(files))
        result = box.exec(
            f"mkdir -p {shlex.quote(directory)} && tar -xf {name} -C {shlex.quote(directory)} && rm -f {name}"
        )
        if result.exit_code != 0:
            raise RuntimeError(
                f"could not unpack the task's files in the sandbox: {result.stderr.strip()}"
            )

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
            self.sandbox.close()
            self.sandbox = None

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

    def run_hidden_tests(
        self,
        test_files: dict[str, str],
        names: list[str],
        *,
        root: str = "/work",
        per_test_s: float = 10.0,
    ) -> list[bool]:
        """Run hidden tests against the agent's work and return pass/fail in `names` order.

        First every process the agent left running is killed (so nothing can tamper with the
        tests), then the tests go to a fresh directory outside the workdir, run in isolated
        mode, and are removed again. A test that did not report counts as failed.
        """
        box = self._box()
        box.exec(
            "kill -KILL -1 2>/dev/null; true"
        )  # ends the agent's processes, and the shell: a new one starts
        nonce = secrets.token_hex(8)
        directory = f"/tmp/.hm-hidden-{nonce}"
        files: dict[str, str | bytes] = {"runner.py": HIDDEN_RUNNER, **test_files}
        self.upload(files, directory)
        paths = " ".join(shlex.quote(f"{directory}/{name}") for name in sorted(test_files))
        # -X pycache_prefix: never load bytecode the agent planted in a __pycache__.
        command = (
            f"cd /tmp && echo {nonce} | python3 -I -X pycache_prefix={directory}/pyc {directory}/runner.py "
            f"{shlex.quote(root)} {per_test_s} {paths}; rm -rf {directory}"
        )
        timeout = per_test_s * (len(names) + 4) + 30
        result = box.exec(command, timeout=timeout)
        marker = f"HMRESULT {nonce} "
        reported: dict[str, bool] = {}
        for line in result.stdout.splitlines():
            if line.startswith(marker):
                reported = json.loads(line[len(marker) :])
        return [reported.get(name, False) is True for name in names]
