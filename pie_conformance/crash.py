"""Crash diagnostics: what a script's stderr traceback says, told in the script's own terms.

:func:`parse_crash` reads the Python traceback at the end of a script's stderr (possibly cut at the front,
possibly chained, possibly a ``SyntaxError``, possibly re-raised from a DataLoader worker) and returns a
:class:`Crash`: the exception, the innermost frame in the script's own folder, and the traceback with the
kit's own frames removed (the sandbox guard's ``guarded_open`` and the probe sit in every ``open`` and
``print`` of a checked script). :func:`crash_hint` says how to fix the crashes the platform itself causes:
parameter keys it does not send, files it does not give, names the guide's snippets leave undefined, the
class count, a GPU that is not there, and the missing internet. Standard library only.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pie_conformance.sources import SourceTree

__all__ = ["Crash", "Frame", "crash_hint", "parse_crash"]

_FRAME = re.compile(r'^\s*File "(?P<file>.*)", line (?P<line>\d+)(?:, in (?P<func>.*))?\s*$')
_HEADERS = ("Traceback (most recent call last):", "Original Traceback (most recent call last):")
_CHAIN = (
    "The above exception was the direct cause of the following exception:",
    "During handling of the above exception, another exception occurred:",
)
_EXC_LINE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<msg>.*))?$")
_EXC_NAME = re.compile(r"(?:Error|Exception|Interrupt|Exit|Iteration|Warning|error|timeout|Failure)$")
# The kit's own code that a checked script's calls pass through (the sandbox guard, the probe).
_KIT = re.compile(r"[/\\]pie_conformance[/\\]harness[/\\]|[/\\]_pie_check_probe\b|^_pie_check_probe$")
_LIBRARY = re.compile(r"[/\\](?:site|dist)-packages[/\\]|[/\\]lib[/\\]python\d|^<|[/\\]pie_conformance[/\\]")
_MAX_MESSAGE_LINES = 20


@dataclass(frozen=True)
class Frame:
    """One frame of a traceback: file as printed, line, function, the source line shown under it."""

    file: str
    line: int | None
    function: str | None = None
    source: str | None = None
    relpath: str | None = None  # relative to the script's folder when the frame is in it

    @property
    def own(self) -> bool:
        """True when the frame is in the script's own folder."""
        return self.relpath is not None

    @property
    def where(self) -> str:
        """``train.py:12`` (the relative path where known, else the file as printed)."""
        place = self.relpath or self.file
        return f"{place}:{self.line}" if self.line is not None else place


@dataclass(frozen=True)
class Crash:
    """The exception a script died of, located in its own code."""

    type: str  # as printed: "KeyError", "requests.exceptions.ConnectionError"
    message: str
    frame: Frame | None = None  # the innermost frame in the script's own folder
    frames: tuple[Frame, ...] = ()  # the crash's traceback, outermost first, kit frames removed
    traceback: str = ""  # the stderr's traceback text, kit frames removed
    chain: tuple[tuple[str, str], ...] = ()  # (type, message) of the exceptions printed before it
    truncated: bool = False  # the traceback's start was cut off

    @property
    def name(self) -> str:
        """The exception's class name without its module (``ConnectionError``)."""
        return self.type.rsplit(".", 1)[-1]

    def summary(self) -> str:
        """What raised where, in one line: ``KeyError: 'nc' at train.py:12 (`nc = cfg['nc']`)``."""
        first = self.message.splitlines()[0] if self.message else ""
        head = f"{self.type}: {first}" if first else self.type
        if len(head) > 200:
            head = head[:197] + "..."
        frame = self.frame
        if frame is None and self.frames:
            frame = self.frames[-1]
        if frame is None:
            return head
        where = f" at {frame.where}"
        if frame.function and frame.function != "<module>":
            where += f" in {frame.function}"
        if frame.source:
            where += f" (`{frame.source}`)"
        return head + where


@dataclass
class _Block:
    header: bool
    frames: list[Frame]
    exc: tuple[str, str] | None = None


def _is_kit(path: str) -> bool:
    return bool(_KIT.search(path))


def _own_path(path: str, script_dir: str | None) -> str | None:
    if script_dir is None:
        return None
    base = os.path.normpath(os.path.abspath(script_dir))
    if not os.path.isabs(path):
        return path.replace("\\", "/") if not path.startswith("<") else None
    full = os.path.normpath(path)
    if full == base or not full.startswith(base.rstrip(os.sep) + os.sep):
        return None
    rel = os.path.relpath(full, base).replace(os.sep, "/")
    if (
        "/site-packages/" in f"/{rel}"
        or "/dist-packages/" in f"/{rel}"
        or rel.startswith(("venv/", ".venv/"))
    ):
        return None
    return rel


def _infer_script_dir(blocks: list[_Block]) -> str | None:
    """The folder of the script: that of the outermost ``<module>`` frame of a traceback shown whole."""
    for b in blocks:
        if b.header and b.frames and b.frames[0].function == "<module>":
            f = b.frames[0].file
            if not f.startswith("<") and not _LIBRARY.search(f):
                return os.path.dirname(f) or "."
    for b in blocks:
        for frame in b.frames:
            if os.path.basename(frame.file) == "train.py":
                return os.path.dirname(frame.file) or "."
    return None


def _parse(lines: list[str]) -> tuple[list[_Block], list[str]]:
    """Blocks of frames and exceptions, and the text with kit frames removed."""
    blocks: list[_Block] = []
    kept: list[str] = []
    cur: _Block | None = None
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i]
        stripped = line.strip()
        if stripped in _HEADERS:
            cur = _Block(True, [])
            blocks.append(cur)
            kept.append(line)
            i += 1
            continue
        m = _FRAME.match(line) if line.startswith(" ") or line.startswith("File") else None
        if m:
            if cur is None or cur.exc is not None:
                cur = _Block(False, [])
                blocks.append(cur)
            # The frame's own lines: the source line, then carets (^^^, ~~~) and notes, all indented deeper.
            body: list[str] = []
            j = i + 1
            while j < n and lines[j].startswith("    ") and not _FRAME.match(lines[j]):
                body.append(lines[j])
                j += 1
            source = None
            for b in body:
                s = b.strip()
                if s and set(s) - set("^~ "):
                    source = s
                    break
            frame = Frame(m.group("file"), int(m.group("line")), m.group("func"), source)
            if not _is_kit(frame.file):
                cur.frames.append(frame)
                kept.append(line)
                kept.extend(body)
            i = j
            continue
        em = _EXC_LINE.match(line) if line and not line[0].isspace() else None
        if em and cur is not None and cur.exc is None and cur.frames:
            msg_lines = [em.group("msg") or ""]
            kept.append(line)
            j = i + 1
            while j < n and len(msg_lines) < _MAX_MESSAGE_LINES:
                nxt = lines[j]
                s = nxt.strip()
                if not s or s in _HEADERS or s in _CHAIN or _FRAME.match(nxt):
                    break
                msg_lines.append(nxt)
                kept.append(nxt)
                j += 1
            cur.exc = (em.group("type"), "\n".join(msg_lines).strip())
            i = j
            continue
        kept.append(line)
        i += 1
    return blocks, kept


def parse_crash(stderr: str | bytes, script_dir: str | os.PathLike[str] | None = None) -> Crash | None:
    """The crash told by the traceback in ``stderr``; None when stderr holds no Python exception.

    ``script_dir`` is the script's folder: frames in it are the script's own. When it is not given, the
    folder of the traceback's outermost ``<module>`` frame is taken (``python train.py`` starts there).
    """
    text = stderr.decode("utf-8", errors="replace") if isinstance(stderr, bytes) else stderr
    lines = text.replace("\r\n", "\n").split("\n")
    blocks, kept = _parse(lines)
    with_exc = [b for b in blocks if b.exc is not None]
    if not with_exc:
        return _bare_exception(lines)
    last = with_exc[-1]
    assert last.exc is not None
    folder = os.fspath(script_dir) if script_dir is not None else _infer_script_dir(blocks)
    frames = tuple(
        Frame(f.file, f.line, f.function, f.source, _own_path(f.file, folder)) for f in last.frames
    )
    own = [f for f in frames if f.own]
    frame = own[-1] if own else None
    if frame is not None and frame.source is None and folder is not None and frame.relpath and frame.line:
        frame = Frame(
            frame.file,
            frame.line,
            frame.function,
            _source_line(folder, frame.relpath, frame.line),
            frame.relpath,
        )
    chain = tuple(b.exc for b in with_exc[:-1] if b.exc is not None)
    shown = "\n".join(kept).strip("\n")
    return Crash(
        type=last.exc[0],
        message=last.exc[1],
        frame=frame,
        frames=frames,
        traceback=shown,
        chain=chain,
        # A script that does not compile gets no "Traceback" line: that is whole, not cut.
        truncated=not with_exc[0].header
        and last.exc[0] not in ("SyntaxError", "IndentationError", "TabError"),
    )


def _bare_exception(lines: list[str]) -> Crash | None:
    # No frame survived (the tail was cut to the last line or two): the last line that reads as one.
    for line in reversed(lines):
        if not line or line[0].isspace():
            continue
        m = _EXC_LINE.match(line)
        if (
            m
            and _EXC_NAME.search(m.group("type"))
            and (m.group("msg") is not None or "." not in m.group("type"))
        ):
            return Crash(
                type=m.group("type"), message=(m.group("msg") or "").strip(), traceback=line, truncated=True
            )
    return None


def _source_line(folder: str, relpath: str, line: int) -> str | None:
    path = os.path.join(folder, relpath)
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for number, text in enumerate(handle, 1):
                if number == line:
                    return text.strip() or None
                if number > line or number > 100_000:
                    break
    except OSError:
        return None
    return None


# -- hints ------------------------------------------------------------------------------------------
_NO_INTERNET = (
    "the platform's training machines have no internet: bundle weight files and the pure-Python code of "
    "packages next to train.py (the folder comes along), start from the weights in resume_path "
    "(aiUtils downS3Weight), and read the data through aiUtils"
)
_NETWORK_TYPES = frozenset(
    (
        "ConnectionError",
        "ConnectionRefusedError",
        "ConnectionResetError",
        "ConnectionAbortedError",
        "gaierror",
        "URLError",
        "MaxRetryError",
        "NewConnectionError",
        "NameResolutionError",
        "ProxyError",
        "ConnectTimeout",
        "ConnectTimeoutError",
        "ReadTimeout",
        "ReadTimeoutError",
        "RemoteDisconnected",
        "HTTPError",
        "SSLError",
        "IncompleteRead",
        "ChunkedEncodingError",
        "LocalEntryNotFoundError",
    )
)
_NETWORK_WORDS = re.compile(
    r"Temporary failure in name resolution|Name or service not known|nodename nor servname|Network is "
    r"unreachable|No route to host|Failed to establish a new connection|Max retries exceeded|urlopen error|"
    r"pie-check sandbox: no (?:network|name resolution)|getaddrinfo failed|Could not resolve host|"
    r"Cannot connect to proxy|Connection refused|cannot find the requested files in the (?:disk )?cache|"
    r"We couldn't connect to|outgoing traffic has been disabled",
    re.I,
)
_LOOPBACK_WORDS = re.compile(r"127\.0\.0\.1|localhost|\[::1\]")
_NAMESPACE_TYPES = frozenset(
    (
        "Namespace",
        "dict",
        "EasyDict",
        "edict",
        "SimpleNamespace",
        "AttrDict",
        "Munch",
        "DotMap",
        "Box",
        "DictConfig",
        "Config",
        "ConfigDict",
        "Dict",
        "Bunch",
        "AttributeDict",
        "Struct",
        "OrderedDict",
    )
)
_CONFIG_NAMES = re.compile(
    r"(?i)\b(?:params|param|cfg|config|conf|opt|opts|args|hyp|data_dict|settings|options|"
    r"traincfg|arguments|hparams|kwargs)\b"
)
#: Names the guide's snippets use without defining them, and where each comes from.
GUIDE_NAMES: dict[str, str] = {
    "dataset_path": "the guide's snippets never define dataset_path: it is the dataset's S3 location, "
    "dataset_path = aiUtils.s3GetImg(dataset_id).path (the s3GetImg object's .path)",
    "datasets_path": "the guide's snippets never define it: the dataset's S3 location is "
    "aiUtils.s3GetImg(dataset_id).path",
    "params": "the guide's snippets read `params` without defining it: params = json.loads(input()) (the "
    "JSON line on stdin), or json.load(open('traincfg.json', encoding='utf-8'))",
    "args": "the guide's snippets use `args` from its argparse example (§3.1); the platform passes no "
    "command-line arguments: fill it from the parameters in traincfg.json or on stdin",
    "s3Client": "s3Client = aiUtils.s3GetImg(datasetId=dataset_id) (§1.2.2 of the guide), with "
    "`from aiUtils import aiUtils`",
    "dataset_interface": "dataset_interface = aiUtils.s3GetImg(dataset_id) (§3.2 of the guide), with "
    "`from aiUtils import aiUtils`",
    "train_img_path": "the guide's §3.2 defines train_images_path and then reads train_img_path: use "
    "train_images_path",
    "rgb": "the guide's §3.1 builds color_tuple and then stores rgb: use color_tuple",
    "save_image": "save_image() in the guide is a placeholder: write the epoch's pictures yourself "
    "(output/picture/*.png)",
    "save_val_img": "save_val_img() in the guide is a placeholder: write the epoch's pictures yourself "
    "(output/picture/*.png)",
    "best_score": "the guide's §1.4.3 leaves best_score/best_precision/best_recall to you: keep the best "
    "metric values seen so far",
    "best_precision": "the guide's §1.4.3 leaves best_score/best_precision/best_recall to you: keep the best "
    "metric values seen so far",
    "best_recall": "the guide's §1.4.3 leaves best_score/best_precision/best_recall to you: keep the best "
    "metric values seen so far",
    "pred": "the guide's loop leaves the prediction (pred) to your training code",
    "outputSaveDir": "outputSaveDir is defined in §1.4.1 of the guide: basedir + '/output'",
    "basedir": "basedir = os.getcwd() (§1.1 of the guide): the working directory, the folder of train.py",
    "LinkNet34": "LinkNet34 is the guide's example network: bring your model's code next to train.py",
    "YoloBody": "YoloBody is the guide's example network: bring your model's code next to train.py",
    "anchors": "anchors come with the guide's YOLO example: define them with your model",
    "num_classes": "the platform sends n_class (a string, without background): "
    "num_classes = int(params['n_class']) (+ 1 for segmentation and change detection)",
    "model": "create the model before loading weights into it (the guide's snippets assume it exists)",
}
_GUIDE_MODULES = frozenset(("linknet34", "nets", "yolo", "yolov4", "model", "models", "network", "networks"))
_WEIGHT_EXT = re.compile(r"(?i)\.(pt|pth|th|ckpt|bin|h5|hdf5|pkl|npz|onnx|weights|safetensors|tar)$")
_IMAGE_EXT = re.compile(r"(?i)\.(jpe?g|png|tiff?|bmp|gif|img|xml|txt|csv)$")


def _quoted(message: str) -> str | None:
    found = re.findall(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"", message)
    if not found:
        return None
    a, b = found[-1]
    return a or b


def _key_of(message: str) -> str | None:
    try:
        value = ast.literal_eval(message.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, str) else None


def _config_key_hint(key: str, source: str | None, strong: bool) -> str | None:
    from pie_conformance._platform_keys import PLATFORM_KEYS, key_hint, platform_key_for

    if key in PLATFORM_KEYS:
        return None
    looks_like_config = strong or bool(source and _CONFIG_NAMES.search(source))
    informative = platform_key_for(key) is not None or "platform sends no" in key_hint(key)
    if not (looks_like_config or informative):
        return None
    return (
        f"the platform's parameters (traincfg.json, and the same JSON on stdin) have no {key!r}: "
        f"{key_hint(key)}"
    )


def _network_failure(excs: Iterable[tuple[str, str]]) -> bool:
    for typ, msg in excs:
        name = typ.rsplit(".", 1)[-1]
        sandbox = "pie-check sandbox: no" in msg
        if _LOOPBACK_WORDS.search(msg) and not sandbox:
            continue  # the mock S3 or another local service: not the missing internet
        if sandbox or _NETWORK_WORDS.search(msg) or (name in _NETWORK_TYPES and name != "HTTPError"):
            return True
    return False


def _class_count_hint(crash: Crash, traincfg: Mapping[str, Any] | None) -> str | None:
    text = f"{crash.message}\n{crash.traceback}"
    target = re.search(r"Target (-?\d+) is out of bounds", text)
    cuda_assert = "t >= 0 && t < n_classes" in text or "cur_target >= 0 && cur_target < n_classes" in text
    index = re.search(
        r"index (-?\d+) is out of bounds for (?:dimension|axis) \d+ with size (\d+)", crash.message
    )
    concrete = ""
    labels: list[dict[str, Any]] = []
    n_class: int | None = None
    if traincfg:
        from pie_conformance.traincfg import parse_labels

        try:
            labels = parse_labels(str(traincfg.get("label", "")))
        except Exception:  # an unreadable label: the hint then says it in general terms
            labels = []
        try:
            n_class = int(str(traincfg.get("n_class")).strip())  # the platform sends it as a string
        except ValueError:
            n_class = None
        values = [lab.get("class_value") for lab in labels if isinstance(lab, dict)]
        if labels:
            concrete = (
                f" (this run: n_class {n_class if n_class is not None else '?'}, {len(labels)} labels, "
                f"class_value {', '.join(str(v) for v in values)})"
            )
    if index and not target and not cuda_assert:
        size, got = int(index.group(2)), int(index.group(1))
        about_classes = (n_class is not None and size in (n_class, len(labels))) or (
            crash.frame is not None
            and crash.frame.source is not None
            and re.search(r"(?i)class|color|colour|label|palette|n_class", crash.frame.source)
        )
        if not about_classes and not (labels and got in [lab.get("class_value") for lab in labels]):
            return None
    elif not target and not cuda_assert:
        return None
    return (
        "the class count is off: n_class counts the classes without background, so segmentation and change "
        "detection have n_class + 1 classes (class_name starts with 'background,'); and label pixels hold "
        "each "
        "label's class_value (e.g. 255), not 0..n-1: size the model by len(labels) and map class_value to "
        "the label's position before the loss" + concrete
    )


def _file_hint(path: str) -> str:
    base = path.replace("\\", "/").rsplit("/", 1)[-1]
    low = base.lower()
    if re.match(r"^[A-Za-z]:[\\/]", path) or "\\" in path:
        return (
            f"{path!r} is a Windows path: the platform runs train.py on Linux in its own folder; use paths "
            "relative to the working directory with '/', and read data through aiUtils"
        )
    if "traincfg" in low or (
        low.endswith((".json", ".yaml", ".yml", ".cfg", ".ini"))
        and re.search(r"cfg|conf|param|opt|setting|hyp|arg", low)
    ):
        return (
            "the platform gives the parameters only as traincfg.json in the working directory (the folder of "
            "train.py) and as the same JSON on one line of standard input: "
            "json.load(open('traincfg.json', encoding='utf-8')) or json.loads(input())"
        )
    norm = "/" + path.replace("\\", "/").lstrip("./")
    if "/output" in norm.split("/picture")[0] or low.startswith("output"):
        return (
            "create output/files and output/picture before writing (os.makedirs(path, exist_ok=True)), and "
            "join path parts with '/' (os.path.join)"
        )
    if _WEIGHT_EXT.search(low):
        return (
            "only the files next to train.py come along and the run has no internet: bundle the weights in "
            "the script's folder, or download the resume weights with aiUtils downS3Weight(local_path, "
            "resume_path + model_name + '.th')"
        )
    return (
        "the platform gives no local copy of the dataset: read it from S3 through aiUtils "
        "(s3 = aiUtils.s3GetImg(dataset_id); s3.getImages(prefix); s3.getImgXmlArray(key), or "
        "s3.pullImage(dir)); "
        "only the files next to train.py come along"
    )


def _gpu_hint(crash: Crash, traincfg: Mapping[str, Any] | None) -> str | None:
    text = f"{crash.type}: {crash.message}"
    if not re.search(
        r"Torch not compiled with CUDA|No CUDA GPUs are available|Found no NVIDIA driver|"
        r"torch\.cuda\.is_available\(\) is False|no CUDA-capable device|CUDA driver initialization failed|"
        r"invalid device ordinal|CUDA_VISIBLE_DEVICES",
        text,
    ):
        return None
    gpu = traincfg.get("gpu_num") if traincfg else None
    said = f" (this run: gpu_num {gpu})" if gpu is not None else ""
    return (
        "the script uses a GPU the run does not have: with gpu_num 0 no GPU is visible; choose the device "
        "from gpu_num (torch.device('cuda' if gpu_num > 0 else 'cpu')) and load weights with "
        f"torch.load(path, map_location=device){said}"
    )


def crash_hint(
    crash: Crash, traincfg: Mapping[str, Any] | None = None, sources: SourceTree | None = None
) -> str | None:
    """How to fix a crash the platform causes; None for a crash that is the script's own business.

    ``traincfg`` (the parameters the run had) makes the class-count and GPU hints concrete; ``sources`` (the
    script's folder, :func:`pie_conformance.sources.read_sources`) tells a package the script installs at run
    time apart from one it only imports.
    """
    hint = _hint_for(crash, traincfg, sources)
    if hint is not None:
        return hint
    # Raised while handling another exception (or from it): the earlier one may be what the platform caused.
    for typ, message in reversed(crash.chain):
        earlier = Crash(type=typ, message=message, traceback=crash.traceback)
        hint = _hint_for(earlier, traincfg, sources)
        if hint is not None:
            return hint
    return None


def _hint_for(crash: Crash, traincfg: Mapping[str, Any] | None, sources: SourceTree | None) -> str | None:
    name = crash.name
    msg = crash.message
    chain = [(crash.type, msg), *crash.chain]
    source = crash.frame.source if crash.frame else None
    if name in ("ModuleNotFoundError", "ImportError"):
        m = re.search(r"No module named '([^']+)'", msg)
        if m:
            return _module_hint(m.group(1), sources)
    if name == "CalledProcessError" and re.search(r"\bpip\d?\b|conda|apt", msg):
        return "a package install failed: " + _NO_INTERNET
    if _network_failure(chain):
        return _NO_INTERNET
    if name == "KeyError":
        key = _key_of(msg)
        if key is not None:
            return _config_key_hint(key, source, strong=False)
    if name == "AttributeError":
        m = re.search(r"'(\w+)' object has no attribute '(\w+)'", msg)
        if m and m.group(1) in _NAMESPACE_TYPES:
            return _config_key_hint(m.group(2), source, strong=m.group(1) != "dict")
    if name in ("FileNotFoundError", "IOError", "OSError") and "No such file or directory" in msg:
        path = _quoted(msg)
        if path:
            return _file_hint(path)
    if name == "NameError":
        m = re.search(r"name '(\w+)' is not defined", msg)
        if m and m.group(1) in GUIDE_NAMES:
            return GUIDE_NAMES[m.group(1)]
    if name == "PermissionError" and "pie-check sandbox: nothing may be written outside" in msg:
        return (
            "write results under output/ in the working directory, and temporary files under "
            "tempfile.gettempdir(); the platform keeps nothing else"
        )
    return _class_count_hint(crash, traincfg) or _gpu_hint(crash, traincfg)


def _module_hint(module: str, sources: SourceTree | None) -> str:
    top = module.split(".", 1)[0]
    if top == "aiUtils":
        return (
            "import the platform's data module as `from aiUtils import aiUtils`; the platform provides it "
            "(and pie-check puts a compatible one on the path)"
        )
    if sources is not None:
        from pie_conformance.rules.src import runtime_installs_of

        if top.lower() in {p.lower().replace("-", "_") for p in runtime_installs_of(sources)}:
            return f"the script installs {top!r} at run time, but the install fails: " + _NO_INTERNET
        if (
            sources.file(f"{top}.py") is None
            and sources.file(f"{top}/__init__.py") is None
            and top in _GUIDE_MODULES
        ):
            return f"{top!r} is the guide's example network code: put your model's .py files next to train.py"
    elif top in _GUIDE_MODULES:
        return f"{top!r} is the guide's example network code: put your model's .py files next to train.py"
    return (
        f"{top!r} is not installed where the script runs, and the run has no internet to install it: put the "
        "package's pure-Python code next to train.py (the folder comes along), or use what the platform's "
        "image provides"
    )
