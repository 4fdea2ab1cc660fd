"""Property-based scenarios: the generated space, the exploration engine, and ``pie-check run --explore``.

The engine is tested with a fake ``run_example`` (a pure function of the configuration), so Hypothesis's
generation, shrinking, budget and saving are checked in milliseconds; the slow tests run real scripts.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from pie_conformance.datasets import generate
from pie_conformance.explore import (
    MAX_BATCH,
    Example,
    assert_valid,
    examples,
    explore,
    reproduce_command,
    saved_name,
    summary_lines,
)
from pie_conformance.findings import Finding, ScenarioResult, Severity
from pie_conformance.traincfg import parse_labels
from pie_conformance.validate import validate_traincfg

pytest_plugins = ["pytester"]

CASES = Path(__file__).resolve().parent / "cases"
TASKS = ("segmentation", "detection", "change_detection")


def first(task: str, condition: Callable[[Example], bool] = lambda e: True) -> Example:
    """The first generated example that meets ``condition`` (not shrunk: that would take minutes)."""
    return find(examples(task), condition, settings=settings(
        max_examples=3000, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck),
    ))


def _labels(example: Example) -> list[dict[str, Any]]:
    return parse_labels(example.traincfg["label"])


def _size(example: Example) -> tuple[int, int]:
    w, h = example.traincfg["load_size"].split(",")
    return int(w), int(h)


# -- the generated space ---------------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_generated_configuration_is_valid_and_has_a_matching_dataset(task: str, data: Any) -> None:
    example = data.draw(examples(task))
    assert validate_traincfg(dict(example.traincfg)).findings == ()
    assert_valid(example)  # the engine's own guard agrees
    spec = example.dataset_spec(task)
    assert spec.size == _size(example)
    assert spec.image_format == example.image_format
    assert [c.name for c in spec.resolved_classes] == example.traincfg["class_name"].split(",")
    names = example.traincfg["class_name"].split(",")
    if task == "detection":
        assert "background" not in names
    else:
        assert names[0] == "background" and _labels(example)[0]["class_value"] == 0
    if task == "change_detection":
        assert len(names) == 2
    assert example.traincfg["resume_path"] == "" and example.traincfg["gpu_num"] == 0
    assert example.notebook == (example.traincfg["dataset_id"] == "")


def test_generated_dataset_is_small_and_served_as_the_traincfg_says() -> None:
    example = first("segmentation", lambda e: e.notebook and e.image_format == "jpg" and e.images == 3)
    ds = generate(example.dataset_spec("segmentation"))
    assert len(ds.keys("train", "images")) == 3 and len(ds.keys("valid", "images")) == 1
    assert all(k.endswith(".jpg") for k in ds.keys("train", "images"))
    assert ds.dataset_id  # the notebook's AI_DATASET_ID: the traincfg itself says ""
    assert ds.total_bytes() < 200_000


COVERAGE: dict[str, Callable[[Example], bool]] = {
    "8 classes": lambda e: e.traincfg["n_class"] == "8",
    "1 class": lambda e: e.traincfg["n_class"] == "1",
    "class_value 255 next to 1": lambda e: {1, 255} <= {i["class_value"] for i in _labels(e)},
    "non-square, odd, off multiples of 32": lambda e: _size(e)[0] != _size(e)[1]
    and all(s % 2 == 1 for s in _size(e)),
    "tif images": lambda e: e.image_format == "tif",
    "jpg images": lambda e: e.image_format == "jpg",
    "batch_size larger than the training set": lambda e: e.traincfg["batch_size"] > e.images,
    "batch_size 1": lambda e: e.traincfg["batch_size"] == 1,
    "3 epochs": lambda e: e.traincfg["epochs"] == 3,
    "notebook mode": lambda e: e.notebook,
    "another model_name": lambda e: e.traincfg["model_name"] not in ("linknet34", "yolo", "siamdiff"),
    "early stop allowed": lambda e: e.traincfg["auto_termination"] == 1,
    "non-ASCII label JSON": lambda e: not e.traincfg["label"].isascii(),
}


@pytest.mark.parametrize("what", sorted(COVERAGE))
def test_the_space_covers(what: str) -> None:
    task = "change_detection" if what == "non-ASCII label JSON" else "segmentation"
    if what == "8 classes" or what == "class_value 255 next to 1":
        task = "detection"
    found = first(task, COVERAGE[what])
    assert COVERAGE[what](found)
    assert found.traincfg["batch_size"] <= MAX_BATCH


def test_assert_valid_calls_an_invalid_generated_configuration_a_kit_bug() -> None:
    good = first("detection")
    broken = Example(dict(good.traincfg, n_class=3), good.image_format, good.images)
    with pytest.raises(AssertionError, match="bug in pie_conformance.explore.*CFG001"):
        assert_valid(broken)


# -- the engine, with a fake script ----------------------------------------------------------------------


class FakeScript:
    """A pure function of the configuration standing in for a script run: fails where ``bad`` holds."""

    def __init__(self, bad: Callable[[dict[str, Any], Any], bool]) -> None:
        self.bad = bad
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, cfg: dict[str, Any], spec: Any) -> tuple[list[Finding], ScenarioResult]:
        self.calls.append((name, cfg))
        found = []
        if self.bad(cfg, spec):
            found.append(Finding("OUT007", Severity.ERROR, "foreign colours", scenario=name, epoch=1))
        found.append(Finding("OUT009", Severity.WARNING, "a stray picture", scenario=name, epoch=1))
        return found, ScenarioResult(name=name, details={"exit_status": 0})


def never(cfg: dict[str, Any], spec: Any) -> bool:
    return False


def test_a_conformant_script_runs_every_example_once(tmp_path: Path) -> None:
    fake = FakeScript(never)
    out = explore(fake, script="s/train.py", task="detection", n=6, seed=3, save_dir=tmp_path)
    assert [name for name, _ in fake.calls] == [f"explore-{k}" for k in range(1, 7)]
    assert len({json.dumps(cfg, sort_keys=True) for _, cfg in fake.calls}) == 6  # no configuration twice
    assert [s.name for s in out.scenarios] == [f"explore-{k}" for k in range(1, 7)]
    assert all(s.status == "ran" and s.details["explore"]["traincfg"] == cfg
               for s, (_, cfg) in zip(out.scenarios, fake.calls, strict=True))
    assert {f.rule for f in out.findings} == {"OUT009"}  # warnings are reported, they do not shrink
    assert {f.scenario for f in out.findings} == {f"explore-{k}" for k in range(1, 7)}
    assert out.failing is None and out.saved is None and list(tmp_path.iterdir()) == []
    assert out.summary()["ran"] == 6 and "every generated configuration ran conformant" in summary_lines(
        out.summary())


def test_the_same_seed_gives_the_same_configurations() -> None:
    runs = []
    for seed in (11, 11, 12):
        fake = FakeScript(never)
        explore(fake, script="s/train.py", task="segmentation", n=5, seed=seed)
        runs.append([cfg for _, cfg in fake.calls])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_without_a_seed_one_is_drawn_and_reported() -> None:
    fake = FakeScript(never)
    out = explore(fake, script="s/train.py", task="segmentation", n=2)
    again = FakeScript(never)
    explore(again, script="s/train.py", task="segmentation", n=2, seed=out.seed)
    assert [c for _, c in fake.calls] == [c for _, c in again.calls]
    assert f"seed {out.seed}" in summary_lines(out.summary())[0]


def test_the_first_failure_is_shrunk_saved_and_reproducible(tmp_path: Path) -> None:
    # A script that breaks when a batch is larger than the training set and load_size is not square.
    def bad(cfg: dict[str, Any], spec: Any) -> bool:
        w, h = cfg["load_size"].split(",")
        return cfg["batch_size"] > spec.train_images and w != h

    fake = FakeScript(bad)
    out = explore(fake, script="s/train.py", task="detection", n=30, seed=5, save_dir=tmp_path,
                  max_shrink_runs=200)
    assert out.failing is not None and out.saved is not None
    shrunk = out.failing.traincfg
    # The simplest failure: one image, a batch of two, one epoch, and a load_size a pixel off square.
    assert (out.failing.images, shrunk["batch_size"], shrunk["epochs"]) == (1, 2, 1)
    assert sorted(int(s) for s in shrunk["load_size"].split(",")) == [16, 17]
    assert shrunk["n_class"] == "1" and out.failing.image_format == "png" and not out.failing.notebook
    assert json.loads(out.saved.read_text(encoding="utf-8")) == dict(shrunk)
    assert out.saved == tmp_path / saved_name("detection", shrunk)
    assert out.reproduce == reproduce_command("s/train.py", "detection", out.saved, out.failing)
    assert shlex.split(out.reproduce)[:8] == [
        "pie-check", "run", "s/train.py", "--task", "detection", "--traincfg", str(out.saved), "--images"]
    # Generation stopped at the first failure; the rest are skipped, the shrunk run is reported after them.
    names = [s.name for s in out.scenarios]
    first = next(s for s in out.scenarios if s.status == "ran" and any(
        f.rule == "OUT007" and f.scenario == s.name for f in out.findings))
    assert names[: out.ran] == [f"explore-{k}" for k in range(1, out.ran + 1)]
    assert all(s.status == "skipped" and first.name in (s.note or "") for s in out.scenarios[out.ran:30])
    last = out.scenarios[-1]
    assert last.name == out.failing_scenario and last.details["shrunk_from"] == first.name
    assert last.details["saved_traincfg"] == str(out.saved) and last.details["reproduce"] == out.reproduce
    assert any(f.rule == "OUT007" and f.scenario == last.name for f in out.findings)
    assert out.shrink_runs == len(fake.calls) - out.ran > 0


def test_shrinking_is_bounded_by_its_run_count(tmp_path: Path) -> None:
    fake = FakeScript(lambda cfg, spec: cfg["epochs"] > 1 and int(cfg["load_size"].split(",")[0]) % 2 == 1)
    out = explore(fake, script="s/train.py", task="segmentation", n=40, seed=2, save_dir=tmp_path,
                  max_shrink_runs=3)
    assert out.failing is not None and out.shrink_runs <= 3
    assert any("shrinking stopped" in n and "3 runs" in n for n in out.notes)
    assert fake.bad(dict(out.failing.traincfg), out.failing.dataset_spec("segmentation"))


def test_the_budget_stops_generating_and_says_so() -> None:
    now = [0.0]

    def slow_script(name: str, cfg: dict[str, Any], spec: Any) -> tuple[list[Finding], ScenarioResult]:
        now[0] += 10.0  # each run takes ten (fake) seconds
        return [], ScenarioResult(name=name)

    out = explore(slow_script, script="s/train.py", task="segmentation", n=8, seed=1, budget=25.0,
                  clock=lambda: now[0])
    assert out.ran == 3 and out.stopped_by_budget
    assert [s.status for s in out.scenarios] == ["ran"] * 3 + ["skipped"] * 5
    assert all("budget" in (s.note or "") for s in out.scenarios[3:])
    assert "budget of 25s was spent" in " ".join(summary_lines(out.summary()))


def test_the_first_example_runs_even_when_the_budget_is_tiny(tmp_path: Path) -> None:
    fake = FakeScript(lambda cfg, spec: True)
    out = explore(fake, script="s/train.py", task="detection", n=3, seed=0, budget=1e-9, save_dir=tmp_path)
    assert len(fake.calls) == 1 and out.failing_scenario == "explore-1" and out.shrink_runs == 0
    assert out.scenarios[0].details["saved_traincfg"] == str(out.saved)
    assert any("budget" in n for n in out.notes)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n": 0}, "at least 1 example"),
    ({"n": 2, "budget": 0.0}, "positive exploration budget"),
])
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        explore(FakeScript(never), script="s/train.py", task="detection", **kwargs)


# -- the command line ------------------------------------------------------------------------------------


def _main(argv: list[str]) -> int:
    from pie_conformance.cli import main

    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own refusals
        return int(exc.code or 0)


@pytest.mark.parametrize(("extra", "in_error"), [
    (["--traincfg", "nowhere.json"], "cannot read it"),
    (["--explore", "-1"], "0 or more"),
    (["--explore", "2", "--explore-budget", "0"], "positive number of seconds"),
    (["--image-format", "gif"], "invalid choice"),
])
def test_usage_errors(extra: list[str], in_error: str, capsys: pytest.CaptureFixture[str]) -> None:
    status = _main(["run", str(CASES / "conformant" / "segmentation"), "--task", "segmentation", *extra])
    err = capsys.readouterr().err
    assert status == 2 and in_error in err and "Traceback" not in err


@pytest.mark.parametrize(("content", "in_error"), [
    ("[1, 2]", "expected a JSON object, got list"),
    ("{not json", "not JSON"),
    ('{"training_id": "x"}', "not valid for the platform: CFG001"),
])
def test_a_traincfg_that_cannot_be_used_is_a_usage_error(
    tmp_path: Path, content: str, in_error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "traincfg.json"
    cfg.write_text(content, encoding="utf-8")
    status = _main(["run", str(CASES / "conformant" / "segmentation"), "--task", "segmentation",
                    "--traincfg", str(cfg)])
    err = capsys.readouterr().err
    assert status == 2 and in_error in err and "Traceback" not in err


def test_a_traincfg_whose_load_size_is_too_small_for_a_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = first("segmentation")
    cfg = tmp_path / "traincfg.json"
    cfg.write_text(json.dumps(dict(example.traincfg, load_size="8,8")), encoding="utf-8")
    status = _main(["run", str(CASES / "conformant" / "segmentation"), "--task", "segmentation",
                    "--traincfg", str(cfg)])
    err = capsys.readouterr().err
    assert status == 2 and "cannot make a dataset" in err and "16" in err


# -- real scripts ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_hardcoded_three_classes_passes_baseline_fails_exploration_and_reproduces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pie_conformance import CheckOptions, check_script

    case = CASES / "explore" / "hardcoded_three_classes"
    # A budget of one second: the first configuration always runs; shrinking is not waited for.
    report = check_script(
        case, CheckOptions(sources=False, task="segmentation", scenarios=["baseline"], explore=2, seed=0,
                          explore_budget=1.0, explore_dir=tmp_path, timeout=120))
    assert not [f for f in report.findings if f.scenario == "baseline"], report.findings
    assert not report.conformant
    assert {f.rule for f in report.errors} == {"OUT007"}
    assert {f.scenario for f in report.errors} == {"explore-1"}
    ran = {s.name: s for s in report.scenarios}
    assert ran["baseline"].status == "ran" and ran["explore-2"].status == "skipped"
    summary = report.extra["explore"]
    assert summary["seed"] == 0 and summary["failing"]["scenario"] == "explore-1"
    saved = Path(summary["failing"]["saved"])
    assert saved.parent == tmp_path and saved.name.startswith("pie-explore-segmentation-")
    assert json.loads(saved.read_text(encoding="utf-8")) == ran["explore-1"].details["explore"]["traincfg"]

    # The printed command reproduces the failure under the plain baseline scenario.
    words = shlex.split(summary["failing"]["reproduce"])
    assert words[:2] == ["pie-check", "run"] and "--traincfg" in words
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    status = _main([*words[1:], "--format", "json"])
    again = json.loads(capsys.readouterr().out)
    assert status == 1
    assert {(f["rule"], f["scenario"]) for f in again["findings"]} == {("OUT007", "baseline")}


@pytest.mark.slow
def test_notebook_mode_and_a_given_traincfg_reach_the_script(tmp_path: Path) -> None:
    from pie_conformance import CheckOptions, check_script

    example = first("segmentation", lambda e: e.notebook and e.traincfg["n_class"] == "2"
                    and e.image_format == "tif")
    report = check_script(
        CASES / "conformant" / "segmentation", CheckOptions(sources=False,
            task="segmentation", scenarios=["baseline"],
                          traincfg=example.traincfg, images=example.images, image_format="tif",
                          timeout=120))
    assert report.findings == (), report.findings
    assert report.scenarios[0].details["last_epoch"] == example.traincfg["epochs"]


@pytest.mark.slow
def test_pytest_plugin_explore_items(pytester: pytest.Pytester) -> None:
    case = CASES / "explore" / "hardcoded_three_classes"
    result = pytester.runpytest_subprocess(
        "--pie-script", str(case), "--pie-task", "segmentation", "--pie-scenario", "baseline",
        "--pie-explore", "2", "--pie-seed", "0", "--pie-explore-budget", "1",
        "-p", "no:cacheprovider", "-rfs",
    )  # fmt: skip
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    failed = {line.split("::", 1)[1].split(" ")[0] for line in out.splitlines() if line.startswith("FAILED ")}
    assert failed == {"explore-1::OUT007"}, out
    assert "OUT007 error (scenario explore-1" in out and "Traceback" not in out
    assert "scenario 'explore-2' did not run" in out  # skipped: exploration stopped at the first failure
    assert len(list(pytester.path.glob("pie-explore-segmentation-*.json"))) == 1


def test_exploring_leaves_no_hypothesis_folder_behind(tmp_path: Path) -> None:
    # In a fresh process (Hypothesis picks its storage folder once per process, the current one by default).
    import os
    import subprocess
    import sys

    code = (
        "from pie_conformance.explore import explore\n"
        "from pie_conformance.findings import Finding, ScenarioResult, Severity\n"
        "def run(name, cfg, spec):\n"
        "    bad = len(spec.resolved_classes) > 2\n"
        "    found = [Finding('OUT007', Severity.ERROR, 'x', scenario=name)] if bad else []\n"
        "    return found, ScenarioResult(name)\n"
        "e = explore(run, script='s/train.py', task='segmentation', n=6, seed=3)\n"
        "print(e.ran, e.shrink_runs)\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root), TMPDIR=str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in work.iterdir() if p.name.startswith(".")) == []
    assert list((tmp_path / "tmp").iterdir()) == []  # the temporary storage is removed too
