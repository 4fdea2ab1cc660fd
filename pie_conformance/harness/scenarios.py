"""Scenarios: which runs a check makes, how each is prepared (traincfg, S3 objects) and judged.

- ``baseline``: the dataset, ``gpu_num`` from the caller (default 0), ``auto_termination`` 0, no resume.
- ``resume``: the baseline's final weights are put in S3 as a platform model and the script runs again with
  ``resume_path`` naming their folder (RES001, RES002; the run's own findings carry scenario ``resume``).
- ``resume-partial``: the same, but one tensor of the checkpoint has another shape; the run only has to reach
  its first progress line, then the kit ends it (RES003).

``resume`` and ``resume-partial`` are skipped with a note when the baseline left no weights. Runs under
generated configurations (``explore-<k>``, :mod:`pie_conformance.explore`) are judged like the baseline.

Each scenario is an object that knows how to run itself on a :class:`ScriptRunner` and which rules judge it
(:func:`pie_conformance.rules.rules_for` with the scenario's name); this module imports nothing heavy, so the
pytest plugin can read the names at start-up.
"""

from __future__ import annotations

import dataclasses
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pie_conformance.facts import BufferingProbe, RunRecord
from pie_conformance.findings import Finding, ScenarioResult, Severity
from pie_conformance.harness._dedup import merge_repeats
from pie_conformance.rules import Phase, all_rules, evaluate, rules_for

if TYPE_CHECKING:
    from pie_conformance.harness.execution import Outcome, ScriptRunner

#: Every scenario, in the order a check runs them; the default is all of them.
SCENARIOS: tuple[str, ...] = ("baseline", "resume", "resume-partial")

#: What each scenario is for, as ``pie-check run --help`` shows it.
DESCRIPTIONS: dict[str, str] = {
    "baseline": "the platform's normal run (auto_termination 0, no resume)",
    "resume": "run again with resume_path naming the baseline's own weights (RES001, RES002)",
    "resume-partial": "start from a checkpoint with one tensor of another shape, up to the first progress "
    "line (RES003)",
}


@dataclass(frozen=True)
class ResumeModel:
    """Where the resume scenarios put a platform model in S3."""

    bucket: str
    key: str  # devel/<owner>/model/<uuid>/<model_name>.th

    @property
    def resume_path(self) -> str:
        """The traincfg ``resume_path``: the model's folder as an ``s3://`` URL with a trailing slash."""
        return f"s3://{self.bucket}/{self.key.rsplit('/', 1)[0]}/"


def resume_model(bucket: str, owner: str, model_name: str, seed: str) -> ResumeModel:
    """The platform-style location of the resume weights; the uuid is derived from ``seed`` (reproducible)."""
    model_id = uuid.uuid5(uuid.NAMESPACE_URL, f"pie-conformance:model:{seed}")
    return ResumeModel(bucket, f"devel/{owner}/model/{model_id}/{model_name}.th")


def resolve(names: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """The scenarios to run, in the kit's order (None or empty: all); ValueError for an unknown name."""
    if not names:
        return SCENARIOS
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ValueError(f"expected scenarios among {', '.join(SCENARIOS)}, got {', '.join(unknown)}")
    return tuple(n for n in SCENARIOS if n in names)


# -- scenarios as objects ---------------------------------------------------------------------------------


@dataclass
class CheckState:
    """What the scenarios of one check pass on to each other."""

    base_cfg: dict[str, Any]  # the baseline's traincfg
    model: ResumeModel  # where the resume scenarios put the baseline's weights
    weights: bytes | None = None  # the baseline's final weights, once it has run
    script_time: float = 0.0  # seconds of the script's own time, over every run


@dataclass(frozen=True)
class Judged:
    """A scenario's findings and its line in the report."""

    findings: list[Finding]
    result: ScenarioResult


def judge(outcome: Outcome, runner: ScriptRunner, record: RunRecord | None = None) -> list[Finding]:
    """Every finding of one run: progress-time and end-of-run rules, merged where they repeat, then the
    rules that judge the scenario as a whole (with the errors found so far)."""
    record = record or outcome.record
    name, task, opts = record.scenario, runner.options.task, runner.options.rule_options()
    outcome.rules_checked = rules_checked(runner, name, full=outcome.mode == "full")
    ended = evaluate(rules_for(Phase.RUN, task=task, scenario=name, options=opts), record, scenario=name)
    own = merge_repeats(outcome.findings + list(ended))
    errors = tuple(f.rule for f in own if f.severity is Severity.ERROR)
    whole = dataclasses.replace(record, scenario_errors=errors)
    rules = rules_for(Phase.SCENARIO, task=task, scenario=name, options=opts)
    return own + list(evaluate(rules, whole, scenario=name))


def rules_checked(runner: ScriptRunner, name: str, *, full: bool) -> list[str]:
    """The IDs of the rules that judged a run of scenario ``name`` (a full run: its outputs too)."""
    phases = (Phase.RUN, Phase.SCENARIO) + ((Phase.PROGRESS, Phase.LOG) if full else ())
    task, opts = runner.options.task, runner.options.rule_options()
    return [r.id for r in all_rules()
            if r.phase in phases and r.applies(task=task, scenario=name, options=opts)]


def result_of(name: str, outcome: Outcome, keep: bool) -> ScenarioResult:
    """The scenario's line in the report: how the run ended, and what it cost."""
    r, rec = outcome.result, outcome.record
    details: dict[str, Any] = {
        "exit_status": r.returncode, "timed_out": r.timed_out, "stopped_by_kit": r.stopped_by_kit,
        "progress_lines": len(r.progress), "last_epoch": rec.last_k,
        "script_seconds": round(r.script_time, 3), "frozen_seconds": round(r.frozen_time, 3),
        "stdout_bytes": r.stdout_bytes, "stderr_bytes": r.stderr_bytes,
    }
    if r.stdout_bytes > len(r.stdout_head) + len(r.stdout_tail):
        details["stdout_note"] = (
            f"stdout was {r.stdout_bytes} bytes; the report keeps its first and last "
            f"{len(r.stdout_head) // 1024} KiB, every line was read for progress"
        )
    if (r.returncode not in (0, None) and not r.stopped_by_kit) or r.timed_out:
        details["stderr_tail"] = "\n".join(rec.stderr_tail.splitlines()[-20:])
    if outcome.sandbox is not None:
        details["sandbox"] = outcome.sandbox.details()
    if keep:
        details["run_folder"] = str(outcome.run_dir)
    if name == "resume-partial" and rec.checkpoint_change:
        details["checkpoint"] = rec.checkpoint_change
    details["rules_checked"] = outcome.rules_checked
    return ScenarioResult(name=name, status="ran", details=details)


def _finish(name: str, outcome: Outcome, runner: ScriptRunner, findings: list[Finding]) -> Judged:
    result = result_of(name, outcome, runner.keep)
    if not runner.keep:
        shutil.rmtree(outcome.run_dir, ignore_errors=True)
    return Judged(findings, result)


def _final_weights(outcome: Outcome, model_name: str) -> bytes | None:
    """The weights the platform would have uploaded at the last progress line, if any."""
    snap = outcome.last_snapshot
    if snap is None:
        return None
    info = snap.files.get(f"output/files/{model_name}.th")
    if info is None or info.digest is None or info.is_symlink:
        return None
    from pie_conformance.harness.snapshot import read_snapshot_file

    return read_snapshot_file(snap, info.relpath)  # never through a link the script planted


class Baseline:
    """The platform's normal run; with ``report=False`` it only makes the weights the resume runs need."""

    name = "baseline"

    def __init__(self, *, report: bool = True) -> None:
        self.report = report

    def run(self, runner: ScriptRunner, state: CheckState) -> Judged | None:
        """Run the baseline (and its buffered twin when asked for); None when it is not reported."""
        runner.session.reset()
        out = runner.run(self.name, dict(state.base_cfg))
        state.weights = _final_weights(out, str(state.base_cfg.get("model_name", "model")))
        if not self.report:
            if not runner.keep:
                shutil.rmtree(out.run_dir, ignore_errors=True)
            return None
        state.script_time += out.result.script_time
        record = out.record
        if runner.options.check_buffering:
            runner.session.reset()
            buf = runner.run("baseline-buffering", dict(state.base_cfg), mode="buffering")
            record = dataclasses.replace(record, buffering=BufferingProbe(
                arrivals=tuple(p.elapsed for p in buf.result.progress), eof=buf.result.eof_elapsed,
                reference_arrivals=tuple(p.elapsed for p in out.result.progress),
                reference_eof=out.result.eof_elapsed,
            ))
        return _finish(self.name, out, runner, judge(out, runner, record))


class Resume:
    """Run again with ``resume_path`` naming the baseline's own weights."""

    name = "resume"

    def run(self, runner: ScriptRunner, state: CheckState) -> Judged:
        """Run with the baseline's weights offered as a platform model, or say why it is skipped."""
        if state.weights is None:
            return _skipped(self.name, state)
        runner.session.reset({state.model.key: state.weights})
        cfg = dict(state.base_cfg, resume_path=state.model.resume_path)
        out = runner.run(self.name, cfg, resume_key=state.model.key)
        state.script_time += out.result.script_time
        return _finish(self.name, out, runner, judge(out, runner))


class ResumePartial:
    """Start from a checkpoint with one tensor of another shape, up to the first progress line."""

    name = "resume-partial"

    def run(self, runner: ScriptRunner, state: CheckState) -> Judged:
        """Run with the changed checkpoint, or say why it is skipped."""
        if state.weights is None:
            return _skipped(self.name, state)
        # Made in the weights helper: the kit never unpickles the script's weights itself.
        partial = runner.inspection.partial_checkpoint(state.weights)
        if partial is None:
            return Judged([], ScenarioResult(name=self.name, status="skipped", note=(
                "the baseline's weights are not a state dict with a floating-point tensor to reshape"
            )))
        data, change = partial
        runner.session.reset({state.model.key: data})
        cfg = dict(state.base_cfg, resume_path=state.model.resume_path)
        out = runner.run(self.name, cfg, mode="partial", resume_key=state.model.key, checkpoint_change=change)
        state.script_time += out.result.script_time
        return _finish(self.name, out, runner, judge(out, runner))


class ExploreExample:
    """A run under one generated configuration, on a dataset made to match it; judged like the baseline."""

    def __init__(self, name: str, traincfg: Mapping[str, Any], spec: Any) -> None:
        self.name = name
        self.traincfg = dict(traincfg)
        self.spec = spec

    def run(self, runner: ScriptRunner, state: CheckState) -> Judged:
        """Serve the example's dataset and run the script under its configuration."""
        from pie_conformance.datasets import generate

        base = runner.session.ds
        runner.session.use_dataset(generate(self.spec))
        try:
            runner.session.reset()
            out = runner.run(self.name, self.traincfg)
        finally:
            runner.session.use_dataset(base)
        state.script_time += out.result.script_time
        return _finish(self.name, out, runner, judge(out, runner))


def _skipped(name: str, state: CheckState) -> Judged:
    model_name = state.base_cfg.get("model_name", "model")
    return Judged([], ScenarioResult(name=name, status="skipped", note=(
        f"the baseline left no loadable output/files/{model_name}.th at its last progress line, "
        "so there are no weights to resume from"
    )))


def plan(names: tuple[str, ...]) -> list[Baseline | Resume | ResumePartial]:
    """The scenario objects for ``names`` (already in the kit's order); a resume scenario without the
    baseline gets an unreported baseline first, for its weights."""
    objects: list[Baseline | Resume | ResumePartial] = []
    if "baseline" in names:
        objects.append(Baseline())
    elif names:
        objects.append(Baseline(report=False))
    objects += [Resume() for n in names if n == "resume"]
    objects += [ResumePartial() for n in names if n == "resume-partial"]
    return objects
