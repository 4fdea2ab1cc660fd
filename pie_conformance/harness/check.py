"""``check_script``: run a train.py as the platform does, under each scenario, and check the contract.

The flow, one module per step: options (:mod:`.options`) -> dataset and mock S3 (:mod:`.session`) ->
scenarios (:mod:`.scenarios`), each a sandboxed run (:mod:`.execution`, :mod:`.sandbox`, :mod:`.runner`)
whose progress lines freeze a snapshot (:mod:`.snapshot`) that the progress-time rules judge while the
script goes on (:mod:`.judge`) -> end-of-run rules -> report.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pie_conformance.datasets import DatasetSpec
from pie_conformance.errors import UsageError
from pie_conformance.findings import Finding, Report, ScenarioResult, Severity
from pie_conformance.harness import scenarios as sc
from pie_conformance.harness.execution import ProgressHook, ScriptRunner
from pie_conformance.harness.inspection import Inspection
from pie_conformance.harness.options import DEFAULT_SIZE, CheckOptions
from pie_conformance.harness.sandbox import SandboxPlan, plan_sandbox
from pie_conformance.harness.session import DataSession
from pie_conformance.kept import write_report_files
from pie_conformance.rules import CATALOGUE_BY_ID, Phase, evaluate, rules_for

__all__ = ["CheckOptions", "check_script", "resolve_script"]


def resolve_script(path: str | os.PathLike[str]) -> Path:
    """The train.py that ``path`` names (the file or its folder); UsageError otherwise."""
    p = Path(path)
    if p.is_dir():
        p = p / "train.py"
    if not p.exists():
        raise UsageError(f"no train.py at {path}: give the script or the folder that holds it")
    if not p.is_file():
        raise UsageError(f"{p} is not a file")
    if p.name != "train.py":
        raise UsageError(f"expected the platform's entry script named train.py, got {p.name}")
    return p.resolve()


def check_script(path: str | os.PathLike[str], options: CheckOptions, *,
                 on_progress: ProgressHook | None = None) -> Report:
    """Run ``path`` (a train.py or its folder) as the platform would, under each scenario of ``options``,
    and report every finding. Bad input raises :class:`~pie_conformance.errors.UsageError`."""
    t_start = time.monotonic()
    script = resolve_script(path)
    plan = options.sandbox if isinstance(options.sandbox, SandboxPlan) else plan_sandbox(options.sandbox,
                                                                                           options.limits)
    spec = dataset_spec(options)
    with contextlib.ExitStack() as stack:
        root = _root(options.keep, stack)
        inspection = stack.enter_context(Inspection())  # torch loads while the dataset is made
        session = stack.enter_context(DataSession(spec))
        runner = ScriptRunner(script, options, session, inspection, plan, root, on_progress)
        setup = time.monotonic() - t_start
        base_cfg = _base_cfg(options, session)
        model_name = str(base_cfg.get("model_name", "model"))
        state = sc.CheckState(base_cfg, sc.resume_model(session.bucket, _owner(session.ds.prefix), model_name,
                                                        f"{options.task}:{script}"))
        findings: list[Finding] = []
        results: list[ScenarioResult] = []
        extra: dict[str, Any] = {"sandbox": plan.describe()}
        if options.sources:
            static, extra["sources"] = read_and_lint(script)
            findings += static
        for scenario in sc.plan(options.scenarios):
            judged = scenario.run(runner, state)
            if judged is not None:
                findings += judged.findings
                results.append(judged.result)
        if options.explore:
            found = _explore(path, options, runner, state, root)
            findings += found.findings
            results += found.scenarios
            extra["explore"] = found.summary()
    # Every rule that judged something, for writers that list passing rules too (JUnit, SARIF).
    checked = {rid for s in results for rid in s.details.get("rules_checked", ())}
    if options.sources:
        checked |= {r.id for r in rules_for(Phase.SOURCE, scenario="source")}
    extra["rules_checked"] = [rid for rid in CATALOGUE_BY_ID if rid in checked]
    if runner.sandbox_problems:
        # What the launcher could not set up on this machine (the plan said it could): never silent.
        failed = sorted(runner.sandbox_problems)
        extra["sandbox"] = dict(extra["sandbox"], setup_failed=failed)
        extra["sandbox"]["summary"] += "; set-up failed: " + "; ".join(failed)
    timings = {"total": time.monotonic() - t_start, "script": state.script_time, "setup": setup,
               **{k: v for k, v in runner.phases.items() if k != "script"}}
    report = Report(kind="run", subject=str(script), findings=tuple(findings), task=options.task,
                    scenarios=tuple(results), extra=extra,
                    timings={k: round(v, 3) for k, v in timings.items()})
    if options.keep is not None:
        write_report_files(root, report, session.ds)  # pie-check report reads these back
    return report


def read_and_lint(script: Path) -> tuple[list[Finding], dict[str, Any]]:
    """The SRC rules' findings on the script folder's sources (read, never run), and what was read."""
    from pie_conformance.sources import read_sources

    tree = read_sources(script.parent)
    rules = rules_for(Phase.SOURCE, scenario="source")
    found = list(evaluate(rules, tree, scenario="source"))
    return found, {"files_read": len(tree.files), "notes": tree.notes()}


def _root(keep: Path | None, stack: contextlib.ExitStack) -> Path:
    """The folder the run folders go in: ``keep`` (new or empty), else a temporary one."""
    if keep is None:
        return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pie-check-")))
    if keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        raise UsageError(f"keep folder {keep}: expected a new or empty folder")
    keep.mkdir(parents=True, exist_ok=True)
    return keep.resolve()


def _owner(prefix: str) -> str:
    return prefix.split("/")[1] if prefix.count("/") > 1 else "system"


def _base_cfg(options: CheckOptions, session: DataSession) -> dict[str, Any]:
    """The baseline's traincfg: the one given, else the dataset's with the options' epochs and GPUs."""
    if options.traincfg is not None:
        return dict(options.traincfg, resume_path="")  # the resume scenarios set their own
    cfg = dict(session.ds.traincfg(epochs=options.epochs))
    cfg.update(gpu_num=options.gpu_num, auto_termination=0, resume_path="")
    return cfg


def _explore(path: str | os.PathLike[str], options: CheckOptions, runner: ScriptRunner, state: sc.CheckState,
             root: Path) -> Any:
    """Run the generated configurations of ``--explore`` (each judged like the baseline)."""
    from pie_conformance.explore import explore

    def run_example(name: str, cfg: dict[str, Any], spec: Any) -> tuple[list[Finding], ScenarioResult]:
        judged = sc.ExploreExample(name, cfg, spec).run(runner, state)
        return judged.findings, judged.result

    save_dir = options.explore_dir or (root if options.keep is not None else None)
    try:
        return explore(run_example, script=path, task=options.task, n=options.explore, seed=options.seed,
                       budget=options.explore_budget, save_dir=save_dir, gpu_num=options.gpu_num)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def dataset_spec(options: CheckOptions) -> DatasetSpec:
    """The spec of the dataset to serve: made to match the options' traincfg when one is given."""
    from pie_conformance.validate import validate_traincfg

    train, valid = options.images, max(1, options.images // 2)
    if options.traincfg is None:
        return _spec(lambda: DatasetSpec(options.task, train_images=train, valid_images=valid,
                                         size=options.size or DEFAULT_SIZE, image_format=options.image_format,
                                         seed=0))
    cfg: Mapping[str, Any] = options.traincfg
    refused = [f for f in validate_traincfg(dict(cfg)).findings if f.severity is Severity.ERROR]
    if refused:
        raise UsageError("the traincfg given is not valid for the platform: "
                         + "; ".join(f"{f.rule} {f.message}" for f in refused))
    kw: dict[str, Any] = {"size": options.size} if options.size is not None else {}
    return _spec(lambda: DatasetSpec.from_traincfg(cfg, options.task, train_images=train, valid_images=valid,
                                                   image_format=options.image_format, seed=0, **kw))


def _spec(make: Any) -> DatasetSpec:
    try:
        spec: DatasetSpec = make()
    except (ValueError, TypeError) as exc:
        raise UsageError(f"cannot make a dataset for these options: {exc}") from None
    return spec
