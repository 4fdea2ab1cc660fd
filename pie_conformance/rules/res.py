"""RES rules: resuming from a platform model named by ``resume_path`` (scenarios resume, resume-partial)."""

from __future__ import annotations

from collections.abc import Iterator

from pie_conformance.facts import RunRecord
from pie_conformance.findings import Problem
from pie_conformance.rules import Phase, rule
from pie_conformance.rules.run import is_object_read


@rule("RES001", phase=Phase.RUN, scenarios=("resume",))
def asks_for_resume_weights(run: RunRecord) -> Iterator[Problem]:
    """With ``resume_path`` set, the script asks for ``<resume_path><model_name>.th``."""
    if run.scenario != "resume" or not run.resume_key or run.start_error:
        return
    if any(is_object_read(c) and c.key == run.resume_key for c in run.calls):
        return
    folder = run.resume_key.rsplit("/", 1)[0] + "/"
    tried = sorted({c.key for c in run.calls if c.key.endswith(".th") or c.key.startswith(folder)})
    got = "a request for " + ", ".join(tried[:3]) if tried else "no request for it"
    resume_path = str(run.traincfg.get("resume_path", ""))
    yield Problem(
        f"expected the script to fetch s3://{run.bucket}/{run.resume_key} "
        f"(resume_path + model_name + \".th\"), "
        f"got {got}",
        hint="key = \"/\".join(resume_path.split(\"/\")[3:]) + model_name + \".th\"; then "
        "s3Client.downS3Weight(local_path, key) (local path first)"
        + (f"; resume_path was {resume_path!r}" if resume_path else ""),
        path=f"s3://{run.bucket}/{run.resume_key}",
    )


@rule("RES002", phase=Phase.SCENARIO, scenarios=("resume",))
def resumed_run_conformant(run: RunRecord) -> Iterator[Problem]:
    """The resumed run is itself conformant."""
    if run.scenario != "resume" or not run.scenario_errors:
        return
    ids = sorted(set(run.scenario_errors))
    yield Problem(
        f"expected the run with resume_path set to be conformant, got {len(run.scenario_errors)} error"
        f"{'s' * (len(run.scenario_errors) != 1)} ({', '.join(ids)}; see the findings of scenario resume)",
        hint="load the weights with torch.load(path, weights_only=True) and model.load_state_dict(state); "
        "the rest of the run must behave as without resume_path",
    )


@rule("RES003", phase=Phase.RUN, scenarios=("resume-partial",))
def partial_checkpoint_starts(run: RunRecord) -> Iterator[Problem]:
    """A checkpoint whose tensors only partly match the model still lets the run start."""
    if run.scenario != "resume-partial" or run.progress or run.start_error:
        return
    if run.returncode == 0 and not run.timed_out:
        return  # it ended without a progress line but without an error: PRG rules of baseline speak to that
    change = f" ({run.checkpoint_change})" if run.checkpoint_change else ""
    last = [ln for ln in run.stderr_tail.strip().splitlines() if ln.strip()]
    how = "did not reach its first progress line in time" if run.timed_out else (
        f"exited with status {run.returncode} before its first progress line"
    )
    said = f": {last[-1].strip()}" if last and not run.timed_out else ""
    yield Problem(
        f"expected the run to start from a checkpoint that only partly matches the model{change}, "
        f"it {how}{said}",
        hint="load only the tensors whose names and shapes match: own = model.state_dict(); "
        "state = {k: v for k, v in ckpt.items() if k in own and v.shape == own[k].shape}; "
        "model.load_state_dict(state, strict=False)",
        path="train.py",
    )
