"""The README's device-run tables are what ``experiments/device_runs.py`` makes of the committed results."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("device_runs", ROOT / "experiments" / "device_runs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_device_tables_match_the_committed_results():
    mod = _module()
    a, b = mod.iris_models(), mod.other_runs()
    assert len(a) >= 2 * len(mod.MODELS) and all(r["n"] != "0" for r in a)     # every model, every row found
    text = (ROOT / "README.md").read_text()
    assert mod.replace_blocks(text, mod.readme_blocks(a, b)) == text, \
        "README device tables are stale: run python experiments/device_runs.py --readme"


def test_replace_blocks_refuses_a_missing_marker():
    import pytest
    mod = _module()
    with pytest.raises(SystemExit, match="device-runs:iris"):
        mod.replace_blocks("no markers here", {"iris": "x"})
