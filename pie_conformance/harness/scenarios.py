"""Scenarios: which runs a check makes, and how each is prepared (traincfg, S3 objects).

- ``baseline``: the dataset, ``gpu_num`` from the caller (default 0), ``auto_termination`` 0, no resume.
- ``resume``: the baseline's final weights are put in S3 as a platform model and the script runs again with
  ``resume_path`` naming their folder (RES001, RES002; the run's own findings carry scenario ``resume``).
- ``resume-partial``: the same, but one tensor of the checkpoint has another shape; the run only has to reach
  its first progress line, then the kit ends it (RES003).

``resume`` and ``resume-partial`` are skipped with a note when the baseline left no weights.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

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


def partial_checkpoint(data: bytes) -> tuple[bytes, str] | None:
    """A copy of a state dict in which one tensor has another shape, and a note saying which.

    The tensor chosen is the first (by name) floating-point one with at least one dimension; its first
    dimension grows by one. None when ``data`` is not a state dict with such a tensor.
    """
    import io

    import torch

    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception:
        return None
    if not isinstance(state, dict):
        return None
    for name in sorted(k for k in state if isinstance(k, str)):
        t = state[name]
        if isinstance(t, torch.Tensor) and t.dim() >= 1 and t.is_floating_point():
            shape = (t.shape[0] + 1, *t.shape[1:])
            changed = dict(state)
            changed[name] = torch.zeros(shape, dtype=t.dtype)
            buf = io.BytesIO()
            torch.save(changed, buf)
            note = f"tensor {name!r} has shape {list(shape)} instead of {list(t.shape)}"
            return buf.getvalue(), note
    return None
