"""The platform's three kinds of training, as the kit names them everywhere (a module with no imports)."""

from __future__ import annotations

#: Semantic segmentation, object detection (the platform's "recognition") and change detection.
TASKS: tuple[str, ...] = ("segmentation", "detection", "change_detection")
