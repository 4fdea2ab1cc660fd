"""RUN rules: how the script's process behaved, judged from outside it (exit, time, dataset, GPUs, reads).

RUN003 and RUN007 read what the sandbox (harness/sandbox.py) refused and recorded: with ``--sandbox none``
nothing is recorded, so they find nothing.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

from pie_conformance.facts import RunRecord, S3Call
from pie_conformance.findings import Problem
from pie_conformance.rules import Phase, rule

_WRITE_WORDS = ("put", "post", "delete", "copy", "upload", "multipart", "restore", "create")


def is_write(call: S3Call) -> bool:
    """True when the request creates, overwrites or deletes an object (by operation or HTTP method name)."""
    op = call.op.lower()
    return any(w in op for w in _WRITE_WORDS)


def is_object_read(call: S3Call) -> bool:
    """True when the request fetched an object's content (GetObject, or a plain GET of a key)."""
    op = call.op.lower()
    return op in ("get", "getobject") and bool(call.key) and not call.key.endswith("/")


def _stderr_hint(run: RunRecord, lead: str) -> str:
    tail = run.stderr_tail.strip()
    if not tail:
        return f"{lead}; the script wrote nothing to stderr"
    shown = "\n      ".join(tail.splitlines()[-10:])
    return f"{lead}; the last lines of its stderr:\n      {shown}"


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


@rule("RUN001", phase=Phase.RUN)
def exit_status(run: RunRecord) -> Iterator[Problem]:
    """The process exits with status 0."""
    if run.start_error:
        yield Problem(
            f"expected the interpreter to start the script, got an error: {run.start_error}",
            hint="check --python: it must name a Python interpreter that can run the script",
            path="train.py",
        )
        return
    if run.timed_out or run.stopped_by_kit or run.returncode in (0, None):
        return
    rc = run.returncode
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        got = f"it was killed by {name}"
    else:
        got = f"got {rc}"
    from pie_conformance.crash import crash_hint, parse_crash

    crash = parse_crash(run.stderr_tail)
    if crash is None:
        last = _last_line(run.stderr_tail)
        said = f": {last}" if last else ""
        yield Problem(
            f"expected exit status 0, {got} {run.when()}{said}",
            hint=_stderr_hint(run, "the script crashed; fix the error it reports"),
            epoch=run.last_k,
            path="train.py",
        )
        return
    # What raised where, in the script's own file and line, with the kit's frames taken out.
    lead = crash_hint(crash, run.traincfg) or "the script crashed; fix the error it reports"
    shown = "\n      ".join(crash.traceback.splitlines()[-12:])
    yield Problem(
        f"expected exit status 0, {got} {run.when()}: {crash.summary()}",
        hint=f"{lead}; the traceback on its stderr, the kit's own frames left out:\n      {shown}",
        epoch=run.last_k,
        path=crash.frame.relpath if crash.frame and crash.frame.relpath else "train.py",
        line=crash.frame.line if crash.frame else None,
    )


@rule("RUN002", phase=Phase.RUN)
def time_limit(run: RunRecord) -> Iterator[Problem]:
    """The process finishes within the time limit (the report says after which epoch it stopped)."""
    if not run.timed_out:
        return
    yield Problem(
        f"expected the run to finish within {run.timeout:g} s, it was still running {run.when()} "
        "and was killed (with everything it started)",
        hint=_stderr_hint(
            run,
            "look for a loop that never ends or a second input() that waits for stdin (the platform "
            "sends the parameters once, then EOF); if training is only slow, give more time with --timeout",
        ),
        epoch=run.last_k,
        path="train.py",
    )


@rule("RUN004", phase=Phase.RUN)
def dataset_unchanged(run: RunRecord) -> Iterator[Problem]:
    """The dataset is unchanged afterwards (no object written, overwritten or deleted)."""
    prefix = run.dataset_prefix
    writes = [c for c in run.calls if is_write(c) and c.bucket == run.bucket and c.key.startswith(prefix)]
    for c in writes[:10]:
        yield Problem(
            f"expected the dataset to be read only, got a {c.op} of s3://{c.bucket}/{c.key}",
            hint="datasets are shared and read-only on the platform: write results under output/ only",
            path=f"s3://{c.bucket}/{c.key}",
        )
    if len(writes) > 10:
        yield Problem(
            f"... and {len(writes) - 10} more writes to the dataset", path=f"s3://{run.bucket}/{prefix}"
        )
    if not writes and run.dataset_before is not None and run.dataset_after != run.dataset_before:
        yield Problem(
            "expected the dataset to be the same after the run, got different objects or contents under "
            f"s3://{run.bucket}/{prefix}",
            hint="datasets are shared and read-only on the platform: write results under output/ only",
            path=f"s3://{run.bucket}/{prefix}",
        )


@rule("RUN005", phase=Phase.RUN, opt_out="gpu", scope_note="applies with gpu_num 0 only")
def no_gpu_when_gpu_num_zero(run: RunRecord) -> Iterator[Problem]:
    """With ``gpu_num`` 0 the script runs with no GPU visible."""
    if run.gpu_num != 0:
        return
    given = run.child_env.get("CUDA_VISIBLE_DEVICES")
    if given != "":
        # The kit hides every GPU itself; this can only mean the kit was changed or misused.
        yield Problem(f"expected the run to start with CUDA_VISIBLE_DEVICES=\"\", got {given!r}")
        return
    probe = run.probe
    if not probe:
        return  # the probe could not report (the script ended through os._exit or a signal)
    seen = probe.get("cuda_visible_devices")
    if seen != "":
        shown = "unset" if seen is None else repr(seen)
        yield Problem(
            f"expected CUDA_VISIBLE_DEVICES to stay \"\" with gpu_num 0, got {shown} when the script ended",
            hint="do not set CUDA_VISIBLE_DEVICES in the script: the platform chooses the devices; use "
            "torch.device('cuda' if gpu_num > 0 else 'cpu')",
            path="train.py",
        )
    if probe.get("cuda_initialized"):
        yield Problem(
            "expected no CUDA use with gpu_num 0, got an initialised CUDA context",
            hint="move the model and tensors to the GPU only when gpu_num > 0",
            path="train.py",
        )


@rule("RUN006", phase=Phase.RUN)
def reads_dataset(run: RunRecord) -> Iterator[Problem]:
    """The script reads training and validation data through ``aiUtils`` (at least one object of each)."""
    if not run.ended_normally:
        return
    for part in ("train/", "valid/"):
        where = run.dataset_prefix + part
        if any(is_object_read(c) and c.bucket == run.bucket and c.key.startswith(where) for c in run.calls):
            continue
        mine = [c for c in run.calls if c.bucket == run.bucket]
        listed = any(c.key.startswith(where) or "list" in c.op.lower() for c in mine)
        how = "it listed keys but fetched none" if listed else "it made no request for it"
        yield Problem(
            f"expected the script to read at least one object under s3://{run.bucket}/{where} "
            f"through aiUtils, got none ({how})",
            hint="read the data with aiUtils.s3GetImg(...).getImages(prefix) and getImgXmlArray(key) "
            "(or pullImage); the platform gives no local copy of the dataset",
            path=f"s3://{run.bucket}/{where}",
        )


_MAX_SHOWN = 10


@rule("RUN003", phase=Phase.RUN)
def no_network(run: RunRecord) -> Iterator[Problem]:
    """No network connection other than to the mock S3 endpoint on loopback."""
    tried = [e for e in run.sandbox_events if e.kind in ("connect", "resolve")]
    for e in tried[:_MAX_SHOWN]:
        what = f"a name lookup of {e.target}" if e.kind == "resolve" else f"a connection to {e.target}"
        yield Problem(
            f"expected no network use other than the mock S3 through aiUtils, got {what} ({e.call}); "
            "the sandbox refused it",
            hint="the platform's training machines reach only its own S3; read data with aiUtils and "
            "bundle what the script needs (weights, code) next to train.py",
            path=e.target,
        )
    if len(tried) > _MAX_SHOWN:
        yield Problem(f"... and {len(tried) - _MAX_SHOWN} more network attempts", path=None)


@rule("RUN007", phase=Phase.RUN)
def writes_inside_run(run: RunRecord) -> Iterator[Problem]:
    """Nothing is written outside the run's own folder (where the sandbox can tell)."""
    writes = [e for e in run.sandbox_events if e.kind == "write"]
    for e in writes[:_MAX_SHOWN]:
        yield Problem(
            f"expected every write inside the working directory, got {e.call} of {e.target}, outside the "
            "run folder; the sandbox refused it",
            hint="write results under output/ (relative to the working directory) and temporary files "
            "under tempfile.gettempdir(); the platform keeps nothing else",
            path=e.target,
        )
    if len(writes) > _MAX_SHOWN:
        yield Problem(f"... and {len(writes) - _MAX_SHOWN} more writes outside the run folder", path=None)


@rule("RUN008", phase=Phase.RUN)
def aiutils_quirks(run: RunRecord) -> Iterator[Problem]:
    """aiUtils was called in a way the platform's module answers differently from what the script expects."""
    seen: set[tuple[str, str]] = set()
    for event in run.aiutils_events:
        key = (str(event.call), str(event.quirk))
        if key in seen:
            continue  # one finding per kind of slip: the same call in a loop says nothing new
        seen.add(key)
        yield Problem(
            f"expected aiUtils.{event.call} to be called as the platform's module expects, "
            f"but {event.detail}",
            hint=event.hint or None,
            path="train.py",
        )
