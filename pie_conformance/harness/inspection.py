"""The harness's answers to the rules' questions about a snapshot's files: pictures, colours, weights.

One :class:`Inspection` serves a whole check. Every answer is memoised by the file's content digest, so a
picture or weights file that did not change between progress lines (or between scenarios) is read once.
The weights are loaded by a helper process (:mod:`pie_conformance.harness.weights`) that imports torch
while the script starts; the pictures are read in this process, within the limits of
:mod:`pie_conformance.harness.pictures`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

from pie_conformance.facts import ColourCensus, FileInfo, PictureInfo, Snapshot, WeightsResult
from pie_conformance.harness.pictures import PictureError, colour_census, inspect_picture, read_rgb
from pie_conformance.harness.weights import WeightsInspector, start_inspector

__all__ = ["Inspection"]

_Palette = tuple[tuple[int, int, int], ...]


class Inspection:
    """An :class:`~pie_conformance.facts.OutputInspector`: memoised, never raising on a bad file."""

    def __init__(self, weights: WeightsInspector | None = None) -> None:
        self._weights_helper = weights
        self._lock = threading.Lock()
        self._pictures: dict[str, PictureInfo] = {}
        self._colours: dict[tuple[str, _Palette], ColourCensus] = {}
        self._weights: dict[str, WeightsResult] = {}

    # -- lifetime ------------------------------------------------------------------------------------
    def start(self) -> Inspection:
        """Start the weights helper now, so that torch is imported while the script starts."""
        with self._lock:
            if self._weights_helper is None:
                self._weights_helper = start_inspector()
        return self

    def close(self) -> None:
        """End the weights helper at once: it holds nothing worth a graceful exit, and one still importing
        torch would not read its end of input for seconds."""
        helper, self._weights_helper = self._weights_helper, None
        if helper is None:
            return
        pid = helper.pid
        if pid is not None:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        helper.close()

    def __enter__(self) -> Inspection:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the questions -------------------------------------------------------------------------------
    def picture(self, snapshot: Snapshot, info: FileInfo) -> PictureInfo:
        """The inspection of a picture of ``snapshot``, memoised by content digest."""
        if info.is_symlink:
            target = f" to {info.link_target}" if info.link_target else ""
            return PictureInfo(
                ok=False,
                problem=f"is a symbolic link{target}, not a file",
                hint="write the picture itself to output/picture/; the platform uploads files, not links",
            )
        if info.digest is not None and info.digest in self._pictures:
            return self._pictures[info.digest]
        path = snapshot.path(info.relpath)
        if info.digest is None and not path.is_file():
            # The snapshot did not copy it: a fifo, socket or device, or too large to copy.
            return PictureInfo(
                ok=False,
                problem=f"is not a regular file of a readable size ({info.size:,} bytes)",
                hint="write a normal PNG file of the training tile's size",
            )
        result = inspect_picture(path)
        if info.digest is not None:
            self._pictures[info.digest] = result
        return result

    def census(self, snapshot: Snapshot, info: FileInfo, allowed: _Palette) -> ColourCensus | None:
        """The colours of a decodable picture outside ``allowed``; None when it does not decode."""
        key = (info.digest or "", allowed)
        if info.digest is not None and key in self._colours:
            return self._colours[key]
        try:
            census = colour_census(read_rgb(snapshot.path(info.relpath)), allowed)
        except PictureError:
            return None  # OUT005 reports it
        if info.digest is not None:
            self._colours[key] = census
        return census

    def weights(self, snapshot: Snapshot, info: FileInfo) -> WeightsResult:
        """``torch.load(weights_only=True)``'s verdict on a weights file, memoised by content digest."""
        if info.digest is not None and info.digest in self._weights:
            return self._weights[info.digest]
        if info.size == 0:
            result = WeightsResult("invalid", "the file is empty (0 bytes)", found="nothing")
        else:
            path = snapshot.path(info.relpath)
            if info.digest is None and not path.is_file():
                # Larger than the snapshot copies: the kit cannot judge it, and a big model is no fault.
                return WeightsResult("unchecked", f"{info.size:,} bytes, over the snapshot's copy limit")
            result = self.start()._helper().inspect(path)
        if info.digest is not None and result.status != "unavailable":
            self._weights[info.digest] = result
        return result

    def partial_checkpoint(self, data: bytes) -> tuple[bytes, str] | None:
        """The baseline's weights with one tensor reshaped, and a note saying which (made in the helper)."""
        return self.start()._helper().partial_checkpoint(data)

    def _helper(self) -> WeightsInspector:
        helper = self._weights_helper
        assert helper is not None  # start() made it
        return helper
