"""SRC rules: predictions read from a script's sources, each with passing and failing examples."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from pie_conformance.findings import Finding, Severity
from pie_conformance.rules import CATALOGUE_BY_ID, all_rules, evaluate
from pie_conformance.rules.src import check_sources, runtime_installs_of, src_rule_ids
from pie_conformance.sources import read_sources, tree_from_texts

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "cases" / "src"
# The platform's guide, where the repository sits in the project's work folder (shared/ beside it).
GUIDE = next(
    (
        p / "shared" / "seeds" / "000_32cd91e7ff9dec1b.txt"
        for p in ROOT.parents
        if (p / "shared" / "seeds" / "000_32cd91e7ff9dec1b.txt").exists()
    ),
    ROOT / "missing-guide.txt",
)

# A script that is clean for every SRC rule; the tests add one fault at a time.
CLEAN = """\
import json
import os

params = json.loads(input())
epochs = int(params["epochs"])
for epoch in range(epochs):
    print(f"[Process: {epoch + 1}/{epochs}]", flush=True)
"""


def lint(files: dict[str, str] | str) -> list[Finding]:
    """The SRC findings of sources held in memory (one train.py when given a string)."""
    texts = {"train.py": files} if isinstance(files, str) else files
    return check_sources(tree_from_texts({k: textwrap.dedent(v) for k, v in texts.items()}))


def ids(files: dict[str, str] | str) -> list[str]:
    return [f.rule for f in lint(files)]


def with_clean(extra: str) -> str:
    return CLEAN + textwrap.dedent(extra)


# -- the family as a whole --------------------------------------------------------------------------
def test_family_is_registered_as_warnings_with_one_line_docstrings() -> None:
    registered = {r.id: r for r in all_rules()}
    for rid in src_rule_ids():
        r = registered[rid]
        assert r.severity is Severity.WARNING and CATALOGUE_BY_ID[rid][0] is Severity.WARNING
        doc = (r.check.__doc__ or "").strip()
        assert doc and "\n" not in doc, rid


def test_evaluate_through_the_registry_equals_check_sources() -> None:
    tree = tree_from_texts({"train.py": "import os\nx = os.getcwd() + 'output/'\n"})
    via_registry = [f.rule for f in evaluate(src_rule_ids(), tree)]
    assert via_registry == [f.rule for f in check_sources(tree)] == ["SRC001", "SRC005", "SRC006"]


def test_findings_name_file_and_line_and_read_as_file_colon_line() -> None:
    (f,) = lint(
        {"train.py": CLEAN + "import helpers\n", "helpers.py": "import os\nOUT = os.getcwd() + 'output'\n"}
    )
    assert (f.rule, f.path, f.line, f.where) == ("SRC005", "helpers.py", 2, "helpers.py:2")


@pytest.mark.parametrize("task", ["segmentation", "detection", "change_detection"])
def test_reference_scripts_have_no_finding(task: str) -> None:
    tree = read_sources(ROOT / "reference_scripts" / task)
    assert len(tree.parsed) >= 6 and not tree.unparsed
    assert check_sources(tree) == []


CASE_DIRS = sorted(p for p in CASES.glob("SRC*/*") if p.is_dir())


@pytest.mark.parametrize("case", CASE_DIRS, ids=[f"{p.parent.name}-{p.name}" for p in CASE_DIRS])
def test_case_folders_find_exactly_their_rule(case: Path) -> None:
    found = {f.rule for f in check_sources(read_sources(case))}
    expected = {case.parent.name} if case.name == "fail" else set()
    assert found == expected, [(f.rule, f.where, f.message) for f in check_sources(read_sources(case))]


def test_every_src_rule_has_a_passing_and_a_failing_case() -> None:
    assert {(p.parent.name, p.name) for p in CASE_DIRS} == {
        (rid, kind) for rid in src_rule_ids() for kind in ("pass", "fail")
    }


# -- the guide --------------------------------------------------------------------------------------
def _guide_snippets() -> dict[str, str]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("guide_snippets", ROOT / "tests/aiutils/guide_snippets.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {k: v for k, v in vars(module).items() if k.isupper() and isinstance(v, str)}


def test_guide_snippets_assembled_only_miss_the_progress_line_and_the_parameters() -> None:
    # The snippets read `params` without reading it from anywhere and never print a progress line: true.
    # Everything else in them (eval of label, downS3Weight, the data loaders) predicts nothing.
    source = "\n".join(_guide_snippets().values())
    assert sorted(ids(source)) == ["SRC001", "SRC006"]


@pytest.mark.skipif(not GUIDE.exists(), reason="the guide is not next to the repository")
def test_whole_guide_code_finds_its_two_glued_paths() -> None:
    blocks = re.findall(r"```\s*python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    found = lint("\n".join(blocks))
    assert [f.rule for f in found] == ["SRC005", "SRC005"]
    assert "outputSaveDir + model_name + '.th'" in found[0].message
    assert "outputSaveDir + 'trainlog' + '.json'" in found[1].message


# -- SRC001 -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "line",
    [
        'print(f"[Process: {k}/{n}]", flush=True)',
        'print("[Process: %d/%d]" % (k, n))',
        'print("[Process: {}/{}]".format(k, n))',
        'sys.stdout.write("[Process: " + str(k) + "/" + str(n) + "]\\n")',
        'print("[%s: %d/%d]" % ("Process", k, n))',
        'logger.info("[Process: %s/%s]", k, n)',
    ],
)
def test_src001_accepts_any_way_of_building_the_line(line: str) -> None:
    src = f"import json, sys\nparams = json.loads(input())\nk = n = 1\n{line}\n"
    assert ids(src) == []


def test_src001_names_a_near_miss_with_its_line() -> None:
    src = "import json\nparams = json.loads(input())\nprint('[process: %d/%d]' % (1, 2))\n"
    (f,) = lint(src)
    assert f.rule == "SRC001" and f.line == 3 and "[process: %d/%d]" in f.message


def test_src001_ignores_a_commented_out_progress_line() -> None:
    src = 'import json\nparams = json.loads(input())\n"""\nprint("[Process: 1/2]")\n"""\n'
    assert ids(src) == ["SRC001"]


def test_src001_and_src006_trust_a_file_that_does_not_parse() -> None:
    files = {"train.py": "import helpers\n", "helpers.py": "print '[Process: 1/1]'\nparams = input()\n"}
    assert ids(files) == []


# -- SRC002 -----------------------------------------------------------------------------------------
def test_src002_keys_hint_the_platform_key() -> None:
    found = lint(
        """\
        import json
        cfg = json.load(open("traincfg.json"))
        nc = cfg["nc"]
        bs = cfg["batch"]
        imgsz = cfg.get("img_size", 640)
        print("[Process: 1/1]")
        """
    )
    assert [(f.rule, f.line) for f in found] == [("SRC002", 3), ("SRC002", 4), ("SRC002", 5)]
    assert "'n_class'" in (found[0].hint or "") and "without background" in (found[0].hint or "")
    assert "'batch_size'" in (found[1].hint or "")
    assert "'load_size'" in (found[2].hint or "") and "default" in found[2].message


def test_src002_follows_the_parameters_through_functions_and_objects() -> None:
    files = {
        "train.py": """\
            from config import read_params
            from trainer import Trainer
            params = read_params()
            Trainer(params).fit()
            print("[Process: 1/1]")
            """,
        "config.py": """\
            import json, os
            CONFIG = "traincfg.json"
            def read_params():
                path = os.path.join(os.path.dirname(__file__), CONFIG)
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
                return json.loads(text)
            """,
        "trainer.py": """\
            from argparse import Namespace
            class Trainer:
                def __init__(self, cfg):
                    self.cfg = cfg
                    self.opt = Namespace(**cfg)
                def fit(self):
                    return self.cfg["num_classes"], self.opt.lr
            """,
    }
    found = lint(files)
    assert [(f.rule, f.path, f.line) for f in found] == [
        ("SRC002", "trainer.py", 7),
        ("SRC002", "trainer.py", 7),
    ]
    assert "'num_classes'" in found[0].message and "'lr'" in found[1].message
    assert "AttributeError" in found[1].message


def test_src002_a_config_file_the_platform_does_not_give() -> None:
    found = lint(
        """\
        import json
        with open("../traincfg_new.json") as f:
            data_dict = json.load(f)
        nc = data_dict["nc"]
        print("[Process: 1/1]")
        """
    )
    assert sorted((f.rule, f.line) for f in found) == [("SRC002", 2), ("SRC002", 4), ("SRC006", None)]
    assert "'../traincfg_new.json'" in found[0].message


def test_src002_leaves_other_dicts_and_argparse_alone() -> None:
    src = with_clean(
        """\
        import argparse
        parser = argparse.ArgumentParser()
        parser.add_argument("--nc", default=2)
        args = parser.parse_args()
        labels = [{"class_value": 1}]
        other = json.load(open("classes.json"))
        x = args.nc, labels[0]["class_value"], other["nc"], params["n_class"]
        """
    )
    assert ids(src) == []


def test_src002_a_name_reused_for_another_file_is_read_where_it_stands() -> None:
    src = """\
        import json
        data = json.load(open("traincfg.json"))
        n_class = int(data["n_class"])
        data = json.load(open("classes.json"))
        names = data["names"]
        print("[Process: 1/1]")
        """
    assert ids(src) == []
    assert ids(src.replace('int(data["n_class"])', 'int(data["nc"])')) == ["SRC002"]


def test_src002_one_finding_per_key() -> None:
    (f,) = lint(with_clean('a = params["nc"]\nb = params["nc"]\nc = params["nc"]\n'))
    assert "(and 2 more places)" in f.message


# -- SRC003 -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "code",
    [
        'os.system("pip install timm")',
        'os.system("pip3 install -q segmentation-models-pytorch==0.3.0")',
        'subprocess.run(["pip", "install", "-r", "requirements.txt"])',
        'import pip\npip.main(["install", "timm"])',
        'torch.hub.load("ultralytics/yolov5", "yolov5s", pretrained=True)',
        "from torch.hub import load_state_dict_from_url\nsd = load_state_dict_from_url(URL)",
        "from torch.utils import model_zoo\nsd = model_zoo.load_url(URL)",
        'm = torchvision.models.resnet50(weights="IMAGENET1K_V2")',
        "m = torchvision.models.resnet50(weights=ResNet50_Weights.DEFAULT)",
        'm = timm.create_model("resnet50", pretrained=True)',
        'import segmentation_models_pytorch as smp\nm = smp.Unet("resnet34")',
        'ds = torchvision.datasets.CIFAR10("data", download=True)',
        'r = requests.get("https://download.pytorch.org/models/resnet50.pth")',
        'urllib.request.urlretrieve("http://example.com/w.pth", "w.pth")',
        'os.system("wget https://github.com/x/y/releases/download/v1/w.pt")',
    ],
)
def test_src003_finds_installs_and_downloads(code: str) -> None:
    src = with_clean(
        "import os, subprocess, torch, torchvision, timm, requests, urllib.request\n" + code + "\n"
    )
    assert ids(src) == ["SRC003"]


@pytest.mark.parametrize(
    "code",
    [
        "m = torchvision.models.resnet50(pretrained=False)",
        "m = torchvision.models.resnet50(weights=None)",
        'm = torchvision.models.resnet50(weights="resnet50.pth")',
        'm = torch.hub.load("./yolov5", "custom", path="best.pt", source="local")',
        'import segmentation_models_pytorch as smp\nm = smp.Unet("resnet34", encoder_weights=None)',
        'r = requests.get("http://127.0.0.1:9000/health")',
        "r = requests.get(url)",
        'print("run: pip install timm")',
        'if False:\n    os.system("pip install timm")',
    ],
)
def test_src003_leaves_local_and_disabled_code_alone(code: str) -> None:
    src = with_clean("import os, torch, torchvision, requests\n" + code + "\n")
    assert ids(src) == []


def test_src003_conditional_download_is_found_at_the_call_that_enables_it() -> None:
    model = """\
        from torch.utils import model_zoo
        URLS = {"resnet34": "https://download.pytorch.org/models/resnet34.pth"}
        class Net:
            def __init__(self, pretrained=False):
                if pretrained:
                    self.load(model_zoo.load_url(URLS["resnet34"]))
        def resnet34(pretrained=False, **kwargs):
            return Net(pretrained=pretrained)
        """
    off = {"train.py": with_clean("from nets import resnet34\nm = resnet34()\n"), "nets.py": model}
    assert ids(off) == []
    on = {
        "train.py": with_clean("from nets import resnet34\nm = resnet34(pretrained=True)\n"),
        "nets.py": model,
    }
    (f,) = lint(on)
    assert (f.rule, f.path, f.line) == ("SRC003", "train.py", 9)
    assert "nets.py" in f.message and "load_url" in f.message


def test_src003_skips_files_train_py_never_imports_and_their_main_blocks() -> None:
    files = {
        "train.py": with_clean("import utils\nutils.prepare()\n"),
        "utils.py": "import os\ndef prepare():\n    pass\n"
        'if __name__ == "__main__":\n    os.system("pip install x")\n',
        "export.py": 'import torch\nm = torch.hub.load("ultralytics/yolov5", "yolov5s")\n',
    }
    assert ids(files) == []


def test_src003_judges_only_what_train_py_can_reach() -> None:
    tools = """\
        import os, torch
        def export_tpu():  # called only by export(), which nothing the run reaches calls
            os.system("apt-get install edgetpu-compiler")
        def export():
            export_tpu()
        def run(session):
            return session
        def fetch_font():
            torch.hub.download_url_to_file("https://example.com/Arial.ttf", "Arial.ttf")
        class Plotter(object):
            def __init__(self):
                fetch_font()
        """
    train = with_clean(
        """\
        import tools
        class Engine:
            def step(self, session):
                return session.run(None)  # a method of some object, not tools.run
        Engine().step(None)
        """
    )
    assert ids({"train.py": train, "tools.py": tools}) == []
    (f,) = lint({"train.py": train + "p = tools.Plotter()\n", "tools.py": tools})
    assert (f.rule, f.path, f.line) == ("SRC003", "tools.py", 9)


def test_runtime_installs_of_names_the_packages() -> None:
    tree = tree_from_texts(
        {
            "train.py": 'import os, sys, subprocess\nos.system("pip install -q timm==0.9 albumentations")\n'
            'subprocess.call([sys.executable, "-m", "pip", "install", "gdal"])\n'
        }
    )
    assert runtime_installs_of(tree) == {"timm", "albumentations", "gdal"}


# -- SRC004 -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "literal",
    [
        r'"D:\\data\\train"',
        r'r"C:\Users\me\weights.pth"',
        '"E:/datasets/voc"',
        r'"data\\train\\images"',
        r'"..\\weights\\best.pth"',
        r'"\\\\server\\share\\data"',
        r'f"D:\\out\\{name}.png"',
    ],
)
def test_src004_finds_windows_paths(literal: str) -> None:
    assert ids(with_clean(f"name = 'x'\np = {literal}\n")) == ["SRC004"]


@pytest.mark.parametrize(
    "code",
    [
        r'pattern = re.compile(r"\d+\.\d+")',
        r'p = path.replace("\\", "/")',
        r'parts = path.split("\\")',
        r'print("saved to D:\\out")',
        'if sys.platform == "win32":\n    root = "C:\\\\data"',
        r'newline = "\r\n"',
    ],
)
def test_src004_leaves_non_paths_alone(code: str) -> None:
    assert ids(with_clean("import re, sys\npath = 'a'\n" + code + "\n")) == []


# -- SRC005 -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "code",
    [
        'out = os.getcwd() + "output/"',
        'out = os.path.dirname(os.path.abspath(__file__)) + "output"',
        'log = os.path.join(base, "output") + "trainlog.json"',
        'w = "output" + model_name',
        'out_dir = base + "/output"\nw = out_dir + model_name + ".th"',
        'p = f"{os.getcwd()}output/picture"',
        'p = os.getcwd()\np += "output"',
    ],
)
def test_src005_finds_glued_paths(code: str) -> None:
    src = with_clean(f"base = os.getcwd()\nmodel_name = params['model_name']\n{code}\n")
    assert ids(src) == ["SRC005"]


@pytest.mark.parametrize(
    "code",
    [
        'out = os.getcwd() + "/output/"',
        'out = os.path.join(os.getcwd(), "output")',
        'w = os.path.join(base, "output", "files", model_name) + ".th"',
        'w = "output/" + model_name',
        'w = "output" + os.sep + model_name',
        'key = prefix + "output"',
        'print(os.getcwd() + " is the working directory")',
        'msg = "output" + ": done"',
    ],
)
def test_src005_leaves_joined_paths_alone(code: str) -> None:
    src = with_clean(f"base = os.getcwd()\nprefix = 'x'\nmodel_name = params['model_name']\n{code}\n")
    assert ids(src) == []


# -- SRC006 -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "code",
    [
        "params = json.loads(input())",
        "params = json.load(sys.stdin)",
        "params = json.loads(sys.stdin.readline())",
        'params = json.load(open("traincfg.json"))',
        'params = json.load(open(os.path.join(here, "traincfg.json")))',
        "from sys import stdin\nparams = json.loads(stdin.read())",
        'CFG = "traincfg" + ".json"',
    ],
)
def test_src006_accepts_every_way_of_reading_the_parameters(code: str) -> None:
    src = f"import json, os, sys\nhere = '.'\n{code}\nprint('[Process: 1/1]')\n"
    assert ids(src) == []


def test_src006_points_at_the_command_line_parser() -> None:
    (f,) = lint("import argparse\nargs = argparse.ArgumentParser().parse_args()\nprint('[Process: 1/1]')\n")
    assert (f.rule, f.line) == ("SRC006", 2) and "with none" in f.message
