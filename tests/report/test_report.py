"""The report and `hotmess compare`: real sweeps of every registered env, rendered to one
HTML file and opened in a headless Chromium; two runs compared end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from clirun import hotmess

from hotmess.envs import generated_env_ids
from hotmess.report import ReportResult, agent_label, write_report
from hotmess.runner import SweepConfig, run_sweep
from hotmess.scoring.compare import compare_runs

AGENTS = ["noisy:p=0.1", "noisy:p=0.3"]
HORIZONS = [1, 2, 4]
PURE_ENVS = ["hotmess/KVSum-v0", "hotmess/PointerChase-v0"]  # no sandbox: fast
FIGURES_PER_ENV = 5  # incoherence, bias-variance, success, actions, divergence


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, bwrap_ready: None) -> Path:
    """Every registered env, two agents: the sandboxed envs run in bubblewrap."""
    out = tmp_path_factory.mktemp("sweep") / "all-envs"
    config = SweepConfig(
        envs=generated_env_ids(),
        agents=AGENTS,
        horizons=HORIZONS,
        tasks=3,
        samples=4,
        out=out,
        sandbox="bwrap",
        workers=2,
    )
    result = run_sweep(config)
    assert result.infra_errors == 0
    return out


@pytest.fixture(scope="module")
def report(sweep: Path, tmp_path_factory: pytest.TempPathFactory) -> ReportResult:
    return write_report([sweep], tmp_path_factory.mktemp("report"), n_boot=200)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two runs on the pure-Python envs: noisy:p=0.1, then noisy:p=0.3."""
    root = tmp_path_factory.mktemp("pair")
    runs = []
    for name, agent in (("p01", "noisy:p=0.1"), ("p03", "noisy:p=0.3")):
        config = SweepConfig(
            envs=PURE_ENVS, agents=[agent], horizons=HORIZONS, tasks=6, samples=4, out=root / name
        )
        run_sweep(config)
        runs.append(root / name)
    return runs[0], runs[1]


class PageLog:
    """Everything a page did that a self-contained report must not do."""

    def __init__(self, page: Any) -> None:
        self.console: list[str] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.failed: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("requestfailed", lambda r: self.failed.append(r.url))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def assert_clean(self) -> None:
        assert not [line for line in self.console if line.startswith("error")], self.console
        assert not self.errors and not self.failed and not self.dialogs
        assert all(url.startswith(("file:", "data:")) for url in self.requests), self.requests


def pixel_spread(png: Path) -> float:
    import matplotlib.image

    return float(np.asarray(matplotlib.image.imread(str(png)))[..., :3].std())


# --------------------------------------------------------------------------- the report


@pytest.mark.bwrap
@pytest.mark.slow
def test_report_has_every_figure_table_and_transcript(report: ReportResult):
    envs = generated_env_ids()
    assert report.html.name == "report.html" and report.html.exists()
    assert len(report.pngs) == FIGURES_PER_ENV * len(envs)
    for png in report.pngs:
        assert png.parent == report.html.parent
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert report.n_episodes == len(envs) * len(AGENTS) * len(HORIZONS) * 3 * 4
    assert report.n_transcripts == len(envs) * len(AGENTS) * len(HORIZONS) * 3
    page = report.html.read_text()
    for env in envs:
        assert page.count(env) > 10
    for section in ("incoherence", "bias-variance", "success", "actions", "divergence"):
        assert f'id="{section}"' in page
    for heading in ("Summary", "Trends", "h50", "Divergence", "Transcripts"):
        assert heading in page
    assert page.count("<details>") >= report.n_transcripts
    assert page.count('<img src="data:image/png;base64,') == len(report.pngs)


@pytest.mark.bwrap
@pytest.mark.slow
def test_report_is_self_contained(report: ReportResult):
    page = report.html.read_text()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:[a-z]+:)?//""", page, re.I)
    assert "http://" not in page and "https://" not in page
    for needle in ("<script", "<link", "@import", "url(", "<iframe"):
        assert needle not in page.lower()


@pytest.mark.bwrap
@pytest.mark.slow
@pytest.mark.browser
def test_report_renders_in_chromium(report: ReportResult, browser: Any, tmp_path: Path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    log = PageLog(page)
    page.goto(report.html.resolve().as_uri(), wait_until="load")
    widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete && i.naturalWidth)")
    assert len(widths) == len(report.pngs) and all(w > 0 for w in widths), widths
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot))
    assert pixel_spread(shot) > 0.05  # not a blank page
    figure = tmp_path / "figure.png"
    page.locator("figure img").first.screenshot(path=str(figure))
    assert pixel_spread(figure) > 0.05  # a plot, not an empty box
    # A transcript opens natively (<details>), no script needed.
    cell = page.locator("#transcripts ~ details").first
    first_pre = cell.locator("pre").first
    assert not first_pre.is_visible()
    cell.locator("> summary").click()
    cell.locator("details > summary").first.click()
    assert first_pre.is_visible()
    log.assert_clean()
    page.close()


ATTACK = '<script>alert("pwned")</script>'


@pytest.fixture(scope="module")
def hostile(pair: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> ReportResult:
    """A report of a store whose agent wrote HTML into its actions, observations and messages."""
    root = tmp_path_factory.mktemp("hostile")
    store = root / "store"
    store.mkdir()
    lines = []
    for line in (pair[0] / "episodes.jsonl").read_text().splitlines():
        record = json.loads(line)
        step = record["steps"][0]
        step["action"] = ATTACK
        step["observation"] = "<img src=x onerror=alert(1)>" + "x" * 5000
        step["agent_message"] = "</pre><script>document.title = 'pwned'</script>"
        lines.append(json.dumps(record))
    (store / "episodes.jsonl").write_text("\n".join(lines) + "\n")
    return write_report([store], root / "out", n_boot=20, transcripts_per_cell=1)


def test_transcripts_escape_agent_output(hostile: ReportResult):
    page = hostile.html.read_text()
    assert "<script" not in page.lower() and "<img src=x" not in page
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in page
    assert "&lt;/pre&gt;&lt;script&gt;document.title" in page
    assert "more characters not shown" in page  # the 5 KB observation was cut


@pytest.mark.browser
def test_escaped_transcripts_show_the_text_and_run_nothing(hostile: ReportResult, browser: Any):
    tab = browser.new_page()
    log = PageLog(tab)
    tab.goto(hostile.html.resolve().as_uri(), wait_until="load")
    tab.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    assert ATTACK in tab.inner_text("body")
    assert tab.title() != "pwned"
    log.assert_clean()
    tab.close()


def test_report_over_two_runs_labels_both(pair: tuple[Path, Path], tmp_path: Path):
    result = write_report(list(pair), tmp_path / "both", n_boot=50, transcripts_per_cell=1)
    page = result.html.read_text()
    assert "noisy:p=0.1 (p01)" in page and "noisy:p=0.3 (p03)" in page
    assert "Point values: the <b>plugin</b> estimator" in page
    assert "<h3>KL's sensitivity to δ</h3>" in page and "variance 1.00e-06" in page
    corrected = write_report(
        [pair[0]], tmp_path / "corrected", n_boot=50, transcripts_per_cell=0, estimator="corrected"
    )
    assert "Point values: the <b>corrected</b> estimator" in corrected.html.read_text()
    assert len(result.pngs) == FIGURES_PER_ENV * len(PURE_ENVS)
    assert result.n_episodes == 2 * len(PURE_ENVS) * len(HORIZONS) * 6 * 4


def test_agent_labels_name_the_model():
    assert agent_label("noisy:p=0.1") == "noisy:p=0.1"
    assert agent_label("openai:gpt-4o-mini,temperature=1") == (
        "openai, model gpt-4o-mini, temperature=1"
    )
    assert agent_label("local:smollm2-135m") == "local, model smollm2-135m"
    assert agent_label("my_pkg.agents:MyAgent") == "my_pkg.agents:MyAgent"


def test_report_command(pair: tuple[Path, Path], tmp_path: Path):
    result = hotmess("report", str(pair[0]), "--bootstrap", "50", "--transcripts", "1")
    assert result.returncode == 0, result.stderr
    html_path = pair[0] / "report" / "report.html"
    assert str(html_path) in result.stdout and html_path.exists()
    assert f"{FIGURES_PER_ENV * len(PURE_ENVS)} PNG" in result.stdout
    several = hotmess("report", *map(str, pair), "--bootstrap", "20", cwd=tmp_path)
    assert several.returncode == 0, several.stderr
    assert (tmp_path / "hotmess-report" / "report.html").exists()
    for name, flags in (("task", []), ("two-stage", ["--two-stage"])):
        done = hotmess("report", str(pair[0]), "-b", "50", "-o", str(tmp_path / name), *flags)
        assert done.returncode == 0, done.stderr
    # Two-stage intervals resample samples too: the same points, other intervals.
    task, two = ((tmp_path / n / "report.html").read_text() for n in ("task", "two-stage"))
    assert task != two
    missing = hotmess("report", str(tmp_path / "nowhere"))
    assert missing.returncode == 2
    assert missing.stderr.startswith("hotmess: error:") and len(missing.stderr.splitlines()) == 1


# --------------------------------------------------------------------------- compare


def test_compare_command_prints_differences_with_intervals(pair: tuple[Path, Path]):
    result = hotmess("compare", *map(str, pair), "--bootstrap", "300")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for needle in ("incoherence", "error", "variance", "success", "noisy:p=0.1", "noisy:p=0.3"):
        assert needle in out
    assert out.count("Δ") >= 5 * len(PURE_ENVS) * len(HORIZONS)
    assert re.search(r"\[[-+][0-9.e+-]+, [-+]?[0-9.e+-]+\]", out)


def test_compare_differences(pair: tuple[Path, Path]):
    comparisons = compare_runs(*pair, n_boot=300)
    assert {(c.env, c.horizon) for c in comparisons} == {
        (env, h) for env in PURE_ENVS for h in HORIZONS
    }
    for c in comparisons:
        assert (c.agent_first, c.agent_second) == ("noisy:p=0.1", "noisy:p=0.3")
        assert c.n_tasks == (6, 6)
        error = c.quantities["error"]
        assert error.ci is not None and error.ci[0] <= error.delta <= error.ci[1]
        assert error.delta == pytest.approx(error.second - error.first)
    # Erring three times as often costs error on (almost) every cell, and success.
    assert sum(c.quantities["error"].delta > 0 for c in comparisons) >= len(comparisons) - 1
    assert sum(c.quantities["success"].delta < 0 for c in comparisons) >= len(comparisons) - 1
    assert any(c.quantities["error"].excludes_zero for c in comparisons)


def test_compare_a_run_with_itself_finds_no_difference(pair: tuple[Path, Path]):
    for c in compare_runs(pair[0], pair[0], n_boot=200):
        for name, d in c.quantities.items():
            if d.first is None:
                continue
            assert d.delta == 0, name
            assert d.ci is not None and d.ci[0] <= 0 <= d.ci[1] and not d.excludes_zero


def test_compare_errors_exit_2(pair: tuple[Path, Path], tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "episodes.jsonl").write_text("")
    kv, pc = tmp_path / "kv", tmp_path / "pc"
    for target, env in ((kv, "hotmess/KVSum-v0"), (pc, "hotmess/PointerChase-v0")):
        target.mkdir()
        source = pair[0] if env.endswith("KVSum-v0") else pair[1]
        kept = [
            line
            for line in (source / "episodes.jsonl").read_text().splitlines()
            if json.loads(line)["env"] == env
        ]
        (target / "episodes.jsonl").write_text("\n".join(kept) + "\n")
    for args, message in (
        ((str(tmp_path / "nowhere"), str(pair[1])), "does not exist"),
        ((str(empty), str(pair[1])), "holds no episodes"),
        ((str(tmp_path), str(pair[1])), "holds no episodes.jsonl"),
        ((str(kv), str(pc)), "no cell in common"),
    ):
        result = hotmess("compare", *args, "--bootstrap", "20")
        assert result.returncode == 2, result.stdout
        assert result.stderr.startswith("hotmess: error:") and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_compare_names_the_agents_only_one_run_has(tmp_path: Path):
    runs = []
    for name, extra in (("one", "noisy:p=0.1"), ("two", "noisy:p=0.3")):
        out = tmp_path / name
        run_sweep(
            SweepConfig(
                envs=["hotmess/KVSum-v0"], agents=["oracle", extra], horizons=[1, 2], tasks=3,
                samples=3, out=out,
            )
        )  # fmt: skip
        runs.append(out)
    unmatched: list[str] = []
    comparisons = compare_runs(*runs, n_boot=50, unmatched=unmatched)
    assert {c.agent_first for c in comparisons} == {"oracle"}
    assert unmatched == [f"noisy:p=0.1 (only in {runs[0]})", f"noisy:p=0.3 (only in {runs[1]})"]
