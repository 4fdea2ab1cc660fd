"""The weights inspector: a helper process that loads .th files with weights_only=True."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from pie_conformance.harness.weights import (  # noqa: E402 - after the importorskip
    WeightsInspector,
    start_inspector,
)

torch.set_num_threads(1)
Files = dict[str, Path]


@pytest.fixture(scope="module")
def inspector() -> Iterator[WeightsInspector]:
    insp = start_inspector()
    yield insp
    insp.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("weights")
    model = torch.nn.Linear(3, 2)
    out = {name: d / f"{name}.th" for name in ("state", "module", "nontensor", "checkpoint", "garbage",
                                              "empty", "emptydict", "reordered")}
    torch.save(model.state_dict(), out["state"])
    torch.save(model, out["module"])
    torch.save({"lr": 0.1, "name": "x"}, out["nontensor"])
    torch.save({"state_dict": model.state_dict(), "epoch": 3}, out["checkpoint"])
    out["garbage"].write_bytes(b"this is not a torch file at all")
    out["empty"].write_bytes(b"")
    torch.save({}, out["emptydict"])
    sd = model.state_dict()
    torch.save({k: sd[k] for k in reversed(list(sd))}, out["reordered"])
    return out


def test_start_does_not_wait_for_torch() -> None:
    insp = start_inspector()
    try:
        # Back from start_inspector() while the helper has not yet announced that torch is imported.
        assert insp._lines.empty() and not insp._ready
        assert insp.pid is not None
    finally:
        insp.close()


def test_close_before_torch_is_imported_kills_the_helper() -> None:
    insp = start_inspector()
    proc = insp._proc
    assert proc is not None
    insp.close()
    # Killed (not left to finish importing torch and then read the end of its input).
    assert proc.returncode == -signal.SIGKILL
    assert insp.pid is None


def test_state_dict_is_ok_with_tensor_count_and_digest(inspector: WeightsInspector, files: Files) -> None:
    r = inspector.inspect(files["state"])
    assert r.ok, r.error
    assert r.tensors == 2
    assert r.digest and len(r.digest) == 64


def test_digest_is_by_tensor_content_not_file_bytes(inspector: WeightsInspector, files: Files) -> None:
    assert files["state"].read_bytes() != files["reordered"].read_bytes()
    assert inspector.inspect(files["state"]).digest == inspector.inspect(files["reordered"]).digest


def test_whole_pickled_module_is_refused_and_named(inspector: WeightsInspector, files: Files) -> None:
    r = inspector.inspect(files["module"])
    assert r.status == "invalid"
    assert r.found == "pickled torch.nn.modules.linear.Linear"
    assert "weights_only=True" in (r.error or "")


def test_mapping_of_non_tensors_is_refused(inspector: WeightsInspector, files: Files) -> None:
    r = inspector.inspect(files["nontensor"])
    assert r.status == "invalid"
    assert "'lr': float" in (r.error or "")


def test_checkpoint_dict_is_refused(inspector: WeightsInspector, files: Files) -> None:
    r = inspector.inspect(files["checkpoint"])
    assert r.status == "invalid" and r.found == "a checkpoint dict"


@pytest.mark.parametrize("name", ["garbage", "empty", "emptydict"])
def test_unusable_files_are_invalid(inspector: WeightsInspector, files: dict[str, Path], name: str) -> None:
    r = inspector.inspect(files[name])
    assert r.status == "invalid"
    assert r.error


def test_hung_helper_times_out_and_is_restarted(files: dict[str, Path]) -> None:
    with start_inspector() as insp:
        assert insp.inspect(files["state"]).ok  # ready: torch imported
        pid = insp.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # the helper we started now hangs
        r = insp.inspect(files["state"], timeout=0.5)
        assert r.status == "unavailable"
        assert "did not answer within 0.5 s" in (r.error or "")
        again = insp.inspect(files["state"])  # a fresh helper answers
        assert again.ok and insp.pid != pid


def test_crashed_helper_is_reported_then_restarted(files: dict[str, Path]) -> None:
    with start_inspector() as insp:
        assert insp.inspect(files["state"]).ok
        pid = insp.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while insp._proc is not None and insp._proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        r = insp.inspect(files["state"])
        assert r.ok  # noticed dead before the request: restarted transparently


def test_helper_dying_mid_request_is_reported(files: dict[str, Path]) -> None:
    with start_inspector(max_restarts=0) as insp:
        assert insp.inspect(files["state"]).ok
        pid = insp.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # the request below stays pending until the helper is killed
        threading.Timer(0.3, os.kill, (pid, signal.SIGKILL)).start()
        r = insp.inspect(files["state"], timeout=20)
        assert r.status == "unavailable" and "crashed" in (r.error or "")
        # No restarts allowed: later requests say so instead of hanging.
        later = insp.inspect(files["state"])
        assert later.status == "unavailable" and later.error


def test_broken_interpreter_is_unavailable_not_an_exception(files: dict[str, Path], tmp_path: Path) -> None:
    with start_inspector(python=str(tmp_path / "no-such-python")) as insp:
        r = insp.inspect(files["state"])
    assert r.status == "unavailable" and "could not be started" in (r.error or "")


def test_closed_inspector_answers_unavailable(files: dict[str, Path]) -> None:
    insp = start_inspector()
    insp.close()
    assert insp.inspect(files["state"]).status == "unavailable"
    assert insp.pid is None
