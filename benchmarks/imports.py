"""What `hotmess import inspect` costs on a large log: a 10,000-sample eval (2,000 questions
x 5 epochs, four tool calls each), its import timed and its peak memory measured, against
Inspect reading the same log whole with `read_eval_log` (what an import that did not
stream would need before writing a line).

    python benchmarks/imports.py [--questions 2000] [--epochs 5]

The log is made from one real mockllm sample (an agent calling a tool four times),
copied with new ids, epochs and scores, and written with Inspect's own `write_eval_log`.
Each side runs in a fresh process, so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

IMPORT = """
import resource, sys, time
from hotmess.importers import InspectImport, import_inspect
start = time.perf_counter()
result = import_inspect([sys.argv[1]], sys.argv[2], InspectImport())
seconds = time.perf_counter() - start
print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, result.n_episodes)
"""
READ_WHOLE = """
import resource, sys, time
from inspect_ai.log import read_eval_log
start = time.perf_counter()
log = read_eval_log(sys.argv[1])
seconds = time.perf_counter() - start
print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, len(log.samples))
"""
BASELINE = """
import resource, sys
import inspect_ai.log, hotmess.importers
print(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0)
"""


def _one_sample(log_dir: Path) -> Any:
    """A real sample: mockllm calling an `add` tool four times, then answering."""
    from inspect_ai import Task
    from inspect_ai import eval as inspect_eval
    from inspect_ai.dataset import Sample
    from inspect_ai.model import ModelOutput, ModelUsage, get_model
    from inspect_ai.scorer import match
    from inspect_ai.solver import generate, use_tools
    from inspect_ai.tool import tool

    @tool
    def add() -> Any:
        async def execute(a: int, b: int) -> str:
            """Add two numbers.

            Args:
                a: The first number.
                b: The second number.
            """
            return str(a + b)

        return execute

    def reply(messages: list[Any], *_: Any) -> Any:
        done = sum(1 for m in messages if m.role == "tool")
        output = (
            ModelOutput.for_tool_call("mockllm/model", "add", {"a": done, "b": 1})
            if done < 4
            else ModelOutput.from_content(model="mockllm/model", content="4")
        )
        output.usage = ModelUsage(input_tokens=50, output_tokens=5, total_tokens=55)
        return output

    task = Task(
        dataset=[Sample(id=0, input="Add 1 four times to 0.", target="4")],
        solver=[use_tools(add()), generate()],
        scorer=match(),
    )
    model = get_model("mockllm/model", custom_outputs=reply)
    (log,) = inspect_eval(task, model=model, log_dir=str(log_dir), display="none")
    return log


def make_log(path: Path, questions: int, epochs: int) -> None:
    from inspect_ai.log import read_eval_log, write_eval_log

    template = read_eval_log(_one_sample(path.parent / "template").location)
    sample = template.samples[0]
    samples = []
    for question in range(questions):
        for epoch in range(1, epochs + 1):
            score = sample.scores["match"].model_copy(
                update={"value": "C" if (question + epoch) % 3 else "I"}
            )
            samples.append(
                sample.model_copy(
                    update={
                        "id": question,
                        "epoch": epoch,
                        "scores": {"match": score},
                        "uuid": f"{question}-{epoch}",  # each sample run has its own
                    }
                )
            )
    template.samples = samples
    # Inspect reads samples by the ids and epochs its header lists.
    template.eval.dataset.samples = questions
    template.eval.dataset.sample_ids = list(range(questions))
    template.eval.config.epochs = epochs
    template.results.total_samples = template.results.completed_samples = len(samples)
    write_eval_log(template, str(path))


def _run(script: str, *args: str) -> tuple[float, float, int]:
    out = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), float(out[1]), int(out[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        log = root / "big.eval"
        make_log(log, args.questions, args.epochs)
        size = log.stat().st_size / 2**20
        _, base_mb, _ = _run(BASELINE)
        read_s, read_mb, n_read = _run(READ_WHOLE, str(log))
        import_s, import_mb, n_imported = _run(IMPORT, str(log), str(root / "run"))
        run_mb = (root / "run" / "episodes.jsonl").stat().st_size / 2**20
    rows = [
        ("samples in the log", f"{n_read:,}", f"{n_imported:,}"),
        ("seconds", f"{read_s:.1f}", f"{import_s:.1f}"),
        ("samples per second", f"{n_read / read_s:,.0f}", f"{n_imported / import_s:,.0f}"),
        (
            f"peak RSS, MiB (imports alone: {base_mb:.0f})",
            f"{read_mb:.0f}",
            f"{import_mb:.0f}",
        ),
        (
            "peak RSS above the imports, MiB",
            f"{read_mb - base_mb:.0f}",
            f"{import_mb - base_mb:.0f}",
        ),
    ]
    print(f"log: {size:.1f} MiB .eval; run written: {run_mb:.1f} MiB episodes.jsonl")
    print(f"{'':40} {'read_eval_log (whole)':>22} {'hotmess import':>16}")
    for name, read, imported in rows:
        print(f"{name:40} {read:>22} {imported:>16}")
    print(
        json.dumps(
            {
                "import_over_read_time": round(import_s / read_s, 2),
                "import_over_read_memory": round(
                    (import_mb - base_mb) / max(read_mb - base_mb, 1), 2
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
