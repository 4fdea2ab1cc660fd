"""The ``pie_s3``, ``pie_dataset`` and ``pie_aiutils`` fixtures, used as a team's own tests use them."""

from __future__ import annotations

import json
import os
import sys

import pytest

from pie_conformance._pytest_fixtures import PieDataset

pytest_plugins = ["pytester"]


@pytest.mark.pie(task="detection", images=3, valid_images=2, size=(48, 32), epochs=5)
def test_dataset_follows_the_marker_and_lies_in_the_mock(pie_s3, pie_dataset) -> None:
    import boto3

    ds = pie_dataset()
    assert isinstance(ds, PieDataset)
    assert ds.task == "detection"
    assert ds.path == f"s3://pie-engine-ai/{ds.prefix}" and ds.path.endswith("/")
    assert ds.prefix.startswith("devel/") and f"/dataset/recognition/{ds.dataset_id}/" in ds.prefix
    assert ds.traincfg["dataset_id"] == ds.dataset_id
    assert ds.traincfg["epochs"] == 5
    assert ds.traincfg["load_size"] == "48,32"
    assert [c["class_name"] for c in json.loads(ds.label)] == ds.class_names
    assert len(ds.keys("train")) == 3 * 2 and len(ds.keys("valid")) == 2 * 2  # images and XML labels

    client = boto3.client(
        "s3",
        endpoint_url=pie_s3.endpoint_url,
        aws_access_key_id="pie-kit-access-key",
        aws_secret_access_key="pie-kit-secret-key",
        region_name="us-east-1",
    )
    listed = client.list_objects_v2(Bucket="pie-engine-ai", Prefix=ds.prefix)
    assert sorted(o["Key"] for o in listed["Contents"]) == sorted(ds.keys("train") + ds.keys("valid"))


def test_factory_arguments_override_the_defaults(pie_dataset) -> None:
    seg = pie_dataset(task="segmentation", images=2, size="40x24", classes=5, format="jpg", learning_rate=0.5)
    assert seg.traincfg["learning_rate"] == 0.5
    assert seg.traincfg["load_size"] == "40,24"
    assert seg.class_names[0] == "background" and len(seg.class_names) == 6
    assert len({c.value for c in seg.labels}) == 6 and len({c.color for c in seg.labels}) == 6
    assert all(k.endswith(".jpg") for k in seg.keys("train") if "/images/" in k)
    other = pie_dataset(task="change_detection", images=1)
    assert other.dataset_id != seg.dataset_id
    with pytest.raises(ValueError, match=r"pie_dataset\(task=...\): expected one of segmentation"):
        pie_dataset(task="classification")


def test_s3_is_one_server_per_session_emptied_between_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import boto3

        def client(server):
            return boto3.client("s3", endpoint_url=server.endpoint_url, region_name="us-east-1",
                                aws_access_key_id="pie-kit-access-key",
                                aws_secret_access_key="pie-kit-secret-key")

        seen = []

        def test_first(pie_s3, pie_dataset):
            seen.append(pie_s3.endpoint_url)
            pie_dataset(images=1)
            assert client(pie_s3).list_objects_v2(Bucket="pie-engine-ai").get("KeyCount", 0) > 0

        def test_second(pie_s3):
            seen.append(pie_s3.endpoint_url)
            assert seen[0] == seen[1]
            buckets = client(pie_s3).list_buckets()["Buckets"]
            assert all(client(pie_s3).list_objects_v2(Bucket=b["Name"]).get("KeyCount", 0) == 0
                       for b in buckets)
            assert not any(r.op == "PUT" for r in pie_s3.requests())  # the first test's uploads are forgotten
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_options_are_the_fixture_defaults_and_the_marker_wins(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_from_options(pie_dataset):
            ds = pie_dataset()
            got = (ds.task, ds.traincfg["epochs"], ds.traincfg["load_size"])
            assert got == ("change_detection", 3, "32,32")

        @pytest.mark.pie(task="segmentation")
        class TestMarked:
            @pytest.mark.pie(epochs=1)
            def test_closest_marker_wins(self, pie_dataset):
                ds = pie_dataset()
                assert (ds.task, ds.traincfg["epochs"]) == ("segmentation", 1)
        """
    )
    result = pytester.runpytest("--pie-task", "change_detection", "--pie-epochs", "3", "--pie-size", "32x32")
    result.assert_outcomes(passed=2)


GUIDE_STYLE_TEST = """
import io
import json
import os
import sys

import numpy as np
import pytest
import torch
import torch.utils.data as data
from PIL import Image
from torch.utils.data import DataLoader


@pytest.mark.pie(task="segmentation", images=4, size=(32, 32))
def test_guide_dataset(pie_dataset, pie_aiutils):
    ds = pie_dataset()
    from aiUtils import aiUtils

    s3Client = aiUtils.s3GetImg()  # no id: AI_DATASET_ID, as in a notebook
    dataset_path = s3Client.path
    assert dataset_path == ds.path

    # The guide's ImageDataset (section 1.3.2), unchanged.
    class ImageDataset(data.Dataset):

        def __init__(self, path, s3Client):
            path = "/".join(path.split("/")[3:])
            self.images = s3Client.getImages(path + "images")

        def __getitem__(self, index):
            image_path = self.images[index]
            label_path = image_path.replace('images', 'labels')
            imgBody = s3Client.getImgXmlArray(image_path)
            pillowImage = Image.open(io.BytesIO(imgBody))
            img = np.asarray(pillowImage)
            labelBody = s3Client.getImgXmlArray(label_path)
            pillowLable = Image.open(io.BytesIO(labelBody))
            label = np.asarray(pillowLable)
            return torch.Tensor(img), torch.Tensor(label)

        def __len__(self):
            return len(self.images)

    batch_size = 2
    train_dataset = ImageDataset(dataset_path + "train/", s3Client)
    train_data_loader = DataLoader(train_dataset, batch_size=batch_size, shuffle=True, num_workers=0)
    valid_dataset = ImageDataset(dataset_path + "valid/", s3Client)
    valid_data_loader = DataLoader(valid_dataset, batch_size=batch_size, shuffle=True, num_workers=0)

    values = {c["class_value"] for c in json.loads(ds.traincfg["label"])}
    seen = 0
    for img, label in train_data_loader:
        assert img.shape[1:3] == (32, 32) and label.shape[1:] == (32, 32)
        assert {int(v) for v in label.unique()} <= values
        seen += img.shape[0]
    assert seen == 4
    assert len(valid_dataset) == 2 and len(list(valid_data_loader)) == 1
    sys.modules["aiUtils"].__dict__["_seen_by_test"] = True


def test_teardown_undid_everything():
    assert "aiUtils" not in sys.modules
    assert not any(name.startswith("aiUtils.") for name in sys.modules)
    assert "AI_DATASET_ID" not in os.environ and "PIE_DATASET_REGISTRY" not in os.environ
    assert not any(p.endswith("aiutils_shim") for p in sys.path)
"""


def test_guide_style_user_test_runs_in_process(pytester: pytest.Pytester) -> None:
    # In-process: the user's test imports aiUtils into this very interpreter, then teardown removes it.
    before = set(sys.modules)
    env_before = dict(os.environ)
    pytester.makepyfile(test_guide=GUIDE_STYLE_TEST)
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)
    assert "aiUtils" not in set(sys.modules) - before
    assert {k: v for k, v in os.environ.items() if k.startswith(("AI_", "PIE_"))} == {
        k: v for k, v in env_before.items() if k.startswith(("AI_", "PIE_"))
    }


def test_aiutils_follows_the_latest_dataset_and_use_switches(pie_dataset, pie_aiutils) -> None:
    first = pie_dataset(task="segmentation", images=1)
    assert pie_aiutils.dataset == first and os.environ["AI_DATASET_ID"] == first.dataset_id
    second = pie_dataset(task="change_detection", images=1)
    from aiUtils import aiUtils

    assert aiUtils.s3GetImg().path == second.path
    assert aiUtils.s3GetImg(first.dataset_id).path == first.path  # every dataset of the test is known
    pie_aiutils.use(first)
    assert aiUtils.s3GetImg().path == first.path
    assert pie_aiutils.env["AI_DATASET_ID"] == first.dataset_id


def test_a_test_that_writes_into_its_dataset_errors_at_teardown(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import boto3
        import pytest


        def put(server, key):
            s3 = boto3.client("s3", endpoint_url=server.endpoint_url, region_name="us-east-1",
                              aws_access_key_id="pie-kit-access-key",
                              aws_secret_access_key="pie-kit-secret-key")
            s3.put_object(Bucket="pie-engine-ai", Key=key, Body=b"x")


        def test_writes(pie_s3, pie_dataset):
            ds = pie_dataset(images=1)
            put(pie_s3, ds.prefix + "train/images/extra.png")


        @pytest.mark.pie(readonly=False)
        def test_writes_on_purpose(pie_s3, pie_dataset):
            ds = pie_dataset(images=1)
            put(pie_s3, ds.prefix + "train/images/extra.png")


        def test_reads_only(pie_dataset):
            pie_dataset(images=1)
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=3, errors=1)
    out = result.stdout.str()
    assert "ERROR at teardown of test_writes" in out
    assert "expected the test to leave its datasets unchanged" in out
    assert "1 added (train/images/extra.png)" in out


# -- without the [run] extra or torch: the plugin loads, and each fixture says what to install ---------------

_USES_FIXTURES = """
def test_plain():
    pass

def test_s3(pie_s3):
    pass

def test_dataset(pie_dataset):
    pass

def test_run(pie_run):
    pass
"""


def test_fixtures_without_the_run_extra_name_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A None entry in sys.modules makes the module unimportable and unfindable, as if not installed.
    monkeypatch.setitem(sys.modules, "moto", None)
    pytester.makepyfile(_USES_FIXTURES)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=3)
    out = result.stdout.str()
    assert (
        "the pie_s3 fixture (used by pie_dataset and pie_aiutils) needs the kit's [run] extra "
        "(moto missing): pip install 'pie-conformance[run]'" in out
    )
    assert "the pie_run fixture needs the kit's [run] extra (moto missing)" in out
    assert "During handling" not in out


def test_pie_run_without_torch_says_how_to_install_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    pytester.makepyfile("def test_run(pie_run):\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    assert "the pie_run fixture needs torch, which is not installed here; " in out
    assert "`pip install torch`" in out


def test_pie_script_without_the_run_extra_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    pytester.makepyfile(train="print('hi')\n")
    result = pytester.runpytest("--pie-script", "train.py", "--pie-task", "segmentation")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--pie-script needs the kit's [run] extra (boto3 missing)" in result.stderr.str()
