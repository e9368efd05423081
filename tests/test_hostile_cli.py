"""Hostile input to the CLI (``ebana netlist | devices fit | report | evaluate | train``): ignored
options, overwritten files, misleading messages, keys given twice. Each bad input gets one
``Error: ...`` line naming what is wrong and exit code 1."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from ebana import builder
from ebana.cli import cli
from ebana.config import TrainConfig, from_dict, preset
from ebana.deploy import evaluate_checkpoint
from ebana.errors import ConfigError
from ebana.local import parse_items
from ebana.training import Trainer

ROOT = Path(__file__).resolve().parents[1]
FEFET = ROOT / "device_models" / "measured" / "example_fefet.csv"


def _cli(args: list[str]):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _error(res, *words: str) -> str:
    """The one ``Error:`` line of a refused command; it must name every word."""
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 1, res.output
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    assert "Traceback" not in res.output
    for w in words:
        assert w in lines[0], f"{w!r} not in {lines[0]!r}"
    return lines[0]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """An IRIS run trained 1 epoch."""
    out = tmp_path_factory.mktemp("hostile") / "iris"
    Trainer(TrainConfig(dataset="iris", epochs=1), out).run()
    return out


# 1. netlist --checkpoint with options of a fresh network
@pytest.mark.parametrize("extra,name", [(["--hidden", "5"], "--hidden"), (["--dataset", "digits"], "--dataset"),
                                        (["--seed", "3"], "--seed"), (["--seed", "0"], "--seed"),
                                        (["--residual"], "--residual"), (["--set", "circuit.gain=3"], "--set")])
def test_netlist_checkpoint_refuses_fresh_network_options(run, tmp_path, extra, name):
    out = tmp_path / "x.cir"
    _error(_cli(["netlist", "--checkpoint", run, *extra, "--out", out]), name, "--checkpoint")
    assert not out.exists()


def test_netlist_checkpoint_takes_data_dir(run, tmp_path):
    out = tmp_path / "x.cir"
    res = _cli(["netlist", "--checkpoint", run, "--data-dir", tmp_path, "--out", out])
    assert res.exit_code == 0, res.output
    assert out.exists()


# 2. existing files are replaced only with --overwrite
def test_netlist_refuses_an_existing_out(tmp_path):
    out = tmp_path / "nl" / "keep.cir"
    out.parent.mkdir()
    out.write_text("keep\n")
    _error(_cli(["netlist", "--out", out]), str(out), "--overwrite")
    assert out.read_text() == "keep\n"
    res = _cli(["netlist", "--out", out, "--overwrite"])
    assert res.exit_code == 0, res.output
    assert out.read_text().startswith("*")


@pytest.mark.parametrize("existing", ["keep.toml", "keep.png"])
def test_devices_fit_refuses_an_existing_model_or_figure(tmp_path, existing):
    data = tmp_path / "m.csv"
    shutil.copyfile(FEFET, data)
    (tmp_path / "fit").mkdir()
    (tmp_path / "fit" / existing).write_text("keep\n")
    out = tmp_path / "fit" / "keep.toml"
    _error(_cli(["devices", "fit", data, "--out", out]), str(tmp_path / "fit" / existing), "--overwrite")
    assert (tmp_path / "fit" / existing).read_text() == "keep\n"
    assert len(list((tmp_path / "fit").iterdir())) == 1
    res = _cli(["devices", "fit", data, "--out", out, "--overwrite"])
    assert res.exit_code == 0, res.output
    assert out.read_text() != "keep\n" and out.with_suffix(".png").stat().st_size > 1000


def test_devices_fit_refuses_its_default_out_when_it_exists(tmp_path):
    data = tmp_path / "m.csv"
    shutil.copyfile(FEFET, data)
    data.with_suffix(".toml").write_text("keep\n")
    _error(_cli(["devices", "fit", data]), str(data.with_suffix(".toml")))
    assert data.with_suffix(".toml").read_text() == "keep\n"


def test_report_refuses_an_existing_out(run, tmp_path):
    out = tmp_path / "r.html"
    out.write_text("keep\n")
    _error(_cli(["report", run, "--out", out]), str(out), "--overwrite")
    assert out.read_text() == "keep\n"
    assert _cli(["report", run, "--out", out, "--overwrite"]).exit_code == 0
    assert out.read_text() != "keep\n"


def test_committed_commands_that_regenerate_committed_files_pass_overwrite():
    """netlists/make.sh and the README / experiment fit commands rewrite committed files in place."""
    for line in (ROOT / "netlists" / "make.sh").read_text().splitlines():
        if line.startswith("ebana netlist"):
            assert "--overwrite" in line, line
    for doc in ("README.md", "experiments/pulse_width_tradeoff/README.md", "experiments/pulse_width_tradeoff/sweep.toml"):
        for line in (ROOT / doc).read_text().splitlines():
            if "ebana devices fit device_models/measured/example_fefet.csv" in line and "--out" not in line:
                assert "--overwrite" in line, f"{doc}: {line}"


# 3. a path component that is a file
@pytest.mark.parametrize("cmd", ["netlist", "fit", "report"])
def test_out_below_a_file_names_that_file(run, tmp_path, cmd):
    blocker = tmp_path / "afile"
    blocker.write_text("x\n")
    data = tmp_path / "m.csv"
    shutil.copyfile(FEFET, data)
    args = {"netlist": ["netlist", "--out", blocker / "sub" / "x.cir"],
            "fit": ["devices", "fit", data, "--out", blocker / "x.toml"],
            "report": ["report", run, "--out", blocker / "x.html"]}[cmd]
    line = _error(_cli(args), f"{blocker} is not a directory")
    assert "File exists" not in line


# 4. --set hidden=5 means --hidden 5
def test_set_hidden_takes_one_integer(tmp_path):
    assert from_dict({"hidden": 5}).hidden == (5,)
    assert from_dict({"hidden": 5}) == from_dict({"hidden": "5"})
    with pytest.raises(ConfigError, match="hidden"):
        from_dict({"hidden": True})
    with pytest.raises(ConfigError, match="hidden layer 1 has size 0"):
        from_dict({"hidden": 0})
    res = _cli(["netlist", "--set", "hidden=5", "--out", tmp_path / "x.cir"])
    assert res.exit_code == 0 and "4x2-5-3x2" in res.output, res.output


# 5. --set without a key
@pytest.mark.parametrize("item", ["=3", " = 3"])
def test_set_without_a_key_names_the_text(tmp_path, item):
    _error(_cli(["train", "iris", "--set", item, "--out", tmp_path / "r"]), repr(item), "key")
    assert not (tmp_path / "r").exists()


# 6. evaluate refuses keys a read-out ignores
@pytest.mark.parametrize("item,key", [("epochs=5", "epochs"), ("circuit.g_max=1e-3", "circuit.g_max"),
                                      ("device.model=yakopcic", "device.model"), ("lr=1e-6", "lr"),
                                      ("nonideal.read_noise=0.01", "nonideal.read_noise"),
                                      ("circuit.g_min=1e-8", "circuit.g_min")])
def test_evaluate_refuses_keys_without_effect(run, item, key):
    _error(_cli(["evaluate", run, "--set", item]), key, "evaluate")


def test_evaluate_keeps_the_keys_that_change_a_readout(run):
    base = evaluate_checkpoint(run, {})
    lines = {"circuit.r_wordline": 5000.0, "circuit.r_bitline": 5000.0}
    assert evaluate_checkpoint(run, lines) != base
    row = evaluate_checkpoint(run, {**lines, "circuit.line_compensation": "row_drive"})
    wide = evaluate_checkpoint(run, {**lines, "circuit.line_compensation": "row_drive", "circuit.g_max": 3e-5})
    assert wide != row   # g_max sets the row_drive reference G_ref
    assert evaluate_checkpoint(run, {"tau": 0.02}) != base
    res = _cli(["evaluate", run, "--set", "circuit.r_wordline=500"])
    assert res.exit_code == 0, res.output
    with pytest.raises(ConfigError, match="epochs"):
        evaluate_checkpoint(run, {"epochs": 5})


# 7. a key given as an option and by --set
def test_option_and_set_with_different_values_are_refused(tmp_path):
    line = _error(_cli(["train", "iris", "--epochs", "1", "--set", "epochs=2", "--out", tmp_path / "r"]),
                  "epochs", "--epochs", "epochs=2")
    assert "twice" in line
    assert not (tmp_path / "r").exists()
    _error(_cli(["train", "iris", "--set", "epochs=1", "--set", "epochs=2", "--out", tmp_path / "r"]),
           "epochs=1", "epochs=2")
    _error(_cli(["netlist", "--hidden", "5", "--set", "hidden=[5, 4]", "--out", tmp_path / "x.cir"]), "hidden")


def test_option_and_set_with_the_same_value_run(tmp_path):
    res = _cli(["netlist", "--hidden", "5", "--set", "hidden=5", "--seed", "2", "--set", "seed=2",
                "--out", tmp_path / "x.cir"])
    assert res.exit_code == 0 and "4x2-5-3x2" in res.output, res.output
    res = _cli(["netlist", "--set", "seed=3", "--out", tmp_path / "y.cir"])   # --seed not given: no clash
    assert res.exit_code == 0, res.output


# 8. an empty item in conv
@pytest.mark.parametrize("conv", ["conv4k3s1same,,avg2", "conv4k3s1same,", ",conv4k3s1same"])
def test_conv_refuses_an_empty_item(tmp_path, conv):
    with pytest.raises(ConfigError, match="empty"):
        parse_items(conv)
    _error(_cli(["netlist", "--set", f"conv={conv}", "--out", tmp_path / "x.cir"]), "conv", repr(conv))
    assert parse_items("conv4k3s1same, avg2")[1][1][0] == "avg"


# 9. the memory message names the conv layer
def test_memory_message_names_the_conv_layer(monkeypatch):
    monkeypatch.setattr(builder, "_available_memory", lambda: 1)
    cfg = from_dict({**{"dataset": "digits"}, "hidden": [], "conv": "conv8k3"})
    with pytest.raises(ConfigError) as err:
        builder.build(cfg)
    msg = str(err.value)
    assert "conv layer 1 of conv = 'conv8k3'" in msg and "fewer or smaller conv layers" in msg, msg
    with pytest.raises(ConfigError) as err:
        builder.build(preset("iris"))
    assert "hidden = [10]" in str(err.value) and "fewer or smaller hidden layers" in str(err.value)


def test_apply_overrides_names_a_malformed_key():
    from ebana.config import apply_overrides
    for key in ("", "circuit.", ".gain", "circuit..gain"):
        with pytest.raises(ConfigError, match="empty key") as err:
            apply_overrides(preset("iris"), {key: 3})
        assert repr(key) in str(err.value)
