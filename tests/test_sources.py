"""Reading a script's folder: which files, how they decode (PEP 263), and files that do not parse."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pie_conformance import sources
from pie_conformance.rules.src import check_sources
from pie_conformance.sources import parse_source, read_sources, tree_from_texts


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def test_reads_the_folder_recursively_and_skips_outputs_caches_and_environments(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "train.py": "import nets.model\n",
            "nets/__init__.py": "",
            "nets/model.py": "X = 1\n",
            "output/files/leftover.py": "raise SystemExit\n",
            "__pycache__/train.py": "",
            ".git/hooks/pre-commit.py": "",
            ".ipynb_checkpoints/train-checkpoint.py": "",
            "env/pyvenv.cfg": "home = /usr/bin\n",
            "env/lib/python3.11/site-packages/torch/__init__.py": "",
            "venv/lib/x.py": "",
            "data/readme.txt": "not python",
            "tools/output/helper.py": "Y = 2\n",  # only the top-level output/ holds results
        },
    )
    tree = read_sources(tmp_path)
    assert [f.path for f in tree.files] == [
        "nets/__init__.py",
        "nets/model.py",
        "tools/output/helper.py",
        "train.py",
    ] or sorted(f.path for f in tree.files) == [
        "nets/__init__.py",
        "nets/model.py",
        "tools/output/helper.py",
        "train.py",
    ]
    assert tree.root == str(tmp_path) and tree.entry_file is not None and not tree.unparsed


def test_a_file_path_reads_its_folder_with_that_file_as_the_entry(tmp_path: Path) -> None:
    write(tmp_path, {"main.py": "x = 1\n", "other.py": "y = 2\n"})
    tree = read_sources(tmp_path / "main.py")
    assert tree.entry == "main.py" and tree.entry_file is not None and len(tree.files) == 2


def test_no_such_path_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        read_sources(tmp_path / "nope")


def test_links_are_followed_as_an_upload_follows_them(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    inside = tmp_path / "script"
    write(outside, {"secret.py": "TOKEN = 1\n", "pkg/mod.py": "Z = 1\n"})
    write(inside, {"train.py": "x = 1\n", "real/mod.py": "W = 1\n"})
    os.symlink(outside / "secret.py", inside / "secret.py")
    os.symlink(outside / "pkg", inside / "pkg")
    os.symlink(inside / "real" / "mod.py", inside / "alias.py")
    os.symlink(inside, inside / "loop")  # a cycle back to the folder itself
    tree = read_sources(inside)
    # A helper linked in from outside travels with the folder on upload, so it is read; the cycle once.
    assert sorted(f.path for f in tree.files) == ["alias.py", "pkg/mod.py", "real/mod.py", "secret.py",
                                                  "train.py"]
    assert tree.skipped == ()


def test_limits_on_size_and_count_are_kept_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, {"train.py": "x = 1\n", "big.py": "#" * 200 + "\n", **{f"m{i}.py": "" for i in range(5)}})
    monkeypatch.setattr(sources, "MAX_FILE_BYTES", 100)
    monkeypatch.setattr(sources, "MAX_FILES", 4)
    tree = read_sources(tmp_path)
    assert len(tree.files) == 4
    reasons = {s.path: s.reason for s in tree.skipped}
    assert "over the limit of 100" in reasons["big.py"]
    assert sum("over the limit of 4 files" in r for r in reasons.values()) == 2
    assert any(n.startswith("big.py: not read") for n in tree.notes())


def test_pep_263_cookie_bom_and_undeclared_encodings() -> None:
    gbk = "# -*- coding: gbk -*-\nname = '训练'\n".encode("gbk")
    f = parse_source("a.py", gbk)
    assert f.parsed and f.encoding == "gbk" and "训练" in f.text
    bom = parse_source("b.py", b"\xef\xbb\xbfx = 1\n")
    assert bom.parsed and bom.text == "x = 1\n"
    bad = parse_source("c.py", "x = 1\ny = '训练'\n".encode("gbk"))
    assert not bad.parsed and bad.error is not None
    assert bad.error.line == 2 and "Non-UTF-8" in bad.error.message and "coding" in (bad.error.hint or "")
    unknown = parse_source("d.py", b"# -*- coding: klingon -*-\nx = 1\n")
    assert not unknown.parsed and unknown.error is not None and unknown.error.line == 1


def test_syntax_errors_are_kept_with_line_and_hint() -> None:
    nb = parse_source("train.py", "import os\n!pip install timm\n")
    assert not nb.parsed and nb.error is not None and nb.error.line == 2
    assert "notebook" in (nb.error.hint or "")
    py2 = parse_source("old.py", "print 'hello'\n")
    assert py2.error is not None and "Python 2" in (py2.error.hint or "")
    nul = parse_source("nul.py", b"x = 1\n\0\n")
    assert not nul.parsed and nul.error is not None
    tree = tree_from_texts({"train.py": "x = 1\n", "broken.py": "def f(:\n"})
    assert [f.path for f in tree.unparsed] == ["broken.py"]
    (note,) = tree.notes()
    assert note.startswith("broken.py:1: does not parse (SyntaxError:") and "`python train.py`" in note


def test_deep_nesting_is_an_unparsed_file_not_a_crash() -> None:
    deep = parse_source("deep.py", "x = " + "(" * 5000 + "1" + ")" * 5000 + "\n")
    assert not deep.parsed and deep.error is not None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_any_bytes_parse_or_become_an_unparsed_file(data: bytes) -> None:
    f = parse_source("train.py", data)
    assert (f.module is None) == (f.error is not None)
    check_sources(tree_from_texts({"train.py": data}))


# Python that parses: statements built from the pieces the rules look at (paths, calls, keys, strings).
_NAMES = ["params", "cfg", "args", "base", "out", "f", "x", "model_name", "os", "sys", "self.cfg"]
_STRINGS = [
    "traincfg.json",
    "../traincfg_new.json",
    "output",
    "output/",
    "/output",
    "D:\\data",
    "data\\train",
    "nc",
    "n_class",
    "[Process: ",
    "pip install timm",
    "https://example.com/w.pth",
    "http://127.0.0.1:9/x",
    "",
    "\\",
    "imagenet",
]
_FUNCS = [
    "open",
    "input",
    "json.load",
    "json.loads",
    "os.path.join",
    "os.getcwd",
    "os.system",
    "eval",
    "torch.hub.load",
    "requests.get",
    "print",
    "Namespace",
    "resnet50",
    "f",
    "smp.Unet",
    "x.get",
]


def _exprs() -> st.SearchStrategy[str]:
    leaves = st.one_of(
        st.sampled_from(_NAMES),
        st.sampled_from(_STRINGS).map(repr),
        st.sampled_from(["True", "False", "None", "0", "1"]),
    )

    def extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        kwargs = st.sampled_from(
            ["", "pretrained=True", "download=True", "weights='DEFAULT'", "source='local'"]
        )
        return st.one_of(
            st.builds("({} + {})".format, children, children),
            st.builds("{}[{}]".format, children, children),
            st.builds("({}).{}".format, children, st.sampled_from(["get", "lr", "read", "nc"])),
            st.builds(
                lambda fn, args, kw: f"{fn}({', '.join([*args, kw] if kw else args)})",
                st.sampled_from(_FUNCS),
                st.lists(children, max_size=3),
                kwargs,
            ),
            st.builds(
                lambda a, b: f"f'{{{a}}}{b}'", st.sampled_from(_NAMES), st.sampled_from(["output", "/x", ""])
            ),
        )

    return st.recursive(leaves, extend, max_leaves=8)


EXPRS = _exprs()
_HEADS = st.one_of(
    st.builds("if {}:".format, EXPRS),
    st.sampled_from(
        [
            "def f(pretrained=False):",
            "def resnet50(pretrained=False):",
            "def main():",
            "class Net(nn.Module):",
            'if __name__ == "__main__":',
            "if False:",
            "try:",
        ]
    ),
    st.builds("with {} as f:".format, EXPRS),
    st.builds("for x in {}:".format, EXPRS),
)


def _simple(pad: str) -> st.SearchStrategy[list[str]]:
    target = st.sampled_from(_NAMES)
    return st.one_of(
        st.builds(lambda t, v: [f"{pad}{t} = {v}"], target, EXPRS),
        st.builds(lambda v: [f"{pad}{v}"], EXPRS),
        st.builds(lambda t, v: [f"{pad}{t} += {v}"], target, EXPRS),
    )


def _compound(pad: str, inner: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    def build(head: str, bodies: list[list[str]]) -> list[str]:
        body = [ln for b in bodies for ln in b]
        if head.startswith("class "):
            # a method holds the body: one more level of indentation
            return [pad + head, pad + "    def __init__(self, cfg):"] + ["    " + ln for ln in body]
        lines = [pad + head, *body]
        if head == "try:":
            lines += [pad + "except Exception:", pad + "    pass"]
        return lines

    return st.builds(build, _HEADS, st.lists(inner, min_size=1, max_size=3))


_LEVEL2 = _simple(" " * 8)
_LEVEL1 = st.one_of(_simple(" " * 4), _compound(" " * 4, _LEVEL2))
_LEVEL0 = st.one_of(_simple(""), _compound("", _LEVEL1))
PROGRAMS = st.lists(_LEVEL0, min_size=1, max_size=6).map(
    lambda bs: "\n".join(ln for b in bs for ln in b) + "\n"
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PROGRAMS, PROGRAMS)
def test_the_rules_never_fail_on_python_that_parses(main: str, helper: str) -> None:
    files = {"train.py": "import helper\n" + main, "helper.py": helper}
    tree = tree_from_texts(files)
    assert not tree.unparsed, [(f.path, f.error) for f in tree.unparsed]
    for finding in check_sources(tree):
        assert finding.rule.startswith("SRC") and finding.message
        assert finding.path is None or finding.path in files
