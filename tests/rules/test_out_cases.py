"""End to end: each script in tests/cases/OUTnnn/ breaks exactly that rule, through check_script."""

from __future__ import annotations

from pathlib import Path

import pytest

from pie_conformance.findings import Severity

CASES = Path(__file__).resolve().parents[1] / "cases"

# rule -> (task the script is written for, a phrase its finding must contain, a phrase of its hint)
EXPECTED = {
    "OUT001": ("detection", "found no weights file at all", "torch.save(model.state_dict()"),
    "OUT002": ("detection", "pickled torch.nn.modules.linear.Linear", "model.state_dict()"),
    "OUT003": ("detection", "same tensors as at the previous progress line", "optimizer.step()"),
    "OUT004": ("segmentation", "output/picture/label.png", "image.png, label.png, pred.png"),
    "OUT005": ("detection", "JPEG data, not a PNG", "format='PNG'"),
    "OUT006": ("segmentation", "pred.png 32x32", "NEAREST"),
    "OUT007": ("segmentation", "other colours", "NEAREST"),
    "OUT008": ("detection", "unchanged since the previous progress line", "every epoch"),
    "OUT009": ("detection", "pred_epoch1.png", "per-epoch pictures"),
    "OUT010": ("detection", "outputyolo.th", "'/' is missing"),
}


@pytest.mark.slow
@pytest.mark.parametrize("rule_id", sorted(EXPECTED))
def test_case_breaks_exactly_its_rule(rule_id: str) -> None:
    from pie_conformance import CheckOptions, check_script

    task, in_message, in_hint = EXPECTED[rule_id]
    report = check_script(
        CASES / rule_id, CheckOptions(sources=False,
            task=task, epochs=2, scenarios=["baseline"], timeout=120))
    assert report.rule_ids() == {rule_id}, [(f.rule, f.message) for f in report.findings]
    found = [f for f in report.findings if f.rule == rule_id]
    assert any(in_message in f.message for f in found), [f.message for f in found]
    assert any(in_hint in (f.hint or "") for f in found), [f.hint for f in found]
    expect_error = rule_id not in {"OUT003", "OUT006", "OUT008", "OUT009", "OUT010"}
    assert report.conformant is not expect_error
    assert all(f.severity is (Severity.ERROR if expect_error else Severity.WARNING) for f in found)
