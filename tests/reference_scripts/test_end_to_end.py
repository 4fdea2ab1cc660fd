"""The reference scripts end to end: through the kit's harness, and on two DDP ranks (gloo, CPU)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from ref_support import SCRIPTS, TASKS, copy_script, run_python, write_cfg

from pie_conformance.datasets import DatasetSpec, generate
from pie_conformance.s3 import DatasetStore, MockS3Server, aiutils_env, registry_for

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("task", TASKS)
def test_reference_script_is_conformant_in_both_scenarios(task: str, tmp_path: Path) -> None:
    from pie_conformance import CheckOptions, check_script

    report = check_script(SCRIPTS / task, CheckOptions(task=task, epochs=2, scenarios=("baseline", "resume"),
                          keep=tmp_path / "runs"))
    ran = {s.name: s.status for s in report.scenarios}
    assert ran == {"baseline": "ran", "resume": "ran"}
    assert report.conformant, [f"{f.rule} {f.scenario}: {f.message}" for f in report.findings]
    assert not report.findings, [f"{f.rule} {f.scenario}: {f.message}" for f in report.findings]


DRIVER = """
import os, sys
sys.path.insert(0, os.getcwd())
import config, train
cfg = config.load(os.getcwd())
train.run(cfg, os.getcwd(), train.Devices("cpu", 2))
"""


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without torch.distributed")
@pytest.mark.parametrize("task", TASKS)
def test_two_ranks_with_gloo_train_and_only_rank_zero_reports(task: str, tmp_path: Path) -> None:
    dataset = generate(DatasetSpec(task, train_images=5, valid_images=2, size=(40, 32), seed=3))
    work = copy_script(task, tmp_path / "work")
    cfg = dataset.traincfg(epochs=2, batch_size=2)
    write_cfg(work, cfg)
    with MockS3Server() as server:
        DatasetStore(server.endpoint_url).upload(dataset)
        proc = run_python(DRIVER, work, aiutils_env(server.endpoint_url, registry_for(dataset)))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    progress = [line for line in proc.stdout.splitlines() if re.search(r"Process", line)]
    assert progress == ["[Process: 1/2]", "[Process: 2/2]"]  # rank 1 prints nothing
    log = json.loads((work / "output" / "trainlog.json").read_text(encoding="utf-8"))
    assert [e["epoch"] for e in log["epochs"]] == ["1", "2"] and log["end_time"]
    state = torch.load(work / "output" / "files" / f"{cfg['model_name']}.th", weights_only=True)
    assert not any(name.startswith("module.") for name in state)  # the bare model, not the DDP wrapper
    leftovers = sorted(p.name for p in work.iterdir() if p.suffix not in (".py", ".md"))
    assert leftovers == ["output", "traincfg.json"]


EARLY_STOP_DRIVER = """
import os, sys
sys.path.insert(0, os.getcwd())
import config, metrics, train
train.PATIENCE = 1
real_update = metrics.EarlyStopping.update
# Only the first epoch improves, whatever the model does: the stop must come right after epoch 2.
metrics.EarlyStopping.update = lambda self, score, epoch: real_update(self, 1.0 if epoch == 1 else 0.0, epoch)
cfg = config.load(os.getcwd())
train.run(cfg, os.getcwd(), train.plan_devices(cfg.gpu_num))
"""


@pytest.mark.parametrize("task", TASKS)
def test_auto_termination_stops_early_and_closes_the_log(task: str, tmp_path: Path) -> None:
    dataset = generate(DatasetSpec(task, train_images=3, valid_images=2, size=(48, 40), seed=5))
    work = copy_script(task, tmp_path / "work")
    write_cfg(work, dataset.traincfg(epochs=5, batch_size=1, auto_termination=1))
    with MockS3Server() as server:
        DatasetStore(server.endpoint_url).upload(dataset)
        proc = run_python(EARLY_STOP_DRIVER, work, aiutils_env(server.endpoint_url, registry_for(dataset)))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    progress = [line for line in proc.stdout.splitlines() if line.startswith("[Process")]
    assert progress == ["[Process: 1/5]", "[Process: 2/5]"]
    assert "auto_termination" in proc.stdout
    log = json.loads((work / "output" / "trainlog.json").read_text(encoding="utf-8"))
    assert len(log["epochs"]) == 2 and log["end_time"] >= log["create_time"]
    assert isinstance(log["best"], dict) and log["best"]
