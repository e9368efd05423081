"""``ebana report``: sections and figures of new and old run directories, bad paths, a real browser."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from ebana.cli import cli
from ebana.config import apply_overrides, preset
from ebana.training import Trainer

PNG = b"\x89PNG\r\n\x1a\n"


def _images(text: str) -> dict[str, bytes]:
    return {m.group(1): base64.b64decode(m.group(2))
            for m in re.finditer(r'<img id="fig-([\w-]+)"[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)}


@pytest.fixture(scope="module")
def device_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs") / "iris-device"
    cfg = apply_overrides(preset("iris"), {"epochs": 3, "limit_train": 40, "device.model": "ideal"})
    Trainer(cfg, d).run()
    return d


def test_report_of_a_device_run(device_run, tmp_path):
    out = tmp_path / "r.html"
    res = CliRunner().invoke(cli, ["report", str(device_run), "--out", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    imgs = _images(text)
    assert set(imgs) == {"curves", "energy", "device", "conductances", "device-states"}
    assert all(data.startswith(PNG) and len(data) > 2000 for data in imgs.values())
    for name, data in imgs.items():                       # the same figures as PNG files beside the page
        assert (tmp_path / "report" / f"{name}.png").read_bytes() == data
    for heading in ("Run", "Configuration (resolved)", "Training curves", "Energy and latency",
                    "Device programming", "Conductances", "ngspice verification"):
        assert f"<h2>{heading}</h2>" in text
    assert "[energy]" in text and "t_settle" in text                 # the resolved config, energy keys too
    assert "digital backprop reference" in text and ("x cheaper" in text or "x dearer" in text)
    assert "Chip time per sample by part" in text and "programming (row), per sample" in text
    assert "No verify.csv" in text and "src=\"http" not in text       # self-contained


def test_report_latency_with_measured_pulse_time(tmp_path):
    """energy.program = "pulses": the report's programming part is the run's write time per sample."""
    d = tmp_path / "run"
    cfg = apply_overrides(preset("iris"), {"epochs": 1, "limit_train": 20, "batch_size": 10,
                                           "device.model": "vteam", "energy.program": "pulses"})
    tr = Trainer(cfg, d)
    tr.run()
    res = CliRunner().invoke(cli, ["report", str(d)])
    assert res.exit_code == 0, res.output
    text = (d / "report.html").read_text()
    m = re.search(r"programming \(pulses\), per sample</td><td>([^<]+)<", text)
    assert m is not None
    last = tr.history[-1]
    assert float(m.group(1)) == pytest.approx(last["t_write"] / 20, rel=1e-3)


def test_report_of_an_old_run_dir(device_run, tmp_path):
    """A run from before energy accounting, without conductances.npz, checkpoint or verify.csv."""
    old = tmp_path / "old"
    shutil.copytree(device_run, old)
    lines = (old / "metrics.csv").read_text().splitlines()
    keep = [k for k, name in enumerate(lines[0].split(",")) if not name.startswith(("e_read", "e_dac", "e_adc",
                                                                                     "e_amp", "e_energy", "t_",
                                                                                     "e_digital"))]
    (old / "metrics.csv").write_text("\n".join(",".join(row.split(",")[k] for k in keep) for row in lines) + "\n")
    (old / "conductances.npz").unlink()
    (old / "checkpoint.npz").unlink()
    res = CliRunner().invoke(cli, ["report", str(old)])
    assert res.exit_code == 0, res.output
    text = (old / "report.html").read_text()
    assert "metrics.csv has no energy columns" in text
    assert "Neither conductances.npz nor checkpoint.npz" in text
    assert set(_images(text)) == {"curves", "device"}


def test_report_of_an_empty_dir_says_what_is_missing(tmp_path):
    res = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert res.exit_code == 0, res.output
    text = (tmp_path / "report.html").read_text()
    for needle in ("run.json is missing", "config.toml is missing", "metrics.csv is missing",
                   "Neither conductances.npz", "No verify.csv"):
        assert needle in text
    assert _images(text) == {}


def test_report_of_a_damaged_run_dir(tmp_path):
    (tmp_path / "run.json").write_text("{not json")
    (tmp_path / "conductances.npz").write_bytes(b"garbage")
    (tmp_path / "metrics.csv").write_text("epoch,train_loss\n")
    res = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert res.exit_code == 0, res.output
    text = (tmp_path / "report.html").read_text()
    assert "run.json is unreadable" in text and "not a readable ebana checkpoint" in text
    assert "metrics.csv has no epoch rows" in text


def test_report_bad_path_is_one_line(tmp_path):
    res = CliRunner().invoke(cli, ["report", str(tmp_path / "nowhere")])
    assert res.exit_code == 1
    last = res.output.strip().splitlines()[-1]
    assert last.startswith("Error: ") and "nowhere" in last and "is not a directory" in last
    assert "Traceback" not in res.output


@pytest.mark.ngspice
def test_report_shows_the_verification_record(tmp_path):
    d = tmp_path / "v"
    cfg = apply_overrides(preset("iris"), {"epochs": 1, "limit_train": 20, "verify_every": 1, "batch_size": 10})
    Trainer(cfg, d).run()
    assert (d / "verify.csv").exists()
    res = CliRunner().invoke(cli, ["report", str(d)])
    assert res.exit_code == 0, res.output
    text = (d / "report.html").read_text()
    assert "verify" in _images(text) and "2 verifications" in text


_PROBE = """<script>window.addEventListener('load', () => {
  for (const img of document.images) { img.dataset.w = img.naturalWidth; img.dataset.ok = img.complete; }
  document.body.dataset.probed = 'yes'; });</script>"""


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_report_renders_in_a_headless_browser(device_run, tmp_path):
    """Debian's chromium loads the page and decodes every embedded PNG (naturalWidth > 0)."""
    res = CliRunner().invoke(cli, ["report", str(device_run), "--out", str(tmp_path / "r.html")])
    assert res.exit_code == 0, res.output
    page = (tmp_path / "r.html").read_text().replace("</body>", _PROBE + "</body>")
    probe = tmp_path / "probe.html"
    probe.write_text(page)
    proc = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                           "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
                          capture_output=True, text=True, timeout=120)
    dom = proc.stdout
    assert 'data-probed="yes"' in dom, proc.stderr[-2000:]
    widths = dict(re.findall(r'<img id="fig-([\w-]+)"[^>]*?data-w="(\d+)"', dom))
    assert set(widths) == {"curves", "energy", "device", "conductances", "device-states"}, dom[:500]
    assert all(int(w) >= 500 for w in widths.values()), widths          # decoded: real pixel widths
    shot = tmp_path / "shot.png"
    subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1200,3000", (tmp_path / "r.html").as_uri()], capture_output=True, timeout=120)
    assert shot.read_bytes().startswith(PNG)


def test_overwrite_removes_the_stale_report(tmp_path):
    d = tmp_path / "r"
    cfg = apply_overrides(preset("iris"), {"epochs": 1, "limit_train": 20})
    Trainer(cfg, d).run()
    assert CliRunner().invoke(cli, ["report", str(d)]).exit_code == 0
    assert (d / "report.html").exists() and (d / "report" / "curves.png").exists()
    Trainer(cfg, d, overwrite=True)
    assert not (d / "report.html").exists() and not (d / "report").exists()


def test_report_when_the_write_energy_is_not_integrated(tmp_path):
    d = tmp_path / "r"
    Trainer(apply_overrides(preset("iris"), {"epochs": 1, "limit_train": 20, "device.model": "ideal",
                                              "device.energy": False}), d).run()
    assert CliRunner().invoke(cli, ["report", str(d)]).exit_code == 0
    text = (d / "report.html").read_text()
    assert "The total is unknown" in text and "nanx" not in text
