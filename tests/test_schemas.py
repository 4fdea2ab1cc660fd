"""The shipped JSON Schemas: loadable by name, valid 2020-12, documented, with the guide's examples."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from pie_conformance.cli import main
from pie_conformance.errors import UsageError
from pie_conformance.schemas import load_schema, schema_names, schema_text

ROOT = Path(__file__).parents[1]
SEED = ROOT / ".." / "shared" / "seeds" / "000_32cd91e7ff9dec1b.txt"


def test_names() -> None:
    assert schema_names() == ["report", "traincfg", "trainlog"]


@pytest.mark.parametrize("name", ["report", "traincfg", "trainlog"])
def test_schema_is_a_documented_2020_12_schema(name: str) -> None:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] and schema["title"] and schema["description"]
    for key, sub in schema["properties"].items():
        assert sub.get("description"), f"{name}.{key} has no description"
    for examples in schema["examples"]:
        Draft202012Validator(schema).validate(examples)


@pytest.mark.parametrize("name", ["report", "traincfg", "trainlog"])
def test_loaded_from_the_package_equal_to_the_top_level_file(name: str) -> None:
    on_disk = (ROOT / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8")
    assert json.loads(on_disk) == load_schema(name)


def test_each_load_is_a_fresh_copy() -> None:
    load_schema("traincfg")["title"] = "changed"
    assert load_schema("traincfg")["title"] != "changed"


def test_unknown_name_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="traincfg, trainlog"):
        schema_text("nope")


def test_traincfg_schema_requires_every_contract_key() -> None:
    from pie_conformance.traincfg import REQUIRED_KEYS

    assert set(load_schema("traincfg")["required"]) == set(REQUIRED_KEYS)


@pytest.mark.skipif(not SEED.exists(), reason="the platform guide is not next to the repository")
def test_examples_are_the_guides_own() -> None:
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", SEED.read_text(encoding="utf-8"), re.S)]
    assert load_schema("traincfg")["examples"] == [blocks[0]]
    assert load_schema("trainlog")["examples"] == [blocks[1]]


@pytest.mark.parametrize("name", ["report", "traincfg", "trainlog"])
def test_schema_command_prints_it(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", name]) == 0
    assert json.loads(capsys.readouterr().out) == load_schema(name)
