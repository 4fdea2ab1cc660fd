"""What the SRC rules need to know about a folder's syntax trees, computed once per :class:`SourceTree`.

- **Liveness**: code the platform never runs is not judged (precision over recall): files that
  ``train.py`` does not import (directly or through other files), ``if __name__ == "__main__":`` blocks of
  imported modules, branches of ``if False`` / ``if TYPE_CHECKING`` / a module constant that is false, and
  functions that the module bodies cannot reach by the names they call (see :meth:`TreeIndex.resolve_defs`).
- **Where the parameters flow**: a small flow-insensitive labelling of names: a path naming traincfg.json
  (or another config file), a file opened from it, its text, standard input, the decoded parameters
  (``json.load``/``json.loads``/``eval`` of those), and namespaces built from them (``Namespace(**params)``,
  ``EasyDict(params)``). Labels pass through assignments, ``with ... as``, returns, and arguments of calls to
  functions defined in the folder (matched by name), iterated to a fixed point.
- **Rendering**: the literal text of a string expression where its parts are constants (``"\\0"`` for a
  part that is not), so that ``basedir + "/output"`` and ``os.path.join(d, "traincfg.json")`` can be read.

Everything here works on the syntax tree only; nothing is imported or executed. Traversals are iterative,
so deeply nested expressions cannot exhaust the stack; expression evaluation stops at a fixed depth.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from pie_conformance.sources import SourceFile, SourceTree

UNKNOWN = "\0"  # stands for a part of a rendered string that is not a constant
_MAX_DEPTH = 40
_ROUNDS = 8

# Labels of the parameter flow.
CFG_PATH, OTHER_PATH = "cfgpath", "otherpath"
CFG_FILE, OTHER_FILE = "cfgfile", "otherfile"
CFG_TEXT, OTHER_TEXT = "cfgtext", "othertext"
STDIN = "stdin"
CFG, OTHER_CFG = "cfg", "othercfg"
NS, OTHER_NS = "ns", "otherns"
Labels = frozenset[str]
_EMPTY: Labels = frozenset()

_OPENERS = frozenset(("open", "io.open", "codecs.open", "builtins.open", "os.fdopen"))
_LOADERS = frozenset(
    (
        "json.load",
        "json.loads",
        "yaml.load",
        "yaml.safe_load",
        "yaml.full_load",
        "yaml.unsafe_load",
        "eval",
        "ast.literal_eval",
        "ujson.load",
        "ujson.loads",
        "simplejson.load",
        "simplejson.loads",
        "orjson.loads",
        "demjson.decode",
        "json5.load",
        "json5.loads",
        "commentjson.load",
        "commentjson.loads",
    )
)
_TEXT_METHODS = frozenset(
    (
        "read",
        "readline",
        "readlines",
        "read_text",
        "strip",
        "rstrip",
        "lstrip",
        "decode",
        "replace",
        "lower",
        "getvalue",
        "read_bytes",
    )
)
_COPIES = frozenset(("copy", "deepcopy", "dict", "OrderedDict", "defaultdict", "MappingProxyType"))
_NAMESPACES = frozenset(
    (
        "Namespace",
        "SimpleNamespace",
        "EasyDict",
        "edict",
        "Munch",
        "munchify",
        "AttrDict",
        "DotMap",
        "Box",
        "Dict",
        "addict.Dict",
        "create",
        "DictConfig",
        "Bunch",
        "ConfigDict",
        "AttributeDict",
        "Struct",
    )
)
_PATH_FUNCS = frozenset(
    (
        "os.path.join",
        "os.path.abspath",
        "os.path.realpath",
        "os.path.normpath",
        "os.path.expanduser",
        "str",
        "Path",
        "pathlib.Path",
        "PurePath",
        "pathlib.PurePath",
        "PosixPath",
        "os.fspath",
        "joinpath",
    )
)
_IMPLICIT_METHODS = frozenset(("forward", "run", "call"))


Lookup = Callable[[str], "str | None"]


def render(node: ast.AST, lookup: Lookup | None = None) -> str | None:
    """The literal text of a string expression, ``UNKNOWN`` for the parts that are not constants."""
    text = _render(node, lookup, 0)
    return None if text is None or text.replace(UNKNOWN, "") == "" else text


def _render(node: ast.AST, lookup: Lookup | None, depth: int) -> str | None:
    if depth > _MAX_DEPTH:
        return UNKNOWN
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else UNKNOWN
    if isinstance(node, ast.JoinedStr):
        parts = []
        for v in node.values:
            parts.append(v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else UNKNOWN)
        return "".join(parts)
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Add):
            return (_render(node.left, lookup, depth + 1) or UNKNOWN) + (
                _render(node.right, lookup, depth + 1) or UNKNOWN
            )
        if isinstance(node.op, ast.Div):
            return (
                (_render(node.left, lookup, depth + 1) or UNKNOWN)
                + "/"
                + (_render(node.right, lookup, depth + 1) or UNKNOWN)
            )
        if isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant):
            return _render(node.left, lookup, depth + 1)
        return UNKNOWN
    if isinstance(node, ast.Call):
        name = dotted(node.func)
        last = name.rsplit(".", 1)[-1] if name else ""
        if name == "os.path.join" or last == "joinpath":
            parts = [(_render(a, lookup, depth + 1) or UNKNOWN) for a in node.args]
            if last == "joinpath" and isinstance(node.func, ast.Attribute):
                parts.insert(0, _render(node.func.value, lookup, depth + 1) or UNKNOWN)
            return "/".join(parts) if parts else UNKNOWN
        if name in _PATH_FUNCS and len(node.args) == 1:
            return _render(node.args[0], lookup, depth + 1)
        if last == "format" and isinstance(node.func, ast.Attribute):
            return _render(node.func.value, lookup, depth + 1)
        return UNKNOWN
    if isinstance(node, ast.Name) and lookup is not None:
        value = lookup(node.id)
        return value if value is not None else UNKNOWN
    return UNKNOWN


class Rebound(ast.expr):
    """Stands for a value given by ``x += ...`` or ``for x in ...``: not one known expression."""

    _fields = ()


def dotted(node: ast.AST) -> str:
    """``a.b.c`` for a chain of names and attributes ("" when the chain starts with something else)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    if isinstance(node, ast.Call) and parts:
        # Path("x").open(...), open(p).read(): keep the method name, mark the receiver as a call
        inner = dotted(node.func)
        return ".".join([f"{inner}()"] + list(reversed(parts))) if inner else ""
    return ""


def path_labels(text: str | None) -> Labels:
    """CFG_PATH for a path naming traincfg.json in the working directory; OTHER_PATH for another cfg file."""
    if not text:
        return _EMPTY
    parts = text.replace("\\", "/").split("/")
    base = parts[-1]
    low = base.lower()
    if "traincfg" not in low:
        return _EMPTY
    if base.replace(UNKNOWN, "") == "traincfg.json" and base.endswith("traincfg.json") and ".." not in parts:
        # "<dir>" + "traincfg.json" without a "/" is SRC005's finding; the file meant is traincfg.json
        return frozenset((CFG_PATH,))
    if low.startswith("traincfg") and low.endswith(UNKNOWN):
        return _EMPTY  # "traincfg" + ext: cannot tell
    return frozenset((OTHER_PATH,))


def _first_arg(call: ast.Call) -> ast.AST | None:
    if call.args:
        return call.args[0]
    for kw in call.keywords:
        if kw.arg in (
            "file",
            "fp",
            "s",
            "stream",
            "path",
            "filename",
            "source",
            "expression",
            "node_or_string",
        ):
            return kw.value
    return None


@dataclass
class _Def:
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
    file: FileIndex


@dataclass
class FileIndex:
    """One parsed file: parents, scopes, imports and bindings."""

    source: SourceFile
    module: ast.Module
    is_entry: bool
    parents: dict[ast.AST, ast.AST] = field(default_factory=dict)
    scope_of: dict[ast.AST, ast.AST] = field(default_factory=dict)
    bound: dict[ast.AST, set[str]] = field(default_factory=dict)  # scope -> locally bound names
    globals_declared: dict[ast.AST, set[str]] = field(default_factory=dict)
    assigns: list[tuple[ast.AST, tuple[str, ...], ast.AST, str]] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # local name -> imported dotted name
    imports: set[str] = field(default_factory=set)
    import_prefixes: set[str] = field(default_factory=set)
    py_mentions: set[str] = field(default_factory=set)
    module_constants: dict[str, object] = field(default_factory=dict)
    bare_strings: set[int] = field(default_factory=set)  # ids of Constant nodes that are statements
    calls: list[ast.Call] = field(default_factory=list)
    returns: list[tuple[ast.AST, ast.AST]] = field(default_factory=list)  # (function, value)
    by_target: dict[tuple[int, str], list[ast.AST]] = field(default_factory=dict)  # (scope, name) -> values
    by_type: dict[type, list[ast.AST]] = field(default_factory=dict)  # node type -> nodes, in source order
    _lines: list[str] | None = None

    def __hash__(self) -> int:
        return id(self)

    def of(self, kind: type[ast.AST]) -> list[ast.AST]:
        """The file's nodes of exactly this type, in source order."""
        return self.by_type.get(kind, [])

    def lineof(self, node: ast.AST) -> int | None:
        """The node's line number (its own, else the nearest ancestor's)."""
        cur: ast.AST | None = node
        while cur is not None:
            line = getattr(cur, "lineno", None)
            if isinstance(line, int):
                return line
            cur = self.parents.get(cur)
        return None

    def segment(self, node: ast.AST, limit: int = 70) -> str:
        """The node's source text on one line, shortened to ``limit`` characters."""
        if self._lines is None:
            self._lines = self.source.text.splitlines()
        start, end = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
        col, end_col = getattr(node, "col_offset", None), getattr(node, "end_col_offset", None)
        if start is None or end is None or col is None or end_col is None or end > len(self._lines):
            return ""
        # Offsets count UTF-8 bytes, as the parser does.
        lines = [ln.encode("utf-8") for ln in self._lines[start - 1 : end]]
        if len(lines) == 1:
            raw = lines[0][col:end_col]
        else:
            raw = b"\n".join([lines[0][col:], *lines[1:-1], lines[-1][:end_col]])
        text = " ".join(raw.decode("utf-8", errors="replace").split())
        return text if len(text) <= limit else text[: limit - 3] + "..."

    def resolve(self, name: str) -> str:
        """``name`` with its first part replaced by what it was imported as (``np.load``: ``numpy.load``)."""
        if not name:
            return name
        head, _, rest = name.partition(".")
        full = self.aliases.get(head)
        if full is None:
            return name
        return f"{full}.{rest}" if rest else full


_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_BINDERS = (
    ast.Assign,
    ast.AnnAssign,
    ast.AugAssign,
    ast.NamedExpr,
    ast.With,
    ast.AsyncWith,
    ast.For,
    ast.AsyncFor,
)


# Context and operator nodes (Load, Store, Add, Eq...) are shared singletons that say nothing on their own.
_LEAVES = (ast.expr_context, ast.operator, ast.unaryop, ast.boolop, ast.cmpop)


def _children(node: ast.AST) -> list[ast.AST]:
    # ast.iter_child_nodes without the generator and the singletons: this runs once per node of every file.
    out: list[ast.AST] = []
    for name in node._fields:
        value = getattr(node, name, None)
        if isinstance(value, ast.AST):
            if not isinstance(value, _LEAVES):
                out.append(value)
        elif isinstance(value, list):
            out.extend(v for v in value if isinstance(v, ast.AST) and not isinstance(v, _LEAVES))
    return out


def _index_file(sf: SourceFile, module: ast.Module, is_entry: bool) -> FileIndex:
    fi = FileIndex(sf, module, is_entry)
    fi.bound[module] = set()
    stack: list[tuple[ast.AST, ast.AST | None, ast.AST]] = [(module, None, module)]
    package = _package_of(sf.path)
    parents, scope_of, by_type = fi.parents, fi.scope_of, fi.by_type
    while stack:
        node, parent, scope = stack.pop()
        if parent is not None:
            parents[node] = parent
        scope_of[node] = scope
        kind = type(node)
        by_type.setdefault(kind, []).append(node)
        children = _children(node)
        if kind is ast.Name:
            if type(node.ctx) is not ast.Load:  # type: ignore[attr-defined]
                fi.bound.setdefault(scope, set()).add(node.id)  # type: ignore[attr-defined]
        elif kind is ast.Call:
            fi.calls.append(node)  # type: ignore[arg-type]
            _record_dynamic_import(fi, node)  # type: ignore[arg-type]
        elif kind in _FUNCS:
            assert isinstance(node, _FUNCS)
            names = fi.bound.setdefault(node, set())
            a = node.args
            for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]:
                if arg is not None:
                    names.add(arg.arg)
            # Defaults and decorators belong to the enclosing scope; the body to the function's own.
            outer: list[ast.AST] = [*a.defaults, *[d for d in a.kw_defaults if d]]
            if not isinstance(node, ast.Lambda):
                fi.bound.setdefault(scope, set()).add(node.name)
                outer += node.decorator_list
                if node.returns is not None:
                    outer.append(node.returns)
            outer_ids = {id(c) for c in outer}
            for child in reversed(children):
                stack.append((child, node, scope if id(child) in outer_ids else node))
            continue
        elif kind is ast.ClassDef:
            fi.bound.setdefault(scope, set()).add(node.name)  # type: ignore[attr-defined]
        elif kind is ast.Global or kind is ast.Nonlocal:
            fi.globals_declared.setdefault(scope, set()).update(node.names)  # type: ignore[attr-defined]
        elif kind is ast.Import or kind is ast.ImportFrom:
            _record_import(fi, node, scope, package)  # type: ignore[arg-type]
        elif kind is ast.Expr:
            value = node.value  # type: ignore[attr-defined]
            if type(value) is ast.Constant and isinstance(value.value, (str, bytes)):
                fi.bare_strings.add(id(value))
        elif kind is ast.Return:
            if node.value is not None and scope is not module:  # type: ignore[attr-defined]
                fi.returns.append((scope, node.value))  # type: ignore[attr-defined]
        elif kind in _BINDERS:
            _record_binding(fi, node, scope)
        for child in reversed(children):
            stack.append((child, node, scope))
    for scope, targets, value, how in fi.assigns:
        name = targets[0]
        declared = fi.globals_declared.get(scope, set())
        home = fi.module if ("." in name or name in declared) else scope
        # x += ..., for x in ...: the value is no longer one known expression
        fi.by_target.setdefault((id(home), name), []).append(value if how == "=" else Rebound())
    # Module constants (names bound once, at module level, to a constant): the static truth of ifs.
    counts: dict[str, int] = {}
    for scope, targets, _value, _how in fi.assigns:
        if len(targets) == 1 and not targets[0].count("."):
            counts[targets[0]] = counts.get(targets[0], 0) + (1 if scope is module else 2)
    for scope, targets, value, how in fi.assigns:
        if (
            scope is module
            and how == "="
            and len(targets) == 1
            and counts.get(targets[0]) == 1
            and isinstance(value, ast.Constant)
        ):
            fi.module_constants[targets[0]] = value.value
    return fi


def _record_binding(fi: FileIndex, node: ast.AST, scope: ast.AST) -> None:
    def target_key(t: ast.AST) -> str | None:
        if isinstance(t, ast.Name):
            return t.id
        d = dotted(t) if isinstance(t, ast.Attribute) else ""
        return d or None

    if isinstance(node, ast.Assign):
        for t in node.targets:
            key = target_key(t)
            if key:
                fi.assigns.append((scope, (key,), node.value, "="))
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        key = target_key(node.target)
        if key:
            fi.assigns.append((scope, (key,), node.value, "="))
    elif isinstance(node, ast.AugAssign):
        key = target_key(node.target)
        if key:
            fi.assigns.append((scope, (key,), node.value, "+="))
    elif isinstance(node, ast.NamedExpr):
        fi.assigns.append((scope, (node.target.id,), node.value, "="))
    elif isinstance(node, (ast.With, ast.AsyncWith)):
        for item in node.items:
            key = target_key(item.optional_vars) if item.optional_vars is not None else None
            if key:
                fi.assigns.append((scope, (key,), item.context_expr, "="))
    elif isinstance(node, (ast.For, ast.AsyncFor)):
        key = target_key(node.target)
        if key:
            fi.assigns.append((scope, (key,), node.iter, "for"))


def _package_of(path: str) -> str:
    parts = path[:-3].split("/")
    return ".".join(parts[:-1])


def _record_import(fi: FileIndex, node: ast.Import | ast.ImportFrom, scope: ast.AST, package: str) -> None:
    if isinstance(node, ast.Import):
        for alias in node.names:
            fi.imports.add(alias.name)
            parts = alias.name.split(".")
            for i in range(1, len(parts)):
                fi.imports.add(".".join(parts[:i]))
            local = alias.asname or parts[0]
            fi.aliases[local] = alias.name if alias.asname else parts[0]
            fi.bound.setdefault(scope, set()).add(local)
        return
    base = node.module or ""
    if node.level:
        pkg = package.split(".") if package else []
        keep = len(pkg) - (node.level - 1)
        pkg = pkg[: max(keep, 0)]
        base = ".".join([*pkg, *([node.module] if node.module else [])])
    if base:
        fi.imports.add(base)
        parts = base.split(".")
        for i in range(1, len(parts)):
            fi.imports.add(".".join(parts[:i]))
    for alias in node.names:
        if alias.name == "*":
            continue
        full = f"{base}.{alias.name}" if base else alias.name
        fi.imports.add(full)
        local = alias.asname or alias.name
        fi.aliases[local] = full
        fi.bound.setdefault(scope, set()).add(local)


_RUNS_A_FILE = frozenset(
    (
        "runpy.run_path",
        "run_path",
        "exec",
        "execfile",
        "spec_from_file_location",
        "importlib.util.spec_from_file_location",
        "os.system",
        "os.popen",
        "subprocess.run",
        "subprocess.call",
        "subprocess.check_call",
        "subprocess.check_output",
        "subprocess.Popen",
    )
)


def _record_dynamic_import(fi: FileIndex, call: ast.Call) -> None:
    name = dotted(call.func)
    if name in _RUNS_A_FILE:
        # another of the folder's files run by path: runpy, exec(open(...).read()), python x.py
        for sub in ast.walk(call):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                for word in sub.value.replace("\\", "/").split():
                    if word.endswith(".py"):
                        fi.py_mentions.add(word.rsplit("/", 1)[-1][:-3])
    if name in ("importlib.import_module", "import_module", "__import__") and call.args:
        text = render(call.args[0])
        if text:
            if UNKNOWN in text:
                prefix = text.split(UNKNOWN, 1)[0]
                if prefix:
                    fi.import_prefixes.add(prefix)
            else:
                fi.imports.add(text)


def _module_names(path: str) -> set[str]:
    parts = path[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return {".".join(parts[i:]) for i in range(len(parts)) if parts[i:]}


def static_truth(test: ast.AST, fi: FileIndex) -> bool | None:
    """True/False when an ``if`` test is known without running anything, else None."""
    if isinstance(test, ast.Constant):
        return bool(test.value)
    if isinstance(test, ast.Name):
        if test.id == "TYPE_CHECKING":
            return False
        if test.id in fi.module_constants:
            return bool(fi.module_constants[test.id])
        return None
    if isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING":
        return False
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = static_truth(test.operand, fi)
        return None if inner is None else not inner
    return None


def _is_main_guard(test: ast.AST) -> bool:
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    has_name = any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
    has_main = any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides)
    return has_name and has_main


class TreeIndex:
    """The whole folder: per-file indexes, definitions by name, references, liveness and parameter flow."""

    def __init__(self, tree: SourceTree) -> None:
        self.tree = tree
        self.files: list[FileIndex] = []
        for sf in tree.parsed:
            assert sf.module is not None
            self.files.append(_index_file(sf, sf.module, sf.path == tree.entry))
        self.defs: dict[str, list[_Def]] = {}
        self.modules: dict[str, FileIndex] = {}  # dotted module name -> file (the full name first)
        for fi in self.files:
            for kind in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
                for node in fi.of(kind):
                    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                    self.defs.setdefault(node.name, []).append(_Def(node, fi))
        for fi in sorted(self.files, key=lambda f: f.source.path.count("/")):
            for name in sorted(_module_names(fi.source.path), key=lambda n: -n.count(".")):
                self.modules.setdefault(name, fi)
        self.live_files = self._live_files()
        self.reached: set[int] = set()  # ids of the definitions that code the platform runs may call
        self._reach()
        self.env: dict[tuple[int, str], Labels] = {}
        self.ret: dict[int, Labels] = {}
        self._flow()

    # -- liveness ---------------------------------------------------------------------------------
    def _live_files(self) -> set[int]:
        entry = next((fi for fi in self.files if fi.is_entry), None)
        entry_src = self.tree.entry_file
        if entry is None or entry_src is None or not entry_src.parsed:
            return {id(fi) for fi in self.files}  # nothing to start from: judge every file
        names = {id(fi): _module_names(fi.source.path) for fi in self.files}
        stems = {id(fi): fi.source.path.rsplit("/", 1)[-1][:-3] for fi in self.files}
        live = {id(entry)}
        todo = [entry]
        while todo:
            cur = todo.pop()
            for fi in self.files:
                if id(fi) in live:
                    continue
                mine = names[id(fi)]
                if (
                    mine & cur.imports
                    or stems[id(fi)] in cur.py_mentions
                    or any(n.startswith(p) for n in mine for p in cur.import_prefixes)
                ):
                    live.add(id(fi))
                    todo.append(fi)
        return live

    def _def_live(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, fi: FileIndex) -> bool:
        return id(node) in self.reached

    def resolve_defs(self, fi: FileIndex, node: ast.Name | ast.Attribute) -> list[_Def]:
        """The folder's definitions a name or attribute read in ``fi`` may stand for.

        A name defined in the file is that definition; an imported name or ``module.attr`` of one of the
        folder's modules is the definition in that module; a name or method of something from outside the
        folder is none; a method of an object is every method of that name; any other name (a star import)
        is every definition of that name, to stay on the safe side.
        """
        if isinstance(node, ast.Name):
            name = node.id
            local = [d for d in self.defs.get(name, []) if d.file is fi]
            if local:
                return local
            full = fi.aliases.get(name)
            if full is not None:
                mod, _, attr = full.rpartition(".")
                target = self.modules.get(mod)
                if target is not None:
                    return [d for d in self.defs.get(attr, []) if d.file is target]
                return []  # imported from outside the folder, or a module
            return list(self.defs.get(name, []))
        chain = dotted(node)
        if chain:
            head = chain.split(".", 1)[0]
            full = fi.resolve(chain)
            mod, _, attr = full.rpartition(".")
            target = self.modules.get(mod)
            if target is not None:
                return [d for d in self.defs.get(attr, []) if d.file is target]
            if head in fi.aliases:
                return []  # an attribute of a module or name from outside the folder (os.path, torch.nn)
        if node.attr.startswith("__") and node.attr.endswith("__"):
            return []  # super().__init__ and the like: the class's own dunders are reached with the class
        # obj.name on an object (self, a model, a session): a method of some class, never a module function
        return [
            d for d in self.defs.get(node.attr, []) if isinstance(d.file.parents.get(d.node), ast.ClassDef)
        ]

    def _reach(self) -> None:
        """Mark the definitions that code the platform runs may call, starting from every live module body."""
        todo: list[tuple[FileIndex, list[ast.AST]]] = [
            (fi, list(fi.module.body)) for fi in self.files if id(fi) in self.live_files
        ]

        def enter(d: _Def) -> None:
            if id(d.node) in self.reached or id(d.file) not in self.live_files:
                return  # a file the platform's run never imports holds nothing it can call
            self.reached.add(id(d.node))
            if isinstance(d.node, ast.ClassDef):
                self._enter_class(d, todo)
            else:
                todo.append((d.file, list(d.node.body)))

        while todo:
            fi, stack = todo.pop()
            while stack:
                node = stack.pop()
                kind = type(node)
                if kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
                    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                    stack.extend(node.decorator_list)  # run when the def runs; the body when called
                    stack.extend(node.args.defaults)
                    stack.extend(d for d in node.args.kw_defaults if d is not None)
                    continue
                if kind is ast.ClassDef:
                    assert isinstance(node, ast.ClassDef)
                    stack.extend([*node.bases, *node.decorator_list, *(k.value for k in node.keywords)])
                    stack.extend(node.body)  # the class body runs when the class statement does
                    continue
                if kind is ast.If:
                    assert isinstance(node, ast.If)
                    stack.append(node.test)
                    truth = static_truth(node.test, fi)
                    main_guard = not fi.is_entry and _is_main_guard(node.test)
                    if truth is not False and not main_guard:
                        stack.extend(node.body)
                    if truth is not True:
                        stack.extend(node.orelse)
                    continue
                if kind is ast.Name:
                    assert isinstance(node, ast.Name)
                    if type(node.ctx) is ast.Load:
                        for d in self.resolve_defs(fi, node):
                            enter(d)
                    continue
                if kind is ast.Attribute:
                    assert isinstance(node, ast.Attribute)
                    for d in self.resolve_defs(fi, node):
                        enter(d)
                elif kind is ast.Call:
                    assert isinstance(node, ast.Call)
                    # getattr(obj, "name"): a method picked by its name as a string
                    if isinstance(node.func, ast.Name) and node.func.id == "getattr" and len(node.args) >= 2:
                        name = node.args[1]
                        if isinstance(name, ast.Constant) and isinstance(name.value, str):
                            for d in self.defs.get(name.value, []):
                                enter(d)
                stack.extend(_children(node))

    def _enter_class(self, d: _Def, todo: list[tuple[FileIndex, list[ast.AST]]]) -> None:
        """A class that is used: its dunder methods run (and, with a base from outside the folder such as
        nn.Module or Dataset, every method may be called by that framework), in-folder bases included."""
        cls = d.node
        assert isinstance(cls, ast.ClassDef)
        external = any(
            dotted(b) not in ("object", "") and dotted(b).rsplit(".", 1)[-1] not in self.defs
            for b in cls.bases
        )
        for stmt in cls.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = stmt.name
                called = (
                    external or (name.startswith("__") and name.endswith("__")) or name in _IMPLICIT_METHODS
                )
                if called and id(stmt) not in self.reached:
                    self.reached.add(id(stmt))
                    todo.append((d.file, list(stmt.body)))
        for base in cls.bases:
            if isinstance(base, (ast.Name, ast.Attribute)):
                for b in self.resolve_defs(d.file, base):
                    if isinstance(b.node, ast.ClassDef) and id(b.node) not in self.reached:
                        self.reached.add(id(b.node))
                        self._enter_class(b, todo)

    def is_live(self, node: ast.AST, fi: FileIndex) -> bool:
        """False when the platform never runs ``node`` (see the module docstring)."""
        if id(fi) not in self.live_files:
            return False
        child = node
        cur = fi.parents.get(node)
        while cur is not None:
            if isinstance(cur, ast.If):
                in_body = any(child is s for s in cur.body)
                in_else = any(child is s for s in cur.orelse)
                if in_body and not fi.is_entry and _is_main_guard(cur.test):
                    return False
                truth = static_truth(cur.test, fi)
                if (in_body and truth is False) or (in_else and truth is True):
                    return False
            elif (
                isinstance(cur, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                and child not in cur.decorator_list
                and not self._def_live(cur, fi)
            ):
                return False
            child = cur
            cur = fi.parents.get(cur)
        return True

    # -- which definitions a call reaches -----------------------------------------------------------
    def callees(self, call: ast.Call) -> list[_Def]:
        """Definitions in the folder that a call may reach, matched by the called name."""
        func = call.func
        if isinstance(func, ast.Name):
            name = func.id
        elif isinstance(func, ast.Attribute):
            name = func.attr
        else:
            return []
        return self.defs.get(name, [])

    def defined(self, name: str) -> bool:
        """True when a function or class of this name is defined in the folder."""
        return name in self.defs

    # -- parameter flow -----------------------------------------------------------------------------
    def _scope_chain(self, fi: FileIndex, scope: ast.AST, name: str) -> ast.AST:
        """The scope whose binding of ``name`` is visible from ``scope``."""
        cur: ast.AST | None = scope
        while cur is not None and cur is not fi.module:
            if name in fi.globals_declared.get(cur, set()):
                return fi.module
            if name in fi.bound.get(cur, set()):
                return cur
            cur = fi.scope_of.get(cur)
        return fi.module

    def bindings(self, fi: FileIndex, scope: ast.AST, name: str) -> list[ast.AST]:
        """The values assigned to ``name`` (a name or an attribute chain) as seen from ``scope``."""
        if "." in name:
            return fi.by_target.get((id(fi.module), name), [])
        return fi.by_target.get((id(self._scope_chain(fi, scope, name)), name), [])

    def _reaching(self, fi: FileIndex, node: ast.Name, scope: ast.AST) -> ast.AST | None:
        """The assignment a name read in its own scope sees, when the name is assigned more than once there.

        The last plain assignment above the read, in source order (a loop may see a later one): for a name
        reused for something else, ``data = json.load(cfg)`` ... ``data = json.load(other)``.
        None when the name is bound once, elsewhere, or in a way that has no single value.
        """
        home = self._scope_chain(fi, scope, node.id)
        if home is not scope:
            return None
        values = fi.by_target.get((id(home), node.id), [])
        if len(values) < 2:
            return None
        line = node.lineno
        best: ast.AST | None = None
        best_line = -1
        for v in values:
            v_line = getattr(v, "lineno", None)
            if v_line is None:
                return None  # x += ..., for x in ...: no single value to pick
            if best_line <= v_line < line:
                best, best_line = v, v_line
        return best

    def _key(self, fi: FileIndex, scope: ast.AST, name: str) -> tuple[int, str]:
        if "." in name:
            return (id(fi), name)  # attribute chains (self.cfg) are tracked per file
        return (id(self._scope_chain(fi, scope, name)), name)

    def labels(self, node: ast.AST, fi: FileIndex, depth: int = 0) -> Labels:
        """The parameter-flow labels of an expression (see the module docstring)."""
        if depth > _MAX_DEPTH:
            return _EMPTY
        scope = fi.scope_of.get(node, fi.module)
        if isinstance(node, ast.Constant):
            return path_labels(node.value) if isinstance(node.value, str) else _EMPTY
        if isinstance(node, (ast.JoinedStr, ast.BinOp)):
            return path_labels(self.render(node, fi))
        if isinstance(node, ast.Name):
            if node.id == "stdin" and fi.aliases.get("stdin") == "sys.stdin":
                return frozenset((STDIN,))
            reaching = self._reaching(fi, node, scope)
            if reaching is not None:
                return self.labels(reaching, fi, depth + 1)
            return self.env.get(self._key(fi, scope, node.id), _EMPTY)
        if isinstance(node, ast.Attribute):
            name = fi.resolve(dotted(node))
            if name in ("sys.stdin", "sys.__stdin__", "sys.stdin.buffer"):
                return frozenset((STDIN,))
            return self.env.get((id(fi), dotted(node)), _EMPTY) if dotted(node) else _EMPTY
        if isinstance(node, ast.Call):
            return self._call_labels(node, fi, depth)
        if isinstance(node, ast.IfExp):
            return self.labels(node.body, fi, depth + 1) | self.labels(node.orelse, fi, depth + 1)
        if isinstance(node, ast.BoolOp):
            out: Labels = _EMPTY
            for v in node.values:
                out |= self.labels(v, fi, depth + 1)
            return out
        if isinstance(node, (ast.NamedExpr, ast.Await)):
            return self.labels(node.value, fi, depth + 1)
        return _EMPTY

    def _call_labels(self, call: ast.Call, fi: FileIndex, depth: int) -> Labels:
        raw = dotted(call.func)
        name = fi.resolve(raw)
        last = (
            raw.rsplit(".", 1)[-1]
            if raw
            else (call.func.attr if isinstance(call.func, ast.Attribute) else "")
        )
        arg = _first_arg(call)
        arg_labels = self.labels(arg, fi, depth + 1) if arg is not None else _EMPTY
        receiver = call.func.value if isinstance(call.func, ast.Attribute) else None
        recv_labels = self.labels(receiver, fi, depth + 1) if receiver is not None else _EMPTY
        out: set[str] = set()
        if name in ("input", "raw_input") and not self.defined(name):
            out.add(STDIN)
        if name in _OPENERS or last == "open":
            src = arg_labels if name in _OPENERS else (recv_labels or arg_labels)
            if CFG_PATH in src:
                out.add(CFG_FILE)
            if OTHER_PATH in src:
                out.add(OTHER_FILE)
            if STDIN in src or (isinstance(arg, ast.Constant) and arg.value in (0, "/dev/stdin")):
                out.add(STDIN)
        if name in ("fileinput.input", "fileinput.FileInput"):
            out.add(STDIN)
        if last in _TEXT_METHODS and receiver is not None:
            if CFG_FILE in recv_labels or CFG_TEXT in recv_labels or CFG_PATH in recv_labels:
                out.add(CFG_TEXT)
            if OTHER_FILE in recv_labels or OTHER_TEXT in recv_labels or OTHER_PATH in recv_labels:
                out.add(OTHER_TEXT)
            if STDIN in recv_labels:
                out.add(STDIN)
        if (
            name in _LOADERS
            or last in ("safe_load", "literal_eval")
            or (
                last in ("load", "loads") and name.split(".", 1)[0] in ("json", "yaml", "ujson", "simplejson")
            )
        ):
            if arg_labels & {CFG_FILE, CFG_TEXT, STDIN, CFG_PATH}:
                out.add(CFG)
            if arg_labels & {OTHER_FILE, OTHER_TEXT, OTHER_PATH}:
                out.add(OTHER_CFG)
        if last in _COPIES:
            src = recv_labels if (last == "copy" and receiver is not None and not call.args) else arg_labels
            out |= src & {CFG, OTHER_CFG, NS, OTHER_NS}
        if last in _NAMESPACES or name in _NAMESPACES:
            given = set(arg_labels)
            for kw in call.keywords:
                if kw.arg is None:
                    given |= self.labels(kw.value, fi, depth + 1)
            for a in call.args:
                if isinstance(a, ast.Starred):
                    given |= self.labels(a.value, fi, depth + 1)
            if CFG in given or NS in given:
                out.add(NS)
            if OTHER_CFG in given or OTHER_NS in given:
                out.add(OTHER_NS)
        if name in _PATH_FUNCS or last in ("joinpath", "with_name"):
            out |= path_labels(self.render(call, fi))
        for d in self.callees(call):
            node = d.node
            if isinstance(node, ast.ClassDef):
                continue
            out |= self.ret.get(id(node), _EMPTY)
        return frozenset(out)

    def render(self, node: ast.AST, fi: FileIndex) -> str | None:
        """The literal text of a string expression, names bound to one constant included."""
        scope = fi.scope_of.get(node, fi.module)

        def lookup(name: str) -> str | None:
            values = self.bindings(fi, scope, name)
            if len(values) == 1 and isinstance(values[0], ast.Constant) and isinstance(values[0].value, str):
                return values[0].value
            return None

        return render(node, lookup)

    def _flow(self) -> None:
        for _ in range(_ROUNDS):
            changed = False
            for fi in self.files:
                for scope, (target,), value, how in fi.assigns:
                    new = self.labels(value, fi)
                    if how == "for":
                        new = new & {STDIN}
                    if not new:
                        continue
                    key = self._key(fi, scope, target)
                    old = self.env.get(key, _EMPTY)
                    if not new <= old:
                        self.env[key] = old | new
                        changed = True
                for func, value in fi.returns:
                    new = self.labels(value, fi)
                    old = self.ret.get(id(func), _EMPTY)
                    if new and not new <= old:
                        self.ret[id(func)] = old | new
                        changed = True
                for call in fi.calls:
                    if not call.args and not call.keywords:
                        continue
                    targets = self.callees(call)
                    if not targets:
                        continue
                    bound = [(i, self.labels(a, fi)) for i, a in enumerate(call.args)]
                    named = [(kw.arg, self.labels(kw.value, fi)) for kw in call.keywords if kw.arg]
                    if not any(lab for _, lab in bound) and not any(lab for _, lab in named):
                        continue
                    for d in targets:
                        changed |= self._bind(d, bound, named)
            if not changed:
                return

    def _bind(self, d: _Def, bound: list[tuple[int, Labels]], named: list[tuple[str, Labels]]) -> bool:
        func: ast.AST = d.node
        skip = 0
        if isinstance(d.node, ast.ClassDef):
            init = next(
                (
                    s
                    for s in d.node.body
                    if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and s.name == "__init__"
                ),
                None,
            )
            if init is None:
                return False
            func, skip = init, 1
        elif isinstance(d.file.parents.get(d.node), ast.ClassDef):
            skip = 1  # a method called as obj.method(...): the first parameter is self
        assert isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef))
        params = [a.arg for a in [*func.args.posonlyargs, *func.args.args]][skip:]
        changed = False
        pairs = [(params[i], lab) for i, lab in bound if i < len(params)] + [
            (n, lab) for n, lab in named if n in params or n in [a.arg for a in func.args.kwonlyargs]
        ]
        for param, lab in pairs:
            if not lab:
                continue
            key = (id(func), param)
            old = self.env.get(key, _EMPTY)
            if not lab <= old:
                self.env[key] = old | lab
                changed = True
        return changed

    # -- iteration helpers --------------------------------------------------------------------------
    def nodes(
        self, kind: type[ast.AST] | tuple[type[ast.AST], ...], *, live: bool = True
    ) -> Iterator[tuple[FileIndex, ast.AST]]:
        """Every node of ``kind`` in every file, in file and position order; only live ones when ``live``."""
        kinds = kind if isinstance(kind, tuple) else (kind,)
        for fi in self.files:
            found = [n for k in kinds for n in fi.of(k)]
            if len(kinds) > 1:
                found.sort(key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0)))
            for n in found:
                if not live or self.is_live(n, fi):
                    yield fi, n
