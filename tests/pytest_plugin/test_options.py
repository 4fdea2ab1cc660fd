"""The ``pie`` option group: ini twins, value checks and usage errors that name the option."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pie_conformance._pytest_options import OPTIONS, OptionValueError, check_marker_kwargs, parse_size

pytest_plugins = ["pytester"]


def test_every_option_has_an_ini_twin_with_the_same_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    out = result.stdout.str()
    assert "PIE-Engine train.py conformance" in out
    for spec in OPTIONS:
        assert spec.flag in out
        assert f"{spec.ini} (" in out  # the ini section lists "pie_epochs (string):" and friends
        assert spec.ini == spec.flag[2:].replace("-", "_")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pie-epochs", "0"], "--pie-epochs: expected an integer >= 1, got 0"),
        (["--pie-epochs", "two"], "--pie-epochs: expected an integer >= 1, got 'two'"),
        (
            ["--pie-task", "foo"],
            "--pie-task: expected one of segmentation, detection, change_detection, got 'foo'",
        ),
        (["--pie-task", "segmentaton"], "(did you mean 'segmentation'?)"),
        (["--pie-gpu-num", "-1"], "--pie-gpu-num: expected an integer >= 0, got -1"),
        (["--pie-timeout", "0"], "--pie-timeout: expected a number of seconds > 0, got '0'"),
        (["--pie-timeout", "nan"], "--pie-timeout: expected a number of seconds > 0"),
        (["--pie-size", "64"], "--pie-size: expected a size WxH such as 64x64, got '64'"),
        (["--pie-images", "0"], "--pie-images: expected an integer >= 1, got 0"),
        (["--pie-scenario", "resume_partial"], "(did you mean 'resume-partial'?)"),
        (
            ["--pie-script", "missing/train.py", "--pie-task", "detection"],
            "--pie-script: no such file: missing/train.py",
        ),
    ],
)
def test_bad_values_are_usage_errors_naming_the_option(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "Traceback" not in result.stderr.str()


def test_bad_ini_values_name_the_ini_option(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\npie_epochs = 0\n")
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "ini option pie_epochs: expected an integer >= 1, got 0" in result.stderr.str()


def test_command_line_wins_over_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\npie_epochs = 0\n")
    pytester.makepyfile("def test_ok():\n    pass\n")
    assert pytester.runpytest("--pie-epochs", "3").ret == 0


def test_unknown_ini_option_is_refused_with_the_closest_name(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\npie_epoch = 3\n")
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown ini option pie_epoch (did you mean pie_epochs?)" in result.stderr.str()


def test_unknown_command_line_option_is_named(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest("--pie-epoch", "3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unrecognized arguments: --pie-epoch" in result.stderr.str()


def test_a_folder_without_train_py_is_refused(pytester: pytest.Pytester) -> None:
    pytester.mkdir("empty")
    result = pytester.runpytest("--pie-script", "empty", "--pie-task", "segmentation")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--pie-script: expected a train.py or a folder holding one, got empty (no train.py in it)" in (
        result.stderr.str()
    )


def test_a_script_needs_a_task(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(train="print('hi')\n")
    result = pytester.runpytest("--pie-script", "train.py")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--pie-script needs the task of the script: add --pie-task" in result.stderr.str()


def test_ini_script_paths_are_relative_to_the_ini_file(pytester: pytest.Pytester) -> None:
    sub = pytester.mkdir("scripts")
    (sub / "train.py").write_text("print('hi')\n")
    pytester.makeini("[pytest]\npie_script = scripts/train.py\npie_task = detection\n")
    result = pytester.runpytest("--collect-only", "-q")
    assert result.ret == 0
    assert "scripts/train.py::baseline::PRG001" in result.stdout.str()


def test_unknown_and_bad_marker_arguments_name_the_argument(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.pie(tsk="detection")
        def test_typo():
            pass

        @pytest.mark.pie(epochs=0)
        def test_bad_value():
            pass

        @pytest.mark.pie("detection")
        def test_positional():
            pass

        @pytest.mark.pie(task="detection", images=2, size="32x48", epochs=1)
        def test_fine():
            pass
        """
    )
    result = pytester.runpytest("-rE")
    result.assert_outcomes(passed=1, errors=3)
    out = result.stdout.str()
    assert "@pytest.mark.pie got an unknown argument 'tsk' (did you mean task?)" in out
    assert "@pytest.mark.pie(epochs=...): expected an integer >= 1, got 0" in out
    assert "@pytest.mark.pie takes keyword arguments only" in out


def test_marker_is_registered_with_its_signature(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.pie(task=None, images=None, *epochs=None*"])


def test_marker_kwargs_checks() -> None:
    assert check_marker_kwargs((), {"task": "detection", "size": (32, 16), "classes": 2}, "t") == {
        "task": "detection",
        "size": (32, 16),
        "classes": 2,
    }
    with pytest.raises(OptionValueError, match="expected an integer, got True"):
        check_marker_kwargs((), {"images": True}, "t")
    with pytest.raises(OptionValueError, match="expected one of png, jpg, tif"):
        check_marker_kwargs((), {"format": "gif"}, "t")
    assert parse_size("48x32") == (48, 32)
    assert parse_size("48,32") == (48, 32)
    with pytest.raises(OptionValueError):
        parse_size("0x32")


def test_plugin_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, pie_conformance.pytest_plugin\n"
        "heavy = [m for m in ('torch', 'moto', 'boto3', 'botocore', 'PIL', 'numpy', 'jsonschema') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""
