"""Small real Inspect evals for the import tests: Inspect's `mockllm` model answers from a
script per question (every output carries `usage`, so Inspect counts no tokens itself and
needs no tokenizer download), run offline with `epochs=5`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

EPOCHS = 5
MODEL = "mockllm/model"

ARITHMETIC = {"a1": ("2+2?", "4"), "a2": ("3*3?", "9"), "a3": ("10-7?", "3"), "a4": ("8/2?", "4")}
"""id: (question, answer) of the correct/incorrect task."""
ARITHMETIC_ANSWERS = {
    "a1": ["4", "4", "4", "4", "4"],  # always right: no error
    "a2": ["9", "8", "9", "7", "9"],  # right 3 of 5: bias and variance
    "a3": ["5", "5", "5", "5", "5"],  # always the same wrong answer: bias only
    "a4": ["4", "2", "4", "4", "1"],  # right 3 of 5
}
CHOICE_QUESTIONS = {
    "m1": ("The capital of France?", ["Paris", "Rome", "Oslo", "Bern"], "A"),
    "m2": ("The largest planet?", ["Mars", "Jupiter", "Venus", "Earth"], "B"),
    "m3": ("H2O is?", ["salt", "air", "water", "gold"], "C"),
}
CHOICE_ANSWERS = {
    "m1": ["ANSWER: A"] * 5,
    "m2": ["ANSWER: B", "ANSWER: C", "ANSWER: B", "ANSWER: D", "ANSWER: C"],
    "m3": ["ANSWER: D", "ANSWER: D", "I am not sure", "ANSWER: D", "ANSWER: C"],
}
TOOL_CALLS = {
    "t1": [1, 1, 2, 1, 1],
    "t2": [2, 4, 3, 5, 2],
    "t3": [6, 2, 9, 3, 8],
}
"""id: the `add` calls the model makes in each epoch before it answers."""
TOOL_FINAL = {
    "t1": ["7", "7", "7", "6", "7"],
    "t2": ["12", "12", "11", "10", "12"],
    "t3": ["30", "31", "30", "29", "30"],
}
TOOL_QUESTIONS = {"t1": ("3+4?", "7", 2), "t2": ("5+7?", "12", 4), "t3": ("10+20?", "30", 8)}
"""id: (question, answer, the horizon in its metadata)."""


def _usage(output: Any) -> Any:
    from inspect_ai.model import ModelUsage

    output.usage = ModelUsage(input_tokens=11, output_tokens=3, total_tokens=14)
    return output


def _scripted(reply: Callable[[str, int, list[Any]], Any]) -> Callable[..., Any]:
    """A mockllm `custom_outputs` callable: `reply(question, run, messages)`, where `run`
    counts the samples of that question begun so far (0-based)."""
    runs: dict[str, int] = defaultdict(lambda: -1)

    def generate(messages: list[Any], tools: Any, tool_choice: Any, config: Any) -> Any:
        question = next(m.text for m in messages if m.role == "user")
        if not any(m.role == "assistant" for m in messages):
            runs[question] += 1
        return _usage(reply(question, runs[question], messages))

    return generate


def _by_question(table: dict[str, tuple[Any, ...]]) -> dict[str, str]:
    return {values[0]: sample_id for sample_id, values in table.items()}


def run_eval(
    task: Any, reply: Callable[[str, int, list[Any]], Any], log_dir: Path, **kw: Any
) -> Path:
    """Run `task` on mockllm with the scripted replies; the path of its log."""
    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import GenerateConfig, get_model

    model = get_model(
        MODEL, custom_outputs=_scripted(reply), config=GenerateConfig(temperature=0.7)
    )
    (log,) = inspect_eval(
        task, model=model, log_dir=str(log_dir), display="none", max_samples=1, **kw
    )
    return Path(log.location)


def arithmetic_log(log_dir: Path, answers: dict[str, Sequence[str]] = ARITHMETIC_ANSWERS) -> Path:
    """Correct/incorrect (`match`) and a numeric scorer (`closeness`), 4 questions x 5 epochs;
    `a4`'s fourth run fails with an API error (censored)."""
    from inspect_ai import Task
    from inspect_ai.dataset import Sample
    from inspect_ai.model import ModelOutput
    from inspect_ai.scorer import match
    from inspect_ai.solver import generate

    ids = _by_question(ARITHMETIC)

    def reply(question: str, run: int, messages: list[Any]) -> Any:
        sample_id = ids[question]
        if sample_id == "a4" and run == 3:
            raise RuntimeError("mock API overloaded\nsecond line of the error")
        return ModelOutput.from_content(model=MODEL, content=answers[sample_id][run])

    dataset = [Sample(id=i, input=q, target=a) for i, (q, a) in ARITHMETIC.items()]
    task = Task(dataset=dataset, solver=[generate()], scorer=[match(), closeness()], epochs=EPOCHS)
    return run_eval(task, reply, log_dir, fail_on_error=False)


def closeness() -> Any:
    """A numeric scorer: 1 / (1 + |answer - target|)."""
    from inspect_ai.scorer import Score, mean, scorer

    @scorer(metrics=[mean()], name="closeness")
    def make() -> Any:
        async def score(state: Any, target: Any) -> Any:
            answer = state.output.completion.strip()
            value = 1.0 / (1.0 + abs(float(answer) - float(target.text)))
            return Score(value=value, answer=answer)

        return score

    return make()


def choice_log(log_dir: Path) -> Path:
    """Multiple choice (`multiple_choice` solver, `choice` scorer), 3 questions x 5 epochs."""
    from inspect_ai import Task
    from inspect_ai.dataset import Sample
    from inspect_ai.model import ModelOutput
    from inspect_ai.scorer import choice
    from inspect_ai.solver import multiple_choice

    ids = {}
    for sample_id, (question, _, _) in CHOICE_QUESTIONS.items():
        ids[question] = sample_id

    def reply(question: str, run: int, messages: list[Any]) -> Any:
        sample_id = next(i for q, i in ids.items() if q in question)
        return ModelOutput.from_content(model=MODEL, content=CHOICE_ANSWERS[sample_id][run])

    dataset = [
        Sample(id=i, input=q, choices=c, target=t) for i, (q, c, t) in CHOICE_QUESTIONS.items()
    ]
    task = Task(dataset=dataset, solver=[multiple_choice()], scorer=choice(), epochs=EPOCHS)
    return run_eval(task, reply, log_dir)


def tool_log(log_dir: Path, message_limit: int | None = None) -> Path:
    """An agent with an `add` tool, 3 questions x 5 epochs, a different number of calls per
    epoch (`TOOL_CALLS`), then an answer; each sample's metadata names its horizon."""
    from inspect_ai import Task
    from inspect_ai.dataset import Sample
    from inspect_ai.model import ModelOutput
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

    ids = _by_question(TOOL_QUESTIONS)

    def reply(question: str, run: int, messages: list[Any]) -> Any:
        sample_id = ids[question]
        done = sum(1 for m in messages if m.role == "tool")
        if done < TOOL_CALLS[sample_id][run]:
            return ModelOutput.for_tool_call(
                MODEL, "add", {"a": done, "b": run}, tool_call_id=f"call-{run}-{done}"
            )
        return ModelOutput.from_content(model=MODEL, content=TOOL_FINAL[sample_id][run])

    dataset = [
        Sample(id=i, input=q, target=a, metadata={"horizon": h})
        for i, (q, a, h) in TOOL_QUESTIONS.items()
    ]
    task = Task(
        dataset=dataset,
        solver=[use_tools(add()), generate()],
        scorer=match(),
        epochs=EPOCHS,
        message_limit=message_limit,
    )
    return run_eval(task, reply, log_dir)
