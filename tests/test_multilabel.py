"""Multi-label outputs from a CSV loader (``label_columns``): parsing, errors, the split, BCE training
to > 90 % exact match on the fast path, and the multi-label metrics in metrics.csv."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from click.testing import CliRunner

from ebana.cli import cli
from ebana.config import TrainConfig, apply_overrides, preset
from ebana.datasets import load
from ebana.datasets.csv import parse_csv
from ebana.errors import ConfigError, DatasetError
from ebana.losses import accuracy, label_correct
from ebana.training import Trainer

LABELS = ("a", "b", "c")


def synthetic_csv(path, n=300, seed=0, margin=0.15):
    """Four features in [-1, 1]; three 0/1 labels, each a different linear threshold
    (a: f0 > 0, b: f1 + f2 > 0, c: f3 > f0), rows within ``margin`` of any threshold left out."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (20 * n, 4))
    m = np.stack([x[:, 0], x[:, 1] + x[:, 2], x[:, 3] - x[:, 0]], axis=1)
    keep = np.all(np.abs(m) > margin, axis=1)
    x, y = x[keep][:n], (m[keep][:n] > 0).astype(int)
    lines = ["f0,a,f1,f2,b,f3,c"]     # label columns between the features
    lines += [f"{r[0]:.4f},{t[0]},{r[1]:.4f},{r[2]:.4f},{t[1]},{r[3]:.4f},{t[2]}" for r, t in zip(x, y)]
    path.write_text("\n".join(lines) + "\n")
    return x, y


def test_parse_multi_label_columns():
    t = parse_csv("f0,a,f1,b\n0.5,1,2,0\n-1,0,3,1\n0,1 ,1,1\n", label_columns=("b", "a"))
    assert t.feature_names == ("f0", "f1") and t.class_names == ("b", "a")
    np.testing.assert_array_equal(t.x, [[0.5, 2], [-1, 3], [0, 1]])
    np.testing.assert_array_equal(t.y, [[0, 1], [1, 0], [1, 1]])
    assert t.y.dtype == np.int64


@pytest.mark.parametrize("text, cols, match", [
    ("f,a,b\n1,0,2\n", ("a", "b"), r"line 2, column 3 'b': label_columns value '2' is not 0 or 1"),
    ("f,a,b\n1,0,yes\n", ("a", "b"), r"label_columns value 'yes' is not 0 or 1"),
    ("f,a,b\n1,0,\n", ("a", "b"), r"label_columns value '' is not 0 or 1"),
    ("f,a,b\n1,0,1\n", ("a", "zz"), r"label_columns names 'zz', which is not a column; columns: f, a, b"),
    ("f,a,b\n1,0,1\n", ("a",), r"need at least 2 label columns"),
    ("a,b\n0,1\n", ("a", "b"), r"leave no feature column"),
])
def test_bad_label_columns(text, cols, match):
    with pytest.raises(DatasetError, match=match):
        parse_csv(text, "t.csv", label_columns=cols)


def test_split_keeps_label_rows_and_combinations(tmp_path):
    x, y = synthetic_csv(tmp_path / "m.csv")
    ds = load(tmp_path / "m.csv", label_columns=LABELS, seed=3)
    assert ds.multi_label and ds.n_classes == 3 and ds.class_names == LABELS
    assert ds.y_train.shape == (210, 3) and ds.y_test.shape == (90, 3)
    # every row keeps its own labels (features identify rows)
    lookup = {tuple(np.round(r, 4)): tuple(t) for r, t in zip(x, y)}
    for xs, ys in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        assert all(lookup[tuple(r)] == tuple(t) for r, t in zip(xs, ys))
    # stratified by the combination: each combination's test share is 30 % to within one row
    combos, counts = np.unique(y, axis=0, return_counts=True)
    for c, n in zip(combos, counts):
        n_test = int(np.all(ds.y_test == c, axis=1).sum())
        assert abs(n_test - 0.3 * n) <= 1, (c, n, n_test)
    with pytest.raises(DatasetError, match="label_columns='a,b' applies only to .csv files"):
        load("iris", label_columns=("a", "b"))


def test_label_metrics_by_hand():
    pred = np.array([[0.1, -0.2, 0.3], [-0.1, -0.2, -0.3]])
    y = np.array([[1, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(label_correct(pred, y), [[True, True, False], [True, True, True]])
    np.testing.assert_array_equal(accuracy(pred, y), [False, True])     # exact match


def test_config_errors():
    with pytest.raises(ConfigError, match=r"label_columns 'a,b' \(multi-label outputs\) needs loss = 'bce', "
                                          r"got loss = 'ce'"):
        TrainConfig(dataset="m.csv", label_columns="a,b")
    with pytest.raises(ConfigError, match=r"label_columns 'a,a': expected 2 or more distinct"):
        TrainConfig(dataset="m.csv", label_columns="a,a", loss="bce")
    with pytest.raises(ConfigError, match=r"label_columns 'a,b' and label_column 'c': give one of them"):
        TrainConfig(dataset="m.csv", label_columns="a,b", label_column="c", loss="bce")
    assert TrainConfig(dataset="m.csv", label_columns=" a, b ", loss="bce").label_names == ("a", "b")


def test_cli_errors_are_one_line(tmp_path):
    (tmp_path / "bad.csv").write_text("f,a,b\n1,0,1\n2,1,3\n3,0,0\n4,1,1\n")
    for extra, want in ((["--loss", "bce"], "label_columns value '3' is not 0 or 1"),
                        ([], "needs loss = 'bce'"),
                        (["--loss", "bce", "--set", "label_columns=a,zz"], "label_columns names 'zz'")):
        args = extra if "--set" in extra else [*extra, "--label-columns", "a,b"]
        r = CliRunner().invoke(cli, ["train", str(tmp_path / "bad.csv"), "--epochs", "1", "--quiet",
                                     "--out", str(tmp_path / "r"), *args])
        assert r.exit_code == 1, r.output
        lines = [s for s in r.output.splitlines() if s.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: ") and want in lines[0], r.output


def test_trains_to_exact_match(tmp_path):
    """BCE, one independent binary output per label, fast path: > 90 % exact match on the test set;
    metrics.csv holds exact match, hamming loss and per-label accuracies, consistently."""
    synthetic_csv(tmp_path / "m.csv")
    cfg = apply_overrides(preset("iris"), {"dataset": str(tmp_path / "m.csv"), "label_columns": "a,b,c",
                                           "loss": "bce", "epochs": 10})
    tr = Trainer(cfg, tmp_path / "run")
    tr.run()
    assert tr.circuit.topology.n_classes == 3
    with open(tmp_path / "run" / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    last = {k: float(v) for k, v in rows[-1].items() if v not in ("", None)}
    assert last["test_acc"] > 0.9, last
    for part in ("train", "test"):
        accs = [last[f"{part}_label_acc{k}"] for k in range(3)]
        assert last[f"{part}_hamming"] == pytest.approx(1.0 - np.mean(accs), abs=1e-12)
        assert last[f"{part}_acc"] <= min(accs) + 1e-12
    assert float(rows[0]["test_hamming"]) > last["test_hamming"]      # it learned
    # the metrics are the free phase's decisions: recompute the test ones from the final network
    pred = tr.circuit.prediction(tr.phases.free(tr.x_test).output)
    ok = label_correct(pred, tr.data.y_test)
    assert last["test_acc"] == pytest.approx(np.all(ok, axis=1).mean(), abs=1e-12)
    for k in range(3):
        assert last[f"test_label_acc{k}"] == pytest.approx(ok[:, k].mean(), abs=1e-12)


def test_multi_label_run_resumes_exactly(tmp_path):
    from tests.conftest import interrupted_and_resumed
    synthetic_csv(tmp_path / "m.csv", n=100)
    cfg = apply_overrides(preset("iris"), {"dataset": str(tmp_path / "m.csv"), "label_columns": "a,b,c",
                                           "loss": "bce", "epochs": 2})
    ref, resumed = interrupted_and_resumed(cfg, tmp_path, (1, 3))
    keep = [k for k in ref.history[-1] if k != "seconds"]
    assert "test_hamming" in keep and "test_label_acc2" in keep
    assert [{k: r[k] for k in keep} for r in ref.history] == [{k: r[k] for k in keep} for r in resumed.history]
