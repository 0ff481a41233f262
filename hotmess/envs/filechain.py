"""FileChain: a tree of files in the sandbox; the start file names the next file to read,
and so on for H files; the H-th file's label (one of C) is the answer. Decoy files, whose
pointers lead only to other decoys, fill the same directories, so a misread pointer
leaves the chain for good."""

from __future__ import annotations

import posixpath
import re
from typing import Any

from hotmess.envs.base import Tool, categorical_outcome, choice_schema, tool_call
from hotmess.envs.pointer_chase import COLOURS
from hotmess.envs.sandboxed import SandboxEnv
from hotmess.envs.taskgen import TaskRandom
from hotmess.outcome import Outcome

#: Pointer styles each difficulty may use: a path from /work, a path relative to the
#: file, and a bare file name to be found.
POINTER_KINDS = {
    "easy": ("path",),
    "medium": ("path", "relative"),
    "hard": ("path", "relative", "name"),
}
FILLER = (
    "Reviewed by {w} on the {n}th.",
    "Checksum {n}{n} recorded by {w}.",
    "Previously filed under {w}/{w}.",
    "See the {w} archive for context.",
    "Do not read {w}.txt, it is out of date.",
    "Owner: {w}. Priority: {n}.",
    "Archived copy of {w}-{n}.log.",
)


class FileChainEnv(SandboxEnv):
    """Follow a chain of H files through a directory tree; submit the last one's label."""

    description = "Follow H file-to-file pointers through a directory tree in the sandbox, submit a label (categorical)."
    outcome_kind = "categorical"

    def __init__(self, horizon: int = 8, *, n_labels: int = 4, **kwargs: Any) -> None:
        if not 2 <= n_labels <= len(COLOURS):
            raise ValueError(f"n_labels must be between 2 and {len(COLOURS)}, got {n_labels}")
        super().__init__(horizon, **kwargs)
        self.choices = list(COLOURS[:n_labels])

    def _generate(self, seed: int) -> None:
        rng = TaskRandom(seed, "FileChain", len(self.choices), self.difficulty)
        depth = {"easy": 1, "medium": 2, "hard": 3}[self.difficulty]
        n_decoys = {
            "easy": self.horizon + 4,
            "medium": 2 * self.horizon + 6,
            "hard": 3 * self.horizon + 8,
        }[self.difficulty]
        words = rng.words(4 * (self.horizon + n_decoys) + 40)
        dirs = ["."]
        for _ in range(max(3, (self.horizon + n_decoys) // 6)):
            parent = rng.choice([d for d in dirs if d.count("/") < depth])
            dirs.append(posixpath.normpath(f"{parent}/{words.pop()}"))
        # File names are unique, so a bare name identifies one file.
        paths = [
            posixpath.normpath(f"{rng.choice(dirs)}/{words.pop()}.txt")
            for _ in range(self.horizon + n_decoys)
        ]
        chain, decoys = paths[: self.horizon], paths[self.horizon :]
        successor = {p: rng.choice(decoys) for p in decoys}
        successor.update(zip(chain, [*chain[1:], rng.choice(decoys)], strict=True))
        self.chain, self.decoys, self.successor = chain, decoys, successor
        self.label = {p: rng.choice(self.choices) for p in paths}
        self.pointer_kind = {p: rng.choice(POINTER_KINDS[self.difficulty]) for p in paths}
        n_filler = {"easy": (0, 1), "medium": (1, 4), "hard": (4, 10)}[self.difficulty]
        self.contents = {}
        for path in paths:
            lines = [f"Label: {self.label[path]}", self._pointer(path, successor[path])]
            for _ in range(rng.randint(*n_filler)):
                lines.insert(
                    rng.randint(0, len(lines)),
                    rng.choice(FILLER).format(w=rng.choice(words), n=rng.randint(2, 28)),
                )
            self.contents[path] = "\n".join(lines) + "\n"

    def _pointer(self, path: str, target: str) -> str:
        kind = self.pointer_kind[path]
        if kind == "relative":
            return f"Next (relative to this file): {posixpath.relpath(target, posixpath.dirname(path))}"
        if kind == "name":
            return f"Next: the only file named '{posixpath.basename(target)}' (find it)"
        return f"Next: {target}"

    def _files(self) -> dict[str, str | bytes]:
        return dict(self.contents)

    def _prompt(self) -> str:
        return (
            f"The directory /work holds a tree of text files. Each file has a label ({', '.join(self.choices)}) "
            f"and names the next file to read. Start by reading {self.chain[0]}; it is file 1. Follow the chain "
            f"to file {self.horizon} and submit its label with submit(answer). Paths in 'Next:' lines are relative "
            "to /work unless the line says otherwise."
        )

    def _tools(self) -> list[Tool]:
        return self.shell_tools()

    def _submit_schema(self) -> dict[str, Any]:
        return choice_schema(self.choices, "labels")

    def _min_actions(self) -> int:
        finds = sum(self.pointer_kind[p] == "name" for p in self.chain[:-1])
        return self.horizon + finds + 1

    def _judge(self, answer: Any) -> Outcome:
        return categorical_outcome(
            answer, self.choices, self.choices.index(self.label[self.chain[-1]])
        )

    def _missing_outcome(self) -> Outcome:
        return Outcome(
            kind="categorical",
            target=self.choices.index(self.label[self.chain[-1]]),
            choices=self.choices,
        )

    def _task_spec(self) -> Any:
        return {"files": self.contents, "chain": self.chain}

    def oracle(self) -> FileChainOracle:
        return FileChainOracle(self.chain[0], self.horizon, self.decoys)


class FileChainOracle:
    """Reads the chain through the tools, finding files by name where it must; a mistake
    reads a decoy instead of the next file."""

    def __init__(self, start: str, horizon: int, decoys: list[str]) -> None:
        self.next_path: str | None = start
        self.horizon, self.decoys = horizon, decoys
        self.reads = 0
        self.current = start
        self.label = ""
        self.finding = False

    def act(self, observation: str, *, mistake: float | None = None) -> str:
        if self.finding:  # the observation is the output of `find`
            self.finding = False
            self.next_path = posixpath.normpath(observation.splitlines()[0])
        elif self.reads > 0:
            self.label = _field(observation, r"^Label: (\w+)$")
            if self.reads == self.horizon:
                return tool_call("submit", answer=self.label)
            relative = re.search(r"^Next \(relative to this file\): (\S+)$", observation, re.M)
            named = re.search(r"^Next: the only file named '([^']+)'", observation, re.M)
            if relative:
                self.next_path = posixpath.normpath(
                    posixpath.join(posixpath.dirname(self.current), relative.group(1))
                )
            elif named:
                self.finding = True
                return tool_call("bash", command=f"find . -name '{named.group(1)}'")
            else:
                self.next_path = _field(observation, r"^Next: (\S+)$")
        assert self.next_path is not None
        path = self.next_path
        if mistake is not None:
            wrong = [d for d in self.decoys if d != path]
            path = wrong[int(mistake * len(wrong)) % len(wrong)]
        self.current, self.reads = path, self.reads + 1
        return tool_call("read_file", path=path)


def _field(text: str, pattern: str) -> str:
    match = re.search(pattern, text, re.M)
    if match is None:
        raise RuntimeError(f"oracle could not find {pattern!r} in {text!r}")
    return match.group(1)
