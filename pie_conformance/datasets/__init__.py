"""Synthetic remote-sensing datasets in the platform's three layouts, and dataset folders on disk.

``generate(DatasetSpec(task))`` draws a dataset in memory; ``Dataset.write_to_dir`` writes it with its
``traincfg.json``; ``load_dir`` and ``check_dir`` read and check a folder in the platform's layout.
"""

from __future__ import annotations

from pie_conformance.datasets._folder import DatasetLayoutError, check_dir, load_dir
from pie_conformance.datasets._generate import SPLITS, Dataset, generate
from pie_conformance.datasets._spec import KIND_BY_TASK, TASKS, DatasetSpec, LabelClass, default_classes
from pie_conformance.datasets._voc import Box, read_voc, write_voc

__all__ = [
    "KIND_BY_TASK",
    "SPLITS",
    "TASKS",
    "Box",
    "Dataset",
    "DatasetLayoutError",
    "DatasetSpec",
    "LabelClass",
    "check_dir",
    "default_classes",
    "generate",
    "load_dir",
    "read_voc",
    "write_voc",
]
