"""SRC rules: what the script's sources predict, read with :mod:`ast` before the run and never executed.

Each rule takes a :class:`~pie_conformance.sources.SourceTree` and yields problems located by file
(``path``, relative to the script's folder) and line (``line``, in that file). The family never changes the
verdict (every SRC rule is a warning); it exists so that a run that crashes at start still tells the author
what else will fail. Precision matters more than recall: a false warning sends a user to fix what works, so
the rules judge only code the platform runs (see :mod:`pie_conformance.rules._src_index`), and the rules that
look for something missing (SRC001, SRC006) accept any sign of it, even in a file that does not parse.

:func:`check_sources` runs the whole family without loading the other rule families (``pie-check lint``).
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

from pie_conformance._platform_keys import PLATFORM_KEYS, key_hint
from pie_conformance.findings import Finding, Problem
from pie_conformance.rules import Phase, evaluate, rule, rules_for
from pie_conformance.rules._src_index import (
    CFG,
    NS,
    OTHER_CFG,
    OTHER_NS,
    OTHER_PATH,
    UNKNOWN,
    FileIndex,
    Rebound,
    TreeIndex,
    dotted,
    path_labels,
)
from pie_conformance.sources import SourceTree

__all__ = ["check_sources", "runtime_installs_of", "src_rule_ids", "tree_index"]

_NO_INTERNET = (
    "the platform's training machines have no internet: put the packages' pure-Python code and the weight "
    "files next to train.py (the folder comes along), or start from the weights in resume_path "
    "(aiUtils downS3Weight)"
)

# -- the shared index -------------------------------------------------------------------------------
_CACHE: list[tuple[SourceTree, TreeIndex]] = []


def tree_index(tree: SourceTree) -> TreeIndex:
    """The :class:`TreeIndex` of ``tree``, built once and shared by the rules (the last few are kept)."""
    for held, index in _CACHE:
        if held is tree:
            return index
    index = TreeIndex(tree)
    _CACHE.append((tree, index))
    del _CACHE[:-4]
    return index


def _show(text: str | None) -> str:
    return (text or "").replace(UNKNOWN, "…")


_CALL_NAMES_QUIET = frozenset(
    (
        "print",
        "warn",
        "debug",
        "info",
        "warning",
        "error",
        "exception",
        "critical",
        "log",
        "write",
        "echo",
        "secho",
        "set_description",
        "set_postfix",
    )
)


def _in_message(node: ast.AST, fi: FileIndex) -> bool:
    """True when ``node`` is (inside) an argument of a print/log call or of a raised exception."""
    cur = fi.parents.get(node)
    while cur is not None and not isinstance(cur, ast.stmt):
        if isinstance(cur, ast.Call):
            last = dotted(cur.func).rsplit(".", 1)[-1] if dotted(cur.func) else ""
            if last in _CALL_NAMES_QUIET or last.endswith(("Error", "Exception", "Warning")):
                return True
        cur = fi.parents.get(cur)
    return isinstance(cur, (ast.Raise, ast.Assert))


def _strings(index: TreeIndex) -> Iterator[tuple[FileIndex, ast.Constant, str]]:
    """Every string constant that is code (not a docstring or a bare string statement), with its value."""
    for fi, node in index.nodes(ast.Constant, live=False):
        assert isinstance(node, ast.Constant)
        if isinstance(node.value, str) and id(node) not in fi.bare_strings:
            yield fi, node, node.value


# -- SRC001 -----------------------------------------------------------------------------------------
_PROGRESS_PIECE = re.compile(r"\[\s*Process\b|^\W*Process\W*$")
_PROGRESS_NEAR = re.compile(r"(?i)\bprocess(?:ing)?\s*[:：]?\s*(?:\{|%|$)")


@rule("SRC001", phase=Phase.SOURCE)
def progress_line_printed(tree: SourceTree) -> Iterator[Problem]:
    """The script's sources print no ``[Process: ...]`` line anywhere (predicts PRG001)."""
    if not tree.files:
        return
    for f in tree.unparsed:
        if "Process" in f.text:
            return  # cannot read the tree there: any sign of the line counts
    index = tree_index(tree)
    near: tuple[FileIndex, ast.Constant] | None = None
    for fi, node, value in _strings(index):
        if _PROGRESS_PIECE.search(value):
            return
        if near is None and _PROGRESS_NEAR.search(value) and not value.lower().startswith("processing"):
            near = (fi, node)
    entry = tree.entry if tree.entry_file is not None else None
    if near is not None:
        fi, node = near
        yield Problem(
            f"the sources print no `[Process: k/N]` line; the closest is {node.value!r}, which the platform "
            "does not take for one",
            hint="after each epoch, once the weights, pictures and trainlog.json are written, print exactly "
            "`[Process: k/N]` (k = epochs done, N = epochs), e.g. "
            'print(f"[Process: {epoch + 1}/{epochs}]", flush=True)',
            path=fi.source.path,
            line=fi.lineof(node),
        )
        return
    yield Problem(
        "the sources print no `[Process: k/N]` line anywhere: the platform would see no epoch end and "
        "keep none of the outputs",
        hint="after each epoch, once the weights, pictures and trainlog.json are written, print exactly "
        '`[Process: k/N]` (k = epochs done, N = epochs), e.g. print(f"[Process: {epoch + 1}/{epochs}]", '
        "flush=True)",
        path=entry,
    )


# -- SRC002 -----------------------------------------------------------------------------------------
_MAPPING_METHODS = frozenset(
    (
        "get",
        "pop",
        "keys",
        "values",
        "items",
        "update",
        "setdefault",
        "copy",
        "clear",
        "popitem",
        "fromkeys",
        "__dict__",
        "__class__",
        "__contains__",
        "__getitem__",
        "to_dict",
        "toDict",
        "_asdict",
        "_replace",
    )
)


@dataclass
class _KeyUse:
    fi: FileIndex
    node: ast.AST
    key: str
    how: str  # "[]", "get", "attr"
    count: int = 1


def _const_str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _key_facts(index: TreeIndex) -> tuple[set[str], list[_KeyUse], list[tuple[FileIndex, ast.Call, str]]]:
    """Keys the script stores or tests itself, keys it reads, and opens of config files the platform lacks."""
    written: set[str] = set()
    reads: list[_KeyUse] = []
    wrong_files: list[tuple[FileIndex, ast.Call, str]] = []
    cfg_labels = {CFG, OTHER_CFG}
    ns_labels = {NS, OTHER_NS}
    for fi in index.files:
        for node in fi.of(ast.Subscript):
            assert isinstance(node, ast.Subscript)
            key = _const_str(node.slice)
            if key is None or not (index.labels(node.value, fi) & cfg_labels):
                continue
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                written.add(key)
            else:
                reads.append(_KeyUse(fi, node, key, "[]"))
        for node in fi.of(ast.Attribute):
            assert isinstance(node, ast.Attribute)
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                written.add(node.attr)  # any attribute the script sets itself may be read back
            elif not (node.attr in _MAPPING_METHODS or node.attr.startswith("__")) and (
                index.labels(node.value, fi) & ns_labels
            ):
                reads.append(_KeyUse(fi, node, node.attr, "attr"))
        for node in fi.of(ast.Compare):
            assert isinstance(node, ast.Compare)
            if any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
                key = _const_str(node.left)
                if key is not None and any(
                    index.labels(c, fi) & (cfg_labels | ns_labels) for c in node.comparators
                ):
                    written.add(key)
        for call in fi.calls:
            _call_key_facts(index, fi, call, written, reads, wrong_files)
    reads.sort(
        key=lambda u: (u.fi.source.path != index.tree.entry, u.fi.source.path, u.fi.lineof(u.node) or 0)
    )
    return written, reads, wrong_files


def _call_key_facts(
    index: TreeIndex,
    fi: FileIndex,
    call: ast.Call,
    written: set[str],
    reads: list[_KeyUse],
    wrong_files: list[tuple[FileIndex, ast.Call, str]],
) -> None:
    func = call.func
    name = dotted(func)
    if name in ("hasattr", "setattr", "getattr") and len(call.args) >= 2:
        key = _const_str(call.args[1])
        if key is not None:
            if name != "getattr":
                written.add(key)
            elif index.labels(call.args[0], fi) & {NS, OTHER_NS} and len(call.args) == 2:
                reads.append(_KeyUse(fi, call, key, "attr"))
        return
    if isinstance(func, ast.Attribute) and index.labels(func.value, fi) & {CFG, OTHER_CFG}:
        key = _const_str(call.args[0]) if call.args else None
        if func.attr in ("setdefault",) and key is not None:
            written.add(key)
        elif func.attr in ("get", "pop") and key is not None:
            reads.append(_KeyUse(fi, call, key, "get" if len(call.args) > 1 or call.keywords else "[]"))
        elif func.attr == "update":
            for arg in call.args:
                if isinstance(arg, ast.Dict):
                    written.update(k for k in (_const_str(k) for k in arg.keys) if k)
            written.update(kw.arg for kw in call.keywords if kw.arg)
        return
    last = name.rsplit(".", 1)[-1] if name else (func.attr if isinstance(func, ast.Attribute) else "")
    if last in ("open", "read_text", "load", "safe_load", "loads") and call.args:
        text = index.render(call.args[0], fi)
        if OTHER_PATH in path_labels(text):
            wrong_files.append((fi, call, text or ""))
    if last in ("read_text", "open") and isinstance(func, ast.Attribute) and not call.args:
        inner = func.value
        if isinstance(inner, ast.Call) and inner.args:
            text = index.render(inner.args[0], fi)
            if OTHER_PATH in path_labels(text):
                wrong_files.append((fi, call, text or ""))


@rule("SRC002", phase=Phase.SOURCE)
def platform_keys_read(tree: SourceTree) -> Iterator[Problem]:
    """The script reads a parameter key the platform does not send."""
    index = tree_index(tree)
    written, reads, wrong_files = _key_facts(index)
    seen: set[tuple[str, int | None]] = set()
    for fi, call, text in wrong_files:
        if not index.is_live(call, fi) or (fi.source.path, fi.lineof(call)) in seen:
            continue
        seen.add((fi.source.path, fi.lineof(call)))
        shown = _show(text)
        there = (
            os.path.isfile(os.path.join(tree.root, os.path.dirname(fi.source.path), text))
            if (UNKNOWN not in text)
            else False
        )
        extra = (
            " (the folder has it, so the run would train with its fixed values, not the ones chosen on the "
            "platform)"
            if there
            else ""
        )
        yield Problem(
            f"reads its parameters from {shown!r} (`{fi.segment(call)}`), a file the platform does not "
            f"give{extra}",
            hint="the platform writes the parameters to traincfg.json in the working directory (the "
            "folder of "
            "train.py) and sends the same JSON as one line on standard input: "
            "json.load(open('traincfg.json', encoding='utf-8')) or json.loads(input())",
            path=fi.source.path,
            line=fi.lineof(call),
        )
    by_key: dict[str, _KeyUse] = {}
    for use in reads:
        if use.key in PLATFORM_KEYS or use.key in written or not index.is_live(use.node, use.fi):
            continue
        if use.key in by_key:
            by_key[use.key].count += 1
            continue
        by_key[use.key] = use
    for use in by_key.values():
        code = use.fi.segment(use.node)
        if use.how == "get":
            outcome = "so it always gets the default"
        elif use.how == "attr":
            outcome = "so the run stops with AttributeError"
        else:
            outcome = "so the run stops with KeyError"
        more = f" (and {use.count - 1} more place{'s' * (use.count != 2)})" if use.count > 1 else ""
        yield Problem(
            f"reads parameter {use.key!r} (`{code}`){more}, which the platform does not send, {outcome}",
            hint=key_hint(use.key),
            path=use.fi.source.path,
            line=use.fi.lineof(use.node),
        )


# -- SRC003 -----------------------------------------------------------------------------------------
_SHELL_CALLS = frozenset(
    (
        "os.system",
        "os.popen",
        "subprocess.run",
        "subprocess.call",
        "subprocess.check_call",
        "subprocess.check_output",
        "subprocess.Popen",
        "subprocess.getoutput",
        "subprocess.getstatusoutput",
        "commands.getoutput",
        "os.execv",
        "os.execvp",
        "os.execl",
        "os.execlp",
        "os.spawnv",
        "os.spawnl",
        "os.spawnlp",
        "os.spawnvp",
        "sh",
        "get_ipython().system",
    )
)
_INSTALL = re.compile(
    r"(?:^|[\s/\"'])(?:pip3?(?:\.\d+)?|conda|mamba|apt-get|apt|yum|easy_install)\s+(?:-\S+\s+)*install\b"
    r"|-m\s+pip\s+(?:-\S+\s+)*install\b|\bpip\s+download\b"
)
_FETCH_CMD = re.compile(r"\b(?:wget|curl|aria2c|git\s+clone|gsutil\s+cp|aws\s+s3\s+cp)\b")
_URL = re.compile(r"^\s*(?:https?|ftp)://([^/:?#\s\0]*)", re.I)
_LOOPBACK = re.compile(r"^(?:localhost|127(?:\.\d{1,3}){3}|\[?::1\]?|0\.0\.0\.0)$", re.I)
_DOWNLOAD_FUNCS = frozenset(
    (
        "load_state_dict_from_url",
        "load_url",
        "download_url_to_file",
        "hf_hub_download",
        "snapshot_download",
        "cached_download",
        "urlretrieve",
        "download_url",
        "download_and_extract_archive",
        "download_file_from_google_drive",
        "attempt_download",
        "safe_download",
    )
)
_DOWNLOAD_MODULES = ("gdown.", "wget.", "nltk.download", "torch.hub.", "tensorflow_hub.", "modelscope.")
_HTTP_FUNCS = frozenset(
    (
        "requests.get",
        "requests.post",
        "requests.put",
        "requests.head",
        "requests.delete",
        "requests.patch",
        "requests.request",
        "httpx.get",
        "httpx.post",
        "httpx.stream",
        "urllib.request.urlopen",
        "urllib.request.Request",
        "urllib.request.urlretrieve",
        "urllib.urlopen",
        "urllib.urlretrieve",
        "urllib2.urlopen",
        "http.client.HTTPConnection",
        "http.client.HTTPSConnection",
        "httplib.HTTPConnection",
        "httplib.HTTPSConnection",
    )
)
_WEIGHT_FILE = re.compile(
    r"(?i)\.(pt|pth|th|ckpt|bin|h5|hdf5|pkl|npz|npy|onnx|weights|tar|zip|safetensors|caffemodel)$"
)
_TRUE_KWARGS = ("pretrained", "pretrained_backbone", "download", "progress_download")
_NAMED_WEIGHTS_KWARGS = ("weights", "encoder_weights", "weights_backbone", "backbone_weights", "pretrained")


def _is_external_url(text: str | None) -> bool:
    if not text:
        return False
    m = _URL.match(text)
    if not m:
        return False
    host = m.group(1).rsplit("@", 1)[-1]
    return bool(host) and UNKNOWN not in host and not _LOOPBACK.match(host)


def _path_like(text: str) -> bool:
    return "/" in text or "\\" in text or bool(_WEIGHT_FILE.search(text)) or text.startswith(".")


def _named_weights(node: ast.AST, index: TreeIndex, fi: FileIndex) -> bool:
    """True when a ``weights=`` value names downloadable weights (an enum like IMAGENET1K_V1, 'imagenet')."""
    if isinstance(node, ast.Name):
        bound = index.render(node, fi)  # a name bound to one constant: ENCODER_WEIGHTS = 'imagenet'
        if bound is not None and UNKNOWN not in bound:
            return _named_weights(ast.Constant(value=bound), index, fi)
    if isinstance(node, (ast.Attribute, ast.Name)):
        chain = dotted(node)
        return "_Weights" in chain or chain.endswith(("IMAGENET1K_V1", "IMAGENET1K_V2", ".DEFAULT"))
    if isinstance(node, ast.Call):
        return _named_weights(node.func, index, fi) if dotted(node.func).endswith("get_weights") else False
    text = _const_str(node)
    if text is None or not text.strip() or text.lower() in ("none", "false", "random", "scratch", ""):
        return False
    return not _path_like(text)


def _download_kwargs(call: ast.Call, index: TreeIndex, fi: FileIndex) -> list[tuple[str, ast.AST]]:
    """The keywords of ``call`` that ask for a download (pretrained=True, weights='DEFAULT', ...)."""
    found: list[tuple[str, ast.AST]] = []
    for kw in call.keywords:
        if kw.arg is None:
            continue
        asks_true = isinstance(kw.value, ast.Constant) and kw.value.value in (True, 1)
        if (kw.arg in _TRUE_KWARGS and asks_true) or (
            kw.arg in _NAMED_WEIGHTS_KWARGS and _named_weights(kw.value, index, fi)
        ):
            found.append((kw.arg, kw.value))
    return found


def _library_default_download(call: ast.Call, fi: FileIndex) -> str | None:
    """Why a library constructor downloads by default (segmentation_models_pytorch, keras.applications)."""
    name = fi.resolve(dotted(call.func))
    last = name.rsplit(".", 1)[-1]
    given = {kw.arg for kw in call.keywords}
    if (
        name.startswith("segmentation_models_pytorch.")
        and last[:1].isupper()
        and last not in ("Activation", "losses", "utils", "encoders")
        and "encoder_weights" not in given
    ):
        return (
            "segmentation_models_pytorch models download 'imagenet' encoder weights unless given "
            "encoder_weights=None"
        )
    if ".applications." in f".{name}" and "keras" in name and last[:1].isupper() and "weights" not in given:
        return "keras.applications models download 'imagenet' weights unless given weights=None"
    return None


def _shell_text(call: ast.Call, index: TreeIndex, fi: FileIndex) -> str | None:
    parts = []
    for a in call.args[:3]:
        if isinstance(a, (ast.List, ast.Tuple)):
            parts.append(" ".join(index.render(e, fi) or UNKNOWN for e in a.elts))
        else:
            parts.append(index.render(a, fi) or UNKNOWN)
    for kw in call.keywords:
        if kw.arg in ("args", "cmd", "command"):
            parts.append(index.render(kw.value, fi) or UNKNOWN)
    text = " ".join(parts)
    return text if text.replace(UNKNOWN, "").strip() else None


@dataclass
class _Site:
    fi: FileIndex
    call: ast.Call
    what: str  # "installs" | "downloads"
    why: str
    code: str | None = None  # how to show the call when its full text is too long to read


def _direct_site(call: ast.Call, index: TreeIndex, fi: FileIndex) -> _Site | None:
    """A call that installs or downloads whatever its arguments' values are (no keyword decides it)."""
    raw = dotted(call.func)
    name = fi.resolve(raw)
    last = raw.rsplit(".", 1)[-1] if raw else (call.func.attr if isinstance(call.func, ast.Attribute) else "")
    if (
        name in _SHELL_CALLS
        or last in ("system", "popen", "check_output", "check_call", "getoutput")
        and (name.startswith(("os.", "subprocess.", "commands.")))
    ):
        text = _shell_text(call, index, fi)
        if text and _INSTALL.search(text):
            return _Site(fi, call, "installs", "a package installer")
        if text and _FETCH_CMD.search(text) and (_is_external_url(_first_url(text)) or "clone" in text):
            return _Site(fi, call, "downloads", "a download command")
        return None
    if (name.startswith("pip.") or name.startswith("pip._internal")) and last in ("main", "install"):
        return _Site(fi, call, "installs", "pip")
    if name == "torch.hub.load" or (last == "load" and name.endswith("hub.load")):
        source = next((kw.value for kw in call.keywords if kw.arg == "source"), None)
        repo = _const_str(call.args[0]) if call.args else None
        if _const_str(source) == "local" or (repo is not None and repo.startswith((".", "/"))):
            return None
        return _Site(fi, call, "downloads", "torch.hub")
    if index.defined(last):
        return None  # the folder's own function of that name: judged where it downloads, if it does
    if (
        last in _DOWNLOAD_FUNCS
        or name.startswith(_DOWNLOAD_MODULES)
        or name in ("gdown.download", "wget.download")
    ):
        return _Site(fi, call, "downloads", "a download function")
    if last == "from_pretrained" and call.args:
        text = _const_str(call.args[0])
        if (
            text
            and not text.startswith((".", "/", "~"))
            and not os.path.exists(os.path.join(index.tree.root, text))
        ):
            return _Site(fi, call, "downloads", "a model hub")
        return None
    if name in _HTTP_FUNCS or (
        name.startswith(("requests.", "httpx.", "urllib3.")) and last in ("get", "post", "request", "urlopen")
    ):
        values = [*call.args[:2], *[kw.value for kw in call.keywords if kw.arg in ("url", "host")]]
        for v in values:
            text = index.render(v, fi)
            if _is_external_url(text) or (
                name.endswith(("HTTPConnection", "HTTPSConnection"))
                and text
                and UNKNOWN not in text
                and not _LOOPBACK.match(text.split(":")[0])
            ):
                return _Site(fi, call, "downloads", "a request to an outside host")
        if last == "urlretrieve":
            return _Site(fi, call, "downloads", "urlretrieve")
    return None


def _first_url(text: str) -> str | None:
    m = re.search(r"(?:https?|ftp)://\S+", text)
    return m.group(0) if m else None


def _enclosing_def(node: ast.AST, fi: FileIndex) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    cur = fi.parents.get(node)
    while cur is not None:
        if isinstance(cur, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return cur
        cur = fi.parents.get(cur)
    return None


def _guarding_params(node: ast.AST, fi: FileIndex, func: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """The parameters of ``func`` tested by an ``if`` that ``node`` sits in the body of."""
    params = {a.arg for a in [*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs]}
    found: set[str] = set()
    child, cur = node, fi.parents.get(node)
    while cur is not None and cur is not func:
        if isinstance(cur, (ast.If, ast.IfExp)):
            body = cur.body if isinstance(cur.body, list) else [cur.body]
            if any(child is s for s in body):
                names = {n.id for n in ast.walk(cur.test) if isinstance(n, ast.Name)}
                names |= {n.attr for n in ast.walk(cur.test) if isinstance(n, ast.Attribute)}
                found |= names & params
        child, cur = cur, fi.parents.get(cur)
    return found


def _params_of(func: ast.FunctionDef | ast.AsyncFunctionDef, skip: int) -> list[str]:
    return [a.arg for a in [*func.args.posonlyargs, *func.args.args]][skip:]


def _def_of_callable(
    d_node: ast.AST, fi: FileIndex
) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef | None, int]:
    if isinstance(d_node, ast.ClassDef):
        init = next(
            (
                s
                for s in d_node.body
                if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and s.name == "__init__"
            ),
            None,
        )
        return init, 1
    assert isinstance(d_node, (ast.FunctionDef, ast.AsyncFunctionDef))
    return d_node, 1 if isinstance(fi.parents.get(d_node), ast.ClassDef) else 0


def _true_arg(call: ast.Call, param: str, func: ast.FunctionDef | ast.AsyncFunctionDef, skip: int) -> bool:
    for kw in call.keywords:
        if kw.arg == param:
            return isinstance(kw.value, ast.Constant) and bool(kw.value.value) and kw.value.value is not None
    params = _params_of(func, skip)
    if param in params:
        i = params.index(param)
        if i < len(call.args):
            v = call.args[i]
            return isinstance(v, ast.Constant) and bool(v.value) and not isinstance(v.value, str)
    return False


def _download_sites(index: TreeIndex) -> list[_Site]:
    """Every live call that installs or downloads, with conditional downloads followed to their callers."""
    sites: list[_Site] = []
    # Functions of the folder that download only when a parameter is true: id(def) -> {param: why}
    conditional: dict[int, dict[str, str]] = {}

    def note_conditional(fi: FileIndex, call: ast.Call, why: str, via: str | None) -> bool:
        func = _enclosing_def(call, fi)
        if func is None:
            return False
        params = _guarding_params(call, fi, func)
        if via is not None:
            params.add(via)
        if not params:
            return False
        slot = conditional.setdefault(id(func), {})
        new = False
        for p in params:
            if p not in slot:
                slot[p] = why
                new = True
        return new

    pending: list[_Site] = []
    for fi in index.files:
        for call in fi.calls:
            site = _direct_site(call, index, fi)
            if site is None:
                last = dotted(call.func).rsplit(".", 1)[-1] if dotted(call.func) else ""
                default = _library_default_download(call, fi)
                if default is not None:
                    site = _Site(fi, call, "downloads", default)
                elif not index.defined(last):
                    kws = _download_kwargs(call, index, fi)
                    if kws:
                        arg, value = kws[0]
                        rendered = index.render(value, fi)
                        shown = (
                            repr(rendered) if rendered and UNKNOWN not in rendered else fi.segment(value, 40)
                        )
                        site = _Site(fi, call, "downloads", f"{arg}={shown} makes the library fetch weights")
                        site.code = f"{fi.segment(call.func, 40)}(…, {arg}={fi.segment(value, 40)})"
                if site is None:
                    # pretrained=pretrained passed on to a library: conditional on this function's parameter
                    if not index.defined(last):
                        for kw in call.keywords:
                            if kw.arg in _TRUE_KWARGS + _NAMED_WEIGHTS_KWARGS and isinstance(
                                kw.value, ast.Name
                            ):
                                note_conditional(fi, call, f"{last}({kw.arg}=…)", kw.value.id)
                    continue
            func = _enclosing_def(call, fi)
            if func is not None and _guarding_params(call, fi, func):
                # downloads only when a parameter is true: judged at the calls that pass True
                note_conditional(fi, call, f"`{fi.segment(call, 50)}`", None)
                continue
            pending.append(site)
    # Follow conditional downloads up through the folder's own calls (resnet34(pretrained=True) -> load_url).
    for _ in range(6):
        changed = False
        for fi in index.files:
            for call in fi.calls:
                for d in index.callees(call):
                    func, skip = _def_of_callable(d.node, d.file)
                    if func is None or id(func) not in conditional:
                        continue
                    for param, why in conditional[id(func)].items():
                        passed = next((kw.value for kw in call.keywords if kw.arg == param), None)
                        if isinstance(passed, ast.Name):
                            changed |= note_conditional(fi, call, why, passed.id)
        if not changed:
            break
    for fi in index.files:
        for call in fi.calls:
            for d in index.callees(call):
                func, skip = _def_of_callable(d.node, d.file)
                if func is None or id(func) not in conditional:
                    continue
                for param, why in conditional[id(func)].items():
                    if _true_arg(call, param, func, skip):
                        where = f"{d.file.source.path}:{d.node.lineno}"
                        pending.append(
                            _Site(fi, call, "downloads", f"{d.node.name} ({where}) then calls {why}")
                        )
                        break
    for site in pending:
        if index.is_live(site.call, site.fi):
            sites.append(site)
    return sites


@rule("SRC003", phase=Phase.SOURCE)
def runtime_installs(tree: SourceTree) -> Iterator[Problem]:
    """The script installs packages or downloads at run time: the run has no internet."""
    index = tree_index(tree)
    seen: set[tuple[str, int | None]] = set()
    for site in _download_sites(index):
        where = (site.fi.source.path, site.fi.lineof(site.call))
        if where in seen:
            continue
        seen.add(where)
        code = site.code or site.fi.segment(site.call)
        verb = "installs packages" if site.what == "installs" else "downloads"
        yield Problem(
            f"`{code}` {verb} at run time ({site.why}), but the run has no internet",
            hint=_NO_INTERNET,
            path=site.fi.source.path,
            line=site.fi.lineof(site.call),
        )


def runtime_installs_of(tree: SourceTree) -> set[str]:
    """Names of the packages the sources install at run time (``pip install timm`` -> ``{"timm"}``)."""
    index = tree_index(tree)
    names: set[str] = set()
    for fi in index.files:
        for call in fi.calls:
            site = _direct_site(call, index, fi)
            if site is None or site.what != "installs":
                continue
            m = re.search(r"\binstall\b(.*)", _shell_text(call, index, fi) or "")
            for token in m.group(1).split() if m else []:
                token = token.strip("\"'")
                if token and not token.startswith("-") and UNKNOWN not in token:
                    names.add(re.split(r"[=<>\[~!;]", token)[0])
    return names


# -- SRC004 -----------------------------------------------------------------------------------------
_DRIVE = re.compile(r"^[A-Za-z]:(?:[\\/]|[\t\n\r\a\b\f\v])")
_UNC = re.compile(r"^\\\\[\w.\-$]+\\")
_BACKSLASHED = re.compile(r"(?:\.{1,2}\\)+[\w.\-{}%]*|[\w.\-{}%]+\\(?:[\w.\-{}% ]+\\?)*")
_STR_METHODS = frozenset(
    (
        "replace",
        "split",
        "rsplit",
        "strip",
        "rstrip",
        "lstrip",
        "startswith",
        "endswith",
        "find",
        "rfind",
        "index",
        "count",
        "partition",
        "rpartition",
        "join",
        "sub",
        "subn",
        "match",
        "search",
        "fullmatch",
        "compile",
        "findall",
        "finditer",
        "escape",
    )
)
_WINDOWS_WORDS = frozenset(("nt", "win32", "windows", "win", "cygwin", "win64"))


def _under_windows_test(node: ast.AST, fi: FileIndex) -> bool:
    cur = fi.parents.get(node)
    while cur is not None:
        if isinstance(cur, (ast.If, ast.IfExp)):
            words = {
                n.value.lower()
                for n in ast.walk(cur.test)
                if isinstance(n, ast.Constant) and isinstance(n.value, str)
            }
            if words & _WINDOWS_WORDS or "windows" in {dotted(n).lower() for n in ast.walk(cur.test)}:
                return True
        cur = fi.parents.get(cur)
    return False


def _windows_path(value: str) -> str | None:
    if _DRIVE.match(value):
        return "a Windows drive"
    if _UNC.match(value):
        return "a Windows network path"
    if "\\" in value and _BACKSLASHED.fullmatch(value) and any(c.isalpha() for c in value):
        return "backslash separators"
    return None


def _string_argument_of_text_method(node: ast.AST, fi: FileIndex) -> bool:
    parent = fi.parents.get(node)
    if isinstance(parent, ast.Attribute) and parent.attr == "replace":
        return True  # "a\\b".replace("\\", "/"): converted before use
    if isinstance(parent, ast.Call):
        last = (
            dotted(parent.func).rsplit(".", 1)[-1]
            if dotted(parent.func)
            else (parent.func.attr if isinstance(parent.func, ast.Attribute) else "")
        )
        return last in _STR_METHODS
    return isinstance(parent, ast.Compare)


@rule("SRC004", phase=Phase.SOURCE)
def windows_paths(tree: SourceTree) -> Iterator[Problem]:
    """A path with a Windows drive or backslash separators."""
    index = tree_index(tree)
    seen: set[tuple[str, int | None]] = set()
    for fi, node, value in _strings(index):
        kind = _windows_path(value)
        if kind is None:
            continue
        parent = fi.parents.get(node)
        if isinstance(parent, ast.JoinedStr):
            node_for_checks: ast.AST = parent
        else:
            node_for_checks = node
        if (
            _in_message(node_for_checks, fi)
            or _string_argument_of_text_method(node_for_checks, fi)
            or _under_windows_test(node_for_checks, fi)
            or not index.is_live(node_for_checks, fi)
        ):
            continue
        where = (fi.source.path, fi.lineof(node))
        if where in seen:
            continue
        seen.add(where)
        yield Problem(
            f"{value!r} is a path with {kind}: on the platform's Linux machines it names no such file",
            hint="use paths relative to the working directory (the folder of train.py) with '/' or "
            "os.path.join; read the data through aiUtils, which the platform serves from S3",
            path=fi.source.path,
            line=fi.lineof(node),
        )


# -- SRC005 -----------------------------------------------------------------------------------------
_DIR_CALLS = frozenset(
    ("os.getcwd", "os.getcwdu", "os.path.dirname", "tempfile.gettempdir", "tempfile.mkdtemp")
)
_PASS_CALLS = frozenset(("os.path.abspath", "os.path.realpath", "os.path.normpath", "str", "os.fspath"))
_OUT_DIRS = re.compile(r"(?:^|[/\\])(?:output|outputs|files|picture|pictures)$")
_SEPS = frozenset(("os.sep", "os.path.sep", "os.altsep"))


def _dir_state(node: ast.AST, index: TreeIndex, fi: FileIndex, depth: int = 0) -> str | None:
    """ "dir" (a folder, no separator at the end), "dirname" (text ending in output/files/picture), "sep"."""
    if depth > 12:
        return None
    if isinstance(node, ast.Call):
        name = fi.resolve(dotted(node.func))
        if name in _DIR_CALLS:
            return "dir"
        if name in _PASS_CALLS and len(node.args) == 1:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and arg.value in (".", ""):
                return "dir"
            return _dir_state(arg, index, fi, depth + 1)
        if name == "os.path.expanduser" and node.args and _const_str(node.args[0]) == "~":
            return "dir"
        if name == "os.path.join" and node.args:
            last = node.args[-1]
            text = _const_str(last)
            if text is not None:
                if text.endswith(("/", "\\")):
                    return "sep"
                base = text.rsplit("/", 1)[-1]
                return None if ("." in base or not base) else "dir"
            return _dir_state(last, index, fi, depth + 1)
        return None
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, str) or not node.value:
            return None
        if node.value.endswith(("/", "\\")):
            return "sep"
        return "dirname" if _OUT_DIRS.search(node.value) else None
    if isinstance(node, ast.JoinedStr):
        return _dir_state(node.values[-1], index, fi, depth + 1) if node.values else None
    if isinstance(node, ast.FormattedValue):
        return _dir_state(node.value, index, fi, depth + 1)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _dir_state(node.right, index, fi, depth + 1)
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = dotted(node)
        if not name:
            return None
        values = index.bindings(fi, fi.scope_of.get(node, fi.module), name)
        states = {_dir_state(v, index, fi, depth + 1) for v in values}
        if len(states) == 1:
            return states.pop()
    return None


def _lead(node: ast.AST, index: TreeIndex, fi: FileIndex, depth: int = 0) -> str:
    """The known start of a string expression: its text, "/" for os.sep, UNKNOWN when not known."""
    if depth > 12:
        return UNKNOWN
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else UNKNOWN
    if isinstance(node, ast.JoinedStr):
        return _lead(node.values[0], index, fi, depth + 1) if node.values else UNKNOWN
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _lead(node.left, index, fi, depth + 1)
    if isinstance(node, ast.Attribute) and fi.resolve(dotted(node)) in _SEPS:
        return "/"
    if isinstance(node, (ast.Name, ast.Attribute)):
        values = index.bindings(fi, fi.scope_of.get(node, fi.module), dotted(node))
        leads = {_lead(v, index, fi, depth + 1)[:1] for v in values}
        if len(leads) == 1:
            lead = leads.pop()
            return lead if lead else UNKNOWN
    if isinstance(node, ast.Call) and fi.resolve(dotted(node.func)) == "os.path.join":
        return UNKNOWN
    return UNKNOWN


def _glued(left_state: str | None, lead: str) -> bool:
    if left_state not in ("dir", "dirname") or lead == "":
        return False
    first = lead[:1]
    if first == UNKNOWN:
        return left_state == "dirname"
    if not (first.isalnum() or first == "_"):
        return False
    if left_state == "dir":
        return True
    return "." in lead or "/" in lead or UNKNOWN in lead or lead.isidentifier()


def _part(node: ast.AST, index: TreeIndex, fi: FileIndex) -> str:
    """A glued operand in words: its literal text where known, else its code."""
    if isinstance(node, ast.FormattedValue):
        node = node.value
    text = index.render(node, fi)
    if text is not None and text.replace(UNKNOWN, ""):
        return repr(_show(text))
    code = f"`{fi.segment(node, 40)}`"
    if isinstance(node, (ast.Name, ast.Attribute)) and dotted(node):
        values = index.bindings(fi, fi.scope_of.get(node, fi.module), dotted(node))
        texts = {index.render(v, fi) for v in values}
        if len(texts) == 1:
            only = texts.pop()
            if only is not None and only.replace(UNKNOWN, ""):
                return f"{code} ({_show(only)!r})"
    return code


@rule("SRC005", phase=Phase.SOURCE)
def glued_paths(tree: SourceTree) -> Iterator[Problem]:
    """An output path glued without a separator."""
    index = tree_index(tree)
    seen: set[tuple[str, int | None]] = set()
    candidates: list[tuple[FileIndex, ast.AST, ast.AST, ast.AST]] = []
    for fi, node in index.nodes((ast.BinOp, ast.AugAssign, ast.JoinedStr)):
        if isinstance(node, (ast.BinOp, ast.AugAssign)) and not isinstance(node.op, ast.Add):
            continue
        if isinstance(node, ast.BinOp):
            if _glued(_dir_state(node.left, index, fi), _lead(node.right, index, fi)):
                candidates.append((fi, node, node.left, node.right))
        elif isinstance(node, ast.AugAssign):
            # the target's value before the +=: its plain assignments
            before = [
                v
                for v in index.bindings(fi, fi.scope_of.get(node, fi.module), dotted(node.target))
                if not isinstance(v, Rebound)
            ]
            states = {_dir_state(v, index, fi) for v in before}
            state = states.pop() if len(states) == 1 else None
            if _glued(state, _lead(node.value, index, fi)):
                candidates.append((fi, node, node.target, node.value))
        else:
            assert isinstance(node, ast.JoinedStr)
            for a, b in zip(node.values, node.values[1:], strict=False):
                if _glued(_dir_state(a, index, fi), _lead(b, index, fi)):
                    candidates.append((fi, node, a, b))
                    break
    for fi, node, left, right in candidates:
        if _in_message(node, fi):
            continue
        where = (fi.source.path, fi.lineof(node))
        if where in seen:
            continue
        seen.add(where)
        whole = node
        parent = fi.parents.get(whole)
        while isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Add):
            whole, parent = parent, fi.parents.get(parent)
        yield Problem(
            f"`{fi.segment(whole)}` puts {_part(right, index, fi)} straight after {_part(left, index, fi)}, "
            "with no '/' between: the path names something beside that folder, not inside it",
            hint="join paths with os.path.join(folder, name), or put '/' between the parts; the platform "
            "keeps only what is under output/ in the working directory",
            path=fi.source.path,
            line=fi.lineof(node),
        )


# -- SRC006 -----------------------------------------------------------------------------------------
def _reads_parameters(index: TreeIndex, tree: SourceTree) -> bool:
    for f in tree.unparsed:
        if "traincfg" in f.text or "input(" in f.text or "stdin" in f.text:
            return True  # cannot read the tree there: any sign counts
    for _fi, _node, value in _strings(index):
        if "traincfg.json" in value or value.strip("./\\ ") in ("traincfg", "traincfg."):
            return True
        if value == "/dev/stdin":
            return True
    for fi in index.files:
        for call in fi.calls:
            name = fi.resolve(dotted(call.func))
            if name in ("input", "raw_input", "fileinput.input", "fileinput.FileInput"):
                return True
            if (
                name in ("open", "io.open", "os.fdopen", "os.read")
                and call.args
                and isinstance(call.args[0], ast.Constant)
                and call.args[0].value == 0
            ):
                return True
        for node in fi.of(ast.Attribute):
            assert isinstance(node, ast.Attribute)
            if node.attr in ("stdin", "__stdin__") and fi.resolve(dotted(node)).startswith(
                ("sys.stdin", "sys.__stdin__")
            ):
                return True
        for node in fi.of(ast.Name):
            assert isinstance(node, ast.Name)
            if fi.aliases.get(node.id, "").startswith("sys.stdin"):
                return True
    return False


@rule("SRC006", phase=Phase.SOURCE)
def parameters_source(tree: SourceTree) -> Iterator[Problem]:
    """The script reads its parameters neither from ``traincfg.json`` nor from standard input."""
    if not tree.files:
        return
    index = tree_index(tree)
    if _reads_parameters(index, tree):
        return
    entry = tree.entry if tree.entry_file is not None else None
    line = None
    path = entry
    said = ""
    for fi, node in index.nodes(ast.Call):
        assert isinstance(node, ast.Call)
        if dotted(node.func).endswith(("parse_args", "parse_known_args")):
            path, line = fi.source.path, fi.lineof(node)
            said = (
                f"; it parses command-line arguments (`{fi.segment(node)}`), but the platform runs "
                "`python train.py` with none"
            )
            break
    yield Problem(
        "the sources read the parameters neither from traincfg.json nor from standard input (input(), "
        f"sys.stdin){said}",
        hint="the platform writes the parameters to traincfg.json in the working directory and sends the "
        "same "
        "JSON as one line on standard input: params = json.loads(input()), or "
        "json.load(open('traincfg.json', encoding='utf-8'))",
        path=path,
        line=line,
    )


# -- the family at once -----------------------------------------------------------------------------
def src_rule_ids() -> tuple[str, ...]:
    """The family's rule IDs, in catalogue order, as the registry has them."""
    return tuple(r.id for r in rules_for(Phase.SOURCE, scenario="source"))


def check_sources(tree: SourceTree, rule_ids: tuple[str, ...] | None = None) -> list[Finding]:
    """Run the SRC rules (or those of ``rule_ids``) on ``tree`` and return their findings, in rule order."""
    rules = [r for r in rules_for(Phase.SOURCE, scenario="source") if rule_ids is None or r.id in rule_ids]
    return list(evaluate(rules, tree))
