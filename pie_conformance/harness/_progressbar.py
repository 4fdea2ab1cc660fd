"""A one-line live progress bar on a terminal, driven by the script's own ``[Process: k/N]`` lines."""

from __future__ import annotations

import time
from typing import TextIO


class ProgressBar:
    """Redraws one line on ``stream`` at each progress line; :meth:`close` clears it."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.t0 = time.monotonic()
        self.drawn = False

    def __call__(self, scenario: str, k: int, n: int) -> None:
        """Show scenario, epoch k of N, a bar and the elapsed time."""
        frac = min(1.0, k / n) if n > 0 else 0.0
        filled = int(round(frac * self.width))
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = time.monotonic() - self.t0
        self.stream.write(f"\r\033[K{scenario:<14} [{bar}] epoch {k}/{n}  {elapsed:6.1f}s")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        """Erase the bar so the report starts on a clean line."""
        if self.drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.drawn = False
