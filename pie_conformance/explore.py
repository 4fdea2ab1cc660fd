"""Property-based scenarios: run a train.py under many generated, valid platform configurations.

A script that passes the kit's one baseline configuration can still hard-code what the platform varies: the
number of classes, their ``class_value``s and colours, a square or 32-multiple ``load_size``, a batch that
fits the dataset, a ``dataset_id``. :func:`explore` draws configurations with Hypothesis (each with a small
dataset made to match it), runs the script under each as scenario ``explore-<k>``, and, at the first one
that fails, lets Hypothesis shrink it to the simplest failing configuration. That one is saved as a
traincfg file that ``pie-check run PATH --task T --traincfg FILE`` reproduces.

The harness (:func:`pie_conformance.harness.check.check_script`) owns the runs; this module owns what to
run and when to stop. It reaches the harness through one callable, :data:`RunExample`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shlex
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from pie_conformance.findings import Finding, ScenarioResult, Severity

__all__ = [
    "DEFAULT_IMAGES",
    "IMAGE_FORMATS",
    "Example",
    "Exploration",
    "RunExample",
    "examples",
    "explore",
    "reproduce_command",
    "saved_name",
    "summary_lines",
]

#: Image formats an example's dataset is drawn in.
IMAGE_FORMATS: tuple[str, ...] = ("png", "jpg", "tif")
#: Training images of the harness's own dataset (``pie-check run --images``); validation gets half.
DEFAULT_IMAGES = 4
#: Bounds of a generated ``load_size`` side: the dataset generator's minimum, and small enough that eight
#: examples of a convolutional reference script finish in minutes on two cores.
MIN_SIDE, MAX_SIDE = 16, 96
#: Most training images of an example's dataset: a batch_size up to MAX_BATCH is then often larger.
MAX_IMAGES = 4
MAX_BATCH = 12
MAX_EPOCHS = 3
#: Script runs shrinking may make by default: enough for Hypothesis to simplify most failures, few enough
#: that a slow script is not run for an hour (the budget, when given, bounds it too).
MAX_SHRINK_RUNS = 20
#: The model name of the kit's baseline configuration, per task; examples use it or a drawn one.
_MODEL_NAMES = {"segmentation": "linknet34", "detection": "yolo", "change_detection": "siamdiff"}

#: One judged run of the script: (scenario name, traincfg, DatasetSpec of the dataset to serve) -> (the
#: run's findings, its ScenarioResult). The harness provides it; tests can give a fake one.
RunExample = Callable[[str, dict[str, Any], Any], "tuple[list[Finding], ScenarioResult]"]


@dataclass(frozen=True)
class Example:
    """One generated platform configuration and the dataset knobs that go with it."""

    traincfg: Mapping[str, Any]
    image_format: str = "png"
    images: int = DEFAULT_IMAGES  # training images; validation gets half (at least one), as in the harness

    @property
    def valid_images(self) -> int:
        """Validation images of the example's dataset."""
        return max(1, self.images // 2)

    @property
    def notebook(self) -> bool:
        """True when ``dataset_id`` is "" and the script must find the dataset through ``AI_DATASET_ID``."""
        return not self.traincfg.get("dataset_id")

    def key(self) -> str:
        """A canonical text of the example: equal examples have equal keys."""
        return json.dumps([dict(self.traincfg), self.image_format, self.images], sort_keys=True)

    def dataset_spec(self, task: str) -> Any:
        """The :class:`~pie_conformance.datasets.DatasetSpec` of the example's dataset.

        The same call as ``check_script(traincfg=..., images=..., image_format=...)`` makes, so that the
        reproduce command meets the very same dataset.
        """
        from pie_conformance.datasets import DatasetSpec

        return DatasetSpec.from_traincfg(
            self.traincfg, task, train_images=self.images, valid_images=self.valid_images,
            image_format=self.image_format, seed=0,
        )

    def describe(self) -> dict[str, Any]:
        """The example as a report shows it: the traincfg and the dataset's shape."""
        return {
            "traincfg": dict(self.traincfg),
            "dataset": {"train_images": self.images, "valid_images": self.valid_images,
                        "image_format": self.image_format, "notebook": self.notebook},
        }


def _derived_uuid(*parts: object) -> str:
    """A uuid4-shaped id that depends only on ``parts``."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode("utf-8")).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


@st.composite
def examples(draw: st.DrawFn, task: str, gpu_num: int = 0) -> Example:
    """Valid platform configurations for ``task`` with the dataset knobs that go with them.

    Drawn from :func:`pie_conformance.strategies.labels` (1 to 8 classes, unusual ``class_value``s and
    colours, background first where the task has one) and, around it, what scripts get wrong: a non-square
    ``load_size`` off multiples of 32, png/jpg/tif images, ``batch_size`` from 1 to beyond the dataset,
    ``epochs`` 1 to 3, the notebook mode (``dataset_id`` ""), another ``model_name``, early stop allowed.
    Everything shrinks towards the kit's baseline, so a shrunk failure differs from it only where it must.
    """
    from pie_conformance.strategies import labels

    items = draw(labels(task=task, min_classes=1, max_classes=8))
    width = draw(st.integers(MIN_SIDE, MAX_SIDE))
    height = draw(st.integers(MIN_SIDE, MAX_SIDE))
    image_format = draw(st.sampled_from(IMAGE_FORMATS))
    images = draw(st.integers(1, MAX_IMAGES))
    batch_size = draw(st.integers(1, MAX_BATCH))
    epochs = draw(st.integers(1, MAX_EPOCHS))
    notebook = draw(st.booleans())
    default_model = _MODEL_NAMES[task]
    model_name = draw(st.one_of(
        st.just(default_model),
        st.text("abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=12),
    ))
    cfg: dict[str, Any] = {
        "training_id": "",
        "dataset_id": "",
        "resume_path": "",
        "class_name": ",".join(item["class_name"] for item in items),
        "label": json.dumps(items, ensure_ascii=draw(st.booleans())),
        "n_class": str(sum(1 for item in items if item["class_name"] != "background")),
        "load_size": f"{width},{height}",
        "model_name": model_name,
        "learning_rate": draw(st.sampled_from([0.001, 0.01, 0.0001])),
        "epochs": epochs,
        "batch_size": batch_size,
        "auto_termination": draw(st.integers(0, 1)),
        "gpu_num": gpu_num,
    }
    # The ids are derived, not drawn: a drawn uuid would cost the shrinker script runs to simplify a value
    # no script depends on; derived ones still differ from example to example.
    text = json.dumps(cfg, sort_keys=True)
    cfg["training_id"] = _derived_uuid("pie-explore-training", text)
    if not notebook:
        cfg["dataset_id"] = _derived_uuid("pie-explore-dataset", text)
    return Example(traincfg=cfg, image_format=image_format, images=images)


def assert_valid(example: Example) -> None:
    """Raise AssertionError (a bug of the kit) when a generated traincfg is not valid for the contract."""
    from pie_conformance.validate import validate_traincfg

    found = validate_traincfg(dict(example.traincfg)).findings
    assert not found, (
        "the kit generated a traincfg its own validator refuses (a bug in pie_conformance.explore): "
        + "; ".join(f"{f.rule}: {f.message}" for f in found)
        + f"\n{json.dumps(dict(example.traincfg), ensure_ascii=False)}"
    )


def saved_name(task: str, traincfg: Mapping[str, Any]) -> str:
    """The file name a shrunk failing traincfg is saved under: ``pie-explore-<task>-<hash>.json``."""
    digest = hashlib.sha256(json.dumps(dict(traincfg), sort_keys=True).encode("utf-8")).hexdigest()
    return f"pie-explore-{task}-{digest[:12]}.json"


def reproduce_command(script: str | os.PathLike[str], task: str, traincfg_file: str | os.PathLike[str],
                      example: Example) -> str:
    """The ``pie-check run`` command line that runs ``script`` under ``example`` again."""
    words = ["pie-check", "run", os.fspath(script), "--task", task, "--traincfg", os.fspath(traincfg_file),
             "--images", str(example.images)]
    from pie_conformance.datasets._spec import DEFAULT_IMAGE_FORMAT

    if example.image_format != DEFAULT_IMAGE_FORMAT[task]:
        words += ["--image-format", example.image_format]
    words += ["--scenario", "baseline"]
    return " ".join(shlex.quote(w) for w in words)


@dataclass(frozen=True)
class Exploration:
    """What an exploration did: its scenarios and findings, and the shrunk failing example if any."""

    findings: tuple[Finding, ...]
    scenarios: tuple[ScenarioResult, ...]
    seed: int
    requested: int
    ran: int  # examples run while generating (shrinking's runs not counted)
    shrink_runs: int
    stopped_by_budget: bool
    failing: Example | None = None
    failing_scenario: str | None = None
    saved: Path | None = None
    reproduce: str | None = None
    elapsed: float = 0.0
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> dict[str, Any]:
        """The exploration as the JSON report's ``explore`` member."""
        out: dict[str, Any] = {
            "seed": self.seed, "requested": self.requested, "ran": self.ran, "shrink_runs": self.shrink_runs,
            "stopped_by_budget": self.stopped_by_budget, "seconds": round(self.elapsed, 3),
        }
        if self.failing is not None:
            out["failing"] = {
                "scenario": self.failing_scenario, **self.failing.describe(),
                "saved": str(self.saved) if self.saved else None, "reproduce": self.reproduce,
            }
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def summary_lines(summary: Mapping[str, Any]) -> list[str]:
    """A few lines for a person from :meth:`Exploration.summary`: what ran, and how to reproduce a failure."""
    head = (f"exploration (seed {summary['seed']}): {summary['ran']} of {summary['requested']} generated "
            "configurations ran")
    if summary.get("shrink_runs"):
        head += f", {summary['shrink_runs']} more while shrinking"
    out = [head, *summary.get("notes", ())]
    failing = summary.get("failing")
    if failing:
        saved = f", saved in {failing['saved']}" if failing.get("saved") else ""
        out.append(f"simplest failing configuration: scenario {failing['scenario']}{saved}")
        if failing.get("reproduce"):
            out.append(f"reproduce it with: {failing['reproduce']}")
    elif summary["ran"]:
        out.append("every generated configuration ran conformant")
    return out


class _Failed(Exception):
    """Raised inside the Hypothesis test when an example's run has an error, so that Hypothesis shrinks it."""

    def __init__(self, index: int) -> None:
        super().__init__(f"explore-{index} is not conformant")
        self.index = index


@dataclass
class _State:
    failed: bool = False  # a run has failed: Hypothesis is shrinking now
    stopped: bool = False  # the budget ended generating
    cut: str = ""  # why shrinking was cut short, if it was


@dataclass
class _Run:
    index: int
    example: Example
    findings: list[Finding]
    result: ScenarioResult
    during_shrink: bool

    @property
    def failed(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.findings)


def explore(
    run_example: RunExample,
    *,
    script: str | os.PathLike[str],
    task: str,
    n: int,
    seed: int | None = None,
    budget: float | None = None,
    save_dir: str | os.PathLike[str] | None = None,
    gpu_num: int = 0,
    max_shrink_runs: int = MAX_SHRINK_RUNS,
    clock: Callable[[], float] = time.monotonic,
) -> Exploration:
    """Run ``run_example`` on up to ``n`` generated examples; shrink and save the first failing one.

    ``seed`` makes the examples deterministic (None: a random seed, reported so that it can be given
    again). ``budget`` (seconds) stops generating new examples once spent, and stops shrinking too; the
    exploration says so. Shrinking makes at most ``max_shrink_runs`` runs. The shrunk failing traincfg is
    written into ``save_dir`` (default: the current directory). Examples are named ``explore-1``,
    ``explore-2``, ... in the order they run; the shrunk one keeps the number of the run that found it.
    """
    from hypothesis import HealthCheck, Phase, Verbosity, assume, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis.errors import Unsatisfiable

    if n < 1:
        raise ValueError(f"expected at least 1 example to explore, got {n}")
    if budget is not None and not budget > 0:
        raise ValueError(f"expected a positive exploration budget in seconds, got {budget}")
    if seed is None:
        seed = random.SystemRandom().randrange(2**32)
    started = clock()
    runs: list[_Run] = []
    by_key: dict[str, _Run] = {}
    state = _State()

    def spent() -> bool:
        return budget is not None and clock() - started >= budget

    @settings(
        max_examples=n, database=None, deadline=None, derandomize=False, report_multiple_bugs=False,
        phases=(Phase.generate, Phase.shrink), suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet, print_blob=False,
    )
    @hypothesis_seed(seed)
    @given(examples(task, gpu_num=gpu_num))
    def prop(example: Example) -> None:
        assert_valid(example)
        key = example.key()
        run = by_key.get(key)
        if run is None:
            run = run_new(example, key)
        elif not state.failed:
            # The same configuration drawn twice while generating: draw another instead of counting it.
            assume(False)
        # One raise for every failing example: Hypothesis tells failures apart by where they are raised.
        if run.failed:
            state.failed = True
            raise _Failed(run.index)

    def run_new(example: Example, key: str) -> _Run:
        # The first example always runs; after it, a spent budget ends generating and shrinking alike.
        # A candidate not run is rejected, so Hypothesis keeps the simplest failure it has seen.
        if state.stopped:
            assume(False)
        if runs and spent():
            if state.failed:
                state.cut = f"the exploration budget of {budget:g}s was spent"
            else:
                state.stopped = True
            assume(False)
        if state.failed and sum(r.during_shrink for r in runs) >= max_shrink_runs:
            state.cut = f"it made {max_shrink_runs} runs"
            assume(False)
        index = len(runs) + 1
        name = f"explore-{index}"
        found, result = run_example(name, dict(example.traincfg), example.dataset_spec(task))
        found = [f if f.scenario == name else _with_scenario(f, name) for f in found]
        run = _Run(index, example, found, _with_config(result, example), during_shrink=state.failed)
        runs.append(run)
        by_key[key] = run
        return run

    failing: _Run | None = None
    try:
        with _hypothesis_home_elsewhere():
            prop()
    except _Failed as exc:
        failing = runs[exc.index - 1]
    except Unsatisfiable:  # only when not one example could run: nothing was generated to report
        pass
    except BaseException as exc:
        # Hypothesis wraps a failure it could not reproduce (a script that fails only sometimes) in a group.
        index = _failed_index(exc)
        if index is None:
            raise
        failing = runs[index - 1]

    generated = [r for r in runs if not r.during_shrink]
    first_failing = next((r for r in generated if r.failed), None)
    scenarios: list[ScenarioResult] = [r.result for r in generated]
    findings: list[Finding] = [f for r in generated for f in r.findings]
    notes: list[str] = []
    if state.stopped:
        notes.append(f"stopped generating after {len(generated)} of {n} configurations: the exploration "
                     f"budget of {budget:g}s was spent")
    for k in range(len(generated) + 1, n + 1):
        if first_failing is not None:
            why = (f"exploration stops at the first failing configuration ({first_failing.result.name}) "
                   "and shrinks it")
        elif state.stopped:
            why = "the exploration budget was spent"
        else:
            why = "Hypothesis drew no more distinct configurations"
        scenarios.append(ScenarioResult(name=f"explore-{k}", status="skipped", note=why))

    saved: Path | None = None
    command: str | None = None
    if failing is not None:
        if state.cut:
            notes.append("shrinking stopped before the simplest failing configuration was certain: "
                         + state.cut)
        directory = Path(save_dir) if save_dir is not None else Path.cwd()
        saved = directory / saved_name(task, failing.example.traincfg)
        directory.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(dict(failing.example.traincfg), indent=4, ensure_ascii=False) + "\n",
                         encoding="utf-8")
        command = reproduce_command(script, task, saved, failing.example)
        extra = {"saved_traincfg": str(saved), "reproduce": command}
        if failing.during_shrink:
            assert first_failing is not None
            extra["shrunk_from"] = first_failing.result.name
            scenarios.append(_with_details(failing.result, extra))
            findings += failing.findings
        else:
            at = scenarios.index(failing.result)
            scenarios[at] = _with_details(failing.result, extra)
    return Exploration(
        findings=tuple(findings), scenarios=tuple(scenarios), seed=seed, requested=n, ran=len(generated),
        shrink_runs=len(runs) - len(generated), stopped_by_budget=state.stopped,
        failing=failing.example if failing is not None else None,
        failing_scenario=failing.result.name if failing is not None else None,
        saved=saved, reproduce=command, elapsed=clock() - started, notes=tuple(notes),
    )


@contextlib.contextmanager
def _hypothesis_home_elsewhere() -> Iterator[None]:
    """Point Hypothesis's storage (``.hypothesis/``) at a temporary folder while exploring, then remove it.

    ``database=None`` keeps no examples, but Hypothesis still caches other things there (the constants of the
    modules it collects, Unicode tables), by default in the current folder: the exploration leaves nothing.
    """
    import shutil
    import tempfile

    from hypothesis import configuration

    previous = getattr(configuration, "__hypothesis_home_directory", None)
    home = tempfile.mkdtemp(prefix="pie-hypothesis-")
    configuration.set_hypothesis_home_dir(home)
    try:
        yield
    finally:
        configuration.set_hypothesis_home_dir(previous)
        shutil.rmtree(home, ignore_errors=True)


def _failed_index(exc: BaseException) -> int | None:
    """The run index of a ``_Failed`` inside an exception group, if any."""
    if isinstance(exc, _Failed):
        return exc.index
    for inner in getattr(exc, "exceptions", ()):
        found = _failed_index(inner)
        if found is not None:
            return found
    return None


def _with_scenario(f: Finding, name: str) -> Finding:
    from dataclasses import replace

    return replace(f, scenario=name)


def _with_config(result: ScenarioResult, example: Example) -> ScenarioResult:
    return _with_details(result, {"explore": example.describe()})


def _with_details(result: ScenarioResult, extra: Mapping[str, Any]) -> ScenarioResult:
    from dataclasses import replace

    return replace(result, details={**dict(result.details), **dict(extra)})

