"""What the plugin's fixtures hand out: datasets in the mock S3, the in-process aiUtils, script checks.

Imported only when a test asks for one of the ``pie_*`` fixtures; the heavy modules (numpy, boto3, moto,
the harness) are imported inside the functions that need them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from pie_conformance._pytest_options import MARKER_ARGS, OptionValueError, PieSettings, check_marker_kwargs

if TYPE_CHECKING:
    from pie_conformance.datasets import Dataset, LabelClass
    from pie_conformance.findings import Report
    from pie_conformance.s3 import MockS3Server

#: What a fixture uses when neither the marker nor a ``--pie-*`` option says otherwise.
FIXTURE_DEFAULTS: dict[str, Any] = {
    "task": "segmentation",
    "images": 4,
    "size": (64, 64),
    "format": "png",
    "seed": 0,
    "epochs": 2,
}


def merged_config(node: pytest.Item, settings: PieSettings) -> dict[str, Any]:
    """The fixture configuration of one test: its ``pie`` markers (closest wins), then the options."""
    config: dict[str, Any] = {}
    for key in ("task", "epochs", "timeout", "gpu_num", "images", "size", "scenarios"):
        value = getattr(settings, key)
        if value is not None:
            config[key] = value
    # iter_markers yields the closest marker first (function, then class, then module): apply them
    # farthest first so that the closest one wins.
    for mark in reversed(list(node.iter_markers("pie"))):
        config.update(check_marker_kwargs(mark.args, mark.kwargs, node.nodeid))
    return config


@dataclass(frozen=True)
class PieDataset:
    """A synthetic dataset made by ``pie_dataset`` and uploaded to the session's mock S3."""

    task: str
    dataset_id: str
    path: str  # "s3://pie-engine-ai/devel/<owner>/dataset/<kind>/<id>/", as aiUtils' .path gives it
    prefix: str  # the same without "s3://<bucket>/"
    labels: tuple[LabelClass, ...]
    traincfg: Mapping[
        str, Any
    ]  # a complete platform traincfg for this dataset (epochs from the marker/options)
    dataset: Dataset = field(repr=False, compare=False)  # the generated files, in memory

    @property
    def label(self) -> str:
        """The traincfg ``label`` string (JSON list of label objects)."""
        return str(self.traincfg["label"])

    @property
    def class_names(self) -> list[str]:
        """The class names in traincfg order."""
        return [c.name for c in self.labels]

    def keys(self, split: str = "train") -> list[str]:
        """The full object keys of one split (``train`` or ``valid``), sorted."""
        return sorted(self.prefix + k for k in self.dataset.files if k.startswith(split + "/"))


def _more_classes(task: str, count: int) -> tuple[LabelClass, ...]:
    # ``classes=N``: the kit's default classes of the task, cut or extended to N classes (background not
    # counted), with values and colours that stay distinct and are not 0..n-1.
    from pie_conformance.datasets import LabelClass, default_classes

    base = list(default_classes(task))
    background = [c for c in base if c.name == "background"]
    others = [c for c in base if c.name != "background"]
    used_values = {c.value for c in base}
    used_colors = {c.color for c in base}
    i = 0
    while len(others) < count:
        i += 1
        value = (37 * i + 11) % 254 + 1
        while value in used_values:
            value = value % 254 + 1
        color = ((53 * i) % 256, (97 * i + 40) % 256, (151 * i + 80) % 256)
        while color in used_colors:
            color = ((color[0] + 1) % 256, color[1], color[2])
        used_values.add(value)
        used_colors.add(color)
        others.append(LabelClass(f"class{len(others) + 1}", value, f"class {len(others) + 1}", color))
    return tuple(background + others[:count])


class DatasetRegistry:
    """The datasets made by ``pie_dataset`` in one test, and who wants to hear of a new one."""

    def __init__(self) -> None:
        self.datasets: list[PieDataset] = []
        self.listeners: list[Callable[[PieDataset], None]] = []

    def add(self, dataset: PieDataset) -> None:
        """Record a new dataset and tell the listeners (``pie_aiutils`` refreshes the environment)."""
        self.datasets.append(dataset)
        for listener in list(self.listeners):
            listener(dataset)


class DatasetFactory:
    """``pie_dataset(...)``: generate a dataset, upload it to the mock and return a :class:`PieDataset`."""

    def __init__(self, server: MockS3Server, config: Mapping[str, Any], registry: DatasetRegistry) -> None:
        self._server = server
        self._config = dict(config)
        self._registry = registry
        self._fingerprints: list[tuple[str, str, dict[str, str]]] = []  # (id, prefix, key -> etag:size)

    @property
    def readonly(self) -> bool:
        """Whether the datasets must be unchanged at the end of the test (the marker's ``readonly``)."""
        return bool(self._config.get("readonly", True))

    def changes(self) -> list[str]:
        """What the test wrote into its datasets: one line per dataset with objects added, changed or gone."""
        if not self._fingerprints:
            return []
        from pie_conformance.s3 import DatasetStore

        store = DatasetStore(self._server.endpoint_url)
        lines = []
        for dataset_id, prefix, before in self._fingerprints:
            after = store.fingerprint(prefix)
            parts = []
            for what, keys in (
                ("added", sorted(set(after) - set(before))),
                ("overwritten", sorted(k for k in set(after) & set(before) if after[k] != before[k])),
                ("deleted", sorted(set(before) - set(after))),
            ):
                if keys:
                    shown = ", ".join(k[len(prefix) :] for k in keys[:3]) + (" ..." if len(keys) > 3 else "")
                    parts.append(f"{len(keys)} {what} ({shown})")
            if parts:
                lines.append(f"dataset {dataset_id}: {'; '.join(parts)}")
        return lines

    def __call__(
        self,
        task: str | None = None,
        images: int | None = None,
        size: tuple[int, int] | str | None = None,
        classes: int | Sequence[LabelClass] | None = None,
        format: str | None = None,  # noqa: A002 - the marker's and the CLI's name for the image format
        *,
        valid_images: int | None = None,
        seed: int | None = None,
        **traincfg: Any,
    ) -> PieDataset:
        """Make one dataset; arguments left out come from ``@pytest.mark.pie``, the options, then defaults."""
        given = {
            "task": task,
            "images": images,
            "size": size,
            "classes": classes,
            "format": format,
            "valid_images": valid_images,
            "seed": seed,
        }
        chosen = dict(FIXTURE_DEFAULTS)
        chosen.update({k: v for k, v in self._config.items() if k in MARKER_ARGS})
        for key, value in given.items():
            if value is not None:
                try:
                    chosen[key] = MARKER_ARGS[key](value)
                except OptionValueError as exc:
                    raise ValueError(f"pie_dataset({key}=...): {exc}") from None
        return self._make(chosen, traincfg)

    def _make(self, chosen: Mapping[str, Any], overrides: Mapping[str, Any]) -> PieDataset:
        from pie_conformance.datasets import DatasetSpec, generate
        from pie_conformance.s3 import BUCKET, DatasetStore

        task = chosen["task"]
        classes = chosen.get("classes")
        if isinstance(classes, int):
            classes = _more_classes(task, classes)
        images = chosen["images"]
        spec = DatasetSpec(
            task=task,
            train_images=images,
            valid_images=chosen.get("valid_images") or max(1, images // 2),
            size=tuple(chosen["size"]),  # type: ignore[arg-type]
            classes=classes,
            image_format=chosen["format"],
            # Each dataset of one test gets its own seed, hence its own id, unless a seed is given.
            seed=chosen["seed"] + len(self._registry.datasets),
        )
        ds = generate(spec)
        # The mock takes the kit's throw-away keys, DatasetStore's defaults.
        store = DatasetStore(self._server.endpoint_url)
        store.upload(ds)
        self._fingerprints.append((ds.dataset_id, ds.prefix, store.fingerprint(ds.prefix)))
        cfg = {"epochs": chosen["epochs"]}
        if "gpu_num" in chosen:
            cfg["gpu_num"] = chosen["gpu_num"]
        cfg.update(overrides)
        made = PieDataset(
            task=task,
            dataset_id=ds.dataset_id,
            path=f"s3://{BUCKET}/{ds.prefix}",
            prefix=ds.prefix,
            labels=tuple(ds.spec.resolved_classes),
            traincfg=ds.traincfg(**cfg),
            dataset=ds,
        )
        self._registry.add(made)
        return made


class PieAiUtils:
    """The environment of ``pie_aiutils``: ``from aiUtils import aiUtils`` reads the datasets of this test."""

    def __init__(
        self, server: MockS3Server, registry: DatasetRegistry, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self._server = server
        self._registry = registry
        self._mp = monkeypatch
        self._active: PieDataset | None = None
        self._saved_modules: dict[str, Any] = {}
        self.env: dict[str, str] = {}

    @property
    def path(self) -> str:
        """The folder that holds the ``aiUtils`` package (put first on ``sys.path``)."""
        from pie_conformance.s3 import AIUTILS_PATH

        return str(AIUTILS_PATH)

    @property
    def dataset(self) -> PieDataset | None:
        """The dataset ``aiUtils.s3GetImg()`` opens without an id (``AI_DATASET_ID``): the latest one made."""
        return self._active

    def use(self, dataset: PieDataset) -> None:
        """Make ``dataset`` the one ``aiUtils.s3GetImg()`` opens without an id."""
        self._active = dataset
        self._apply()

    def install(self) -> None:
        """Set the environment and ``sys.path``; set aside any ``aiUtils`` already imported."""
        self._saved_modules = _pop_aiutils_modules()
        self._mp.syspath_prepend(self.path)
        self._registry.listeners.append(self._on_dataset)
        if self._registry.datasets:
            self._active = self._registry.datasets[-1]
        self._apply()

    def uninstall(self) -> None:
        """Forget the shim's modules, bring back those set aside (monkeypatch undoes env and path)."""
        if self._on_dataset in self._registry.listeners:
            self._registry.listeners.remove(self._on_dataset)
        _pop_aiutils_modules()
        sys.modules.update(self._saved_modules)
        self._saved_modules = {}

    def _on_dataset(self, dataset: PieDataset) -> None:
        self._active = dataset
        self._apply()

    def _apply(self) -> None:
        from pie_conformance.s3 import aiutils_env, registry_for

        registry = registry_for(*(d.dataset for d in self._registry.datasets))
        env = aiutils_env(
            self._server.endpoint_url, registry, self._active.dataset_id if self._active else None
        )
        for key, value in env.items():
            self._mp.setenv(key, value)
        if self._active is None:
            self._mp.delenv("AI_DATASET_ID", raising=False)
        self.env = dict(env)


def _pop_aiutils_modules() -> dict[str, Any]:
    names = [n for n in sys.modules if n == "aiUtils" or n.startswith("aiUtils.")]
    return {n: sys.modules.pop(n) for n in names}


class ScriptRunner:
    """``pie_run(path, **options)``: run a script through the harness and return its :class:`Report`."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self._config = dict(config)

    def __call__(
        self,
        path: Any,
        *,
        task: str | None = None,
        epochs: int | None = None,
        images: int | None = None,
        size: tuple[int, int] | str | None = None,
        gpu_num: int | None = None,
        timeout: float | None = None,
        scenarios: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> Report:
        """Check ``path`` (a train.py or its folder); unset options come from the marker, then the options."""
        from pie_conformance import check_script

        given = {
            "task": task,
            "epochs": epochs,
            "images": images,
            "size": size,
            "gpu_num": gpu_num,
            "timeout": timeout,
            "scenarios": scenarios,
        }
        chosen: dict[str, Any] = {k: v for k, v in self._config.items() if k in given}
        for key, value in given.items():
            if value is not None:
                try:
                    chosen[key] = MARKER_ARGS[key](value)
                except OptionValueError as exc:
                    raise ValueError(f"pie_run({key}=...): {exc}") from None
        if "task" not in chosen:
            raise ValueError(
                "pie_run needs the task of the script: pie_run(path, task=...), @pytest.mark.pie(task=...) "
                "or --pie-task"
            )
        chosen.update(kwargs)
        from pie_conformance.harness.options import CheckOptions

        return check_script(str(path), CheckOptions(**chosen))
