"""Judging a run while it goes on: the progress-time rules (OUT, LOG) on each frozen snapshot.

The harness hands every snapshot to a :class:`ProgressJudge`, which judges it in a background thread while
the script goes on, so checking epoch 200 costs the script what checking epoch 2 does. A snapshot is judged
once the next one arrives (or the run ends), when it is known whether it is the last: the last one of a run
that ended by itself is judged ``final`` (``end_time`` must then be set).
"""

from __future__ import annotations

import dataclasses
import queue
import shutil
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pie_conformance.facts import OutputInspector, ProgressContext, Snapshot
from pie_conformance.findings import Finding
from pie_conformance.harness.snapshot import OUTPUT_DIR, read_snapshot_file
from pie_conformance.rules import Phase, evaluate, rules_for
from pie_conformance.trainlog import TrainlogChecker

__all__ = ["ProgressJudge"]


class ProgressJudge:
    """Runs the progress-time rules of one run on each snapshot, in order, in a background thread."""

    def __init__(self, *, scenario: str, task: str, traincfg: Mapping[str, Any], inspector: OutputInspector,
                 downloaded_digests: frozenset[str], keep: bool, window: tuple[datetime, datetime],
                 options: frozenset[str] = frozenset()) -> None:
        self.scenario = scenario
        self.task = task
        self.traincfg = traincfg
        self.inspector = inspector
        self.digests = downloaded_digests
        self.keep = keep
        self.rules = rules_for(Phase.PROGRESS, task=task, scenario=scenario, options=options)
        self.log = TrainlogChecker(
            traincfg, run_window=window,
            rules=rules_for(Phase.LOG, task=task, scenario=scenario, options=options),
        )
        self.findings: list[Finding] = []
        self.error: BaseException | None = None
        self.previous: Snapshot | None = None
        self.last: Snapshot | None = None
        self._queue: queue.Queue[Snapshot | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="pie-check-judge", daemon=True)
        self._thread.start()

    def put(self, snap: Snapshot) -> None:
        """Hand over the snapshot of the latest progress line."""
        self._queue.put(snap)

    def abandon(self) -> None:
        """Stop judging (the run is started again from scratch)."""
        self._queue.put(None)

    def finish(self, *, completed: bool) -> list[Finding]:
        """Judge the last snapshot (``final`` when the run ended by itself) and return every finding."""
        self._queue.put(None)
        self._thread.join()
        if self.error is not None:
            raise self.error
        # With no progress line at all there is no epoch to judge outputs at: PRG001 or RUN001 says why.
        if self.last is not None:
            self.findings += self._check(self.last, final=completed)
        return self.findings

    def _trainlog_bytes(self, snap: Snapshot) -> bytes | None:
        info = snap.files.get(f"{OUTPUT_DIR}/trainlog.json")
        if info is None or info.is_symlink:
            return None
        return read_snapshot_file(snap, info.relpath)

    def _check(self, snap: Snapshot, *, final: bool) -> list[Finding]:
        downloaded = frozenset(rel for rel, info in snap.outside.items() if info.digest in self.digests)
        ctx = ProgressContext(
            task=self.task, traincfg=self.traincfg, snapshot=snap, previous=self.previous,
            inspector=self.inspector, scenario=self.scenario, downloaded=downloaded,
        )
        found = list(evaluate(self.rules, ctx, scenario=self.scenario, epoch=snap.k))
        for f in self.log.check(self._trainlog_bytes(snap), progress_k=snap.k, final=final):
            epoch = f.epoch if f.epoch is not None else snap.k
            found.append(dataclasses.replace(f, scenario=self.scenario, epoch=epoch))
        return found

    def _work(self) -> None:
        while True:
            snap = self._queue.get()
            if snap is None:
                return
            if self.error is not None:
                continue
            try:
                if self.last is not None:
                    self.findings += self._check(self.last, final=False)
                    self._drop(self.previous)
                    self.previous = self.last
                self.last = snap
            except BaseException as exc:  # a kit bug: reported after the run, never a hung script
                self.error = exc

    def _drop(self, snap: Snapshot | None) -> None:
        if snap is not None and not self.keep:
            shutil.rmtree(snap.root, ignore_errors=True)
