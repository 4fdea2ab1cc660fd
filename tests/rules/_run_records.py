"""Builders of RunRecord objects for the unit tests of the end-of-run rules."""

from __future__ import annotations

from typing import Any

from pie_conformance.facts import ProgressLine, RunRecord, S3Call

PREFIX = "devel/kit/dataset/segmentation/d1/"
BUCKET = "pie-engine-ai"


def lines(*ks: int, n: int = 2) -> tuple[ProgressLine, ...]:
    """Exact progress lines announcing ``ks`` (one stdout line each)."""
    return tuple(ProgressLine(i + 1, f"[Process: {k}/{n}]", k, n, True) for i, k in enumerate(ks))


def reads(*parts: str) -> tuple[S3Call, ...]:
    """One GET of an object under each dataset part (train/, valid/)."""
    return tuple(S3Call("GET", BUCKET, f"{PREFIX}{p}images/0.png") for p in parts)


def record(**kw: Any) -> RunRecord:
    """A record of a clean two-epoch baseline run, with ``kw`` changed."""
    base: dict[str, Any] = {
        "scenario": "baseline",
        "task": "segmentation",
        "traincfg": {"epochs": 2, "auto_termination": 0, "model_name": "m", "resume_path": ""},
        "progress": lines(1, 2),
        "returncode": 0,
        "timeout": 60.0,
        "calls": reads("train/", "valid/"),
        "bucket": BUCKET,
        "dataset_prefix": PREFIX,
        "dataset_before": {"a": "1"},
        "dataset_after": {"a": "1"},
        "child_env": {"CUDA_VISIBLE_DEVICES": ""},
        "probe": {"cuda_visible_devices": "", "cuda_initialized": False},
    }
    base.update(kw)
    return RunRecord(**base)


def ids(rule_ids: list[str], rec: RunRecord) -> list[tuple[str, str]]:
    """(rule, message) of every finding of ``rule_ids`` on ``rec``."""
    from pie_conformance.rules import evaluate

    return [(f.rule, f.message) for f in evaluate(rule_ids, rec, scenario=rec.scenario)]
