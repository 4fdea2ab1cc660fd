"""Scenario set-up: names, the platform model location, and the partly matching checkpoint."""

from __future__ import annotations

import io

import pytest

from pie_conformance.harness.scenarios import SCENARIOS, resolve, resume_model


def test_resolve_keeps_the_kits_order() -> None:
    assert resolve(None) == SCENARIOS == ("baseline", "resume", "resume-partial")
    assert resolve(["resume-partial", "baseline"]) == ("baseline", "resume-partial")
    with pytest.raises(ValueError, match="nightly"):
        resolve(["baseline", "nightly"])


def test_resume_model_is_a_platform_folder() -> None:
    model = resume_model("pie-engine-ai", "kit", "linknet34", "seed")
    assert model.key.startswith("devel/kit/model/") and model.key.endswith("/linknet34.th")
    assert model.resume_path == "s3://pie-engine-ai/" + model.key.rsplit("/", 1)[0] + "/"
    assert resume_model("pie-engine-ai", "kit", "linknet34", "seed") == model  # reproducible


def partial_checkpoint(data: bytes) -> tuple[bytes, str] | None:
    """The resume-partial checkpoint as the kit makes it: in the weights helper, never in the kit."""
    from pie_conformance.harness.weights import start_inspector

    with start_inspector() as helper:
        return helper.partial_checkpoint(data)


def test_partial_checkpoint_changes_one_tensor() -> None:
    torch = pytest.importorskip("torch")
    buf = io.BytesIO()
    torch.save({"b.weight": torch.ones(2, 3), "a.steps": torch.tensor(3), "c.bias": torch.zeros(4)}, buf)
    data, note = partial_checkpoint(buf.getvalue())  # type: ignore[misc]
    changed = torch.load(io.BytesIO(data), weights_only=True)
    assert changed["b.weight"].shape == (3, 3)  # the first floating tensor by name with a dimension
    assert changed["c.bias"].shape == (4,) and int(changed["a.steps"]) == 3
    assert note == "tensor 'b.weight' has shape [3, 3] instead of [2, 3]"


def test_partial_checkpoint_of_something_else() -> None:
    pytest.importorskip("torch")
    assert partial_checkpoint(b"not a torch file") is None
