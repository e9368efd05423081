"""Import layering: a module imports only from its own or lower layers (no upward imports, no cycles)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "ebana"

LAYERS = {
    0: ["errors", "registry", "allocator", "rawfile", "validation", "interrupts", "rundir"],
    1: ["devices", "datasets", "diode_card", "encoding", "augment", "losses", "local", "topology", "graphnet",
        "plots", "nonideal", "provenance"],  # plots: data in, Figure out
    2: ["rungs", "lines", "circuit", "branches", "netlist"],
    3: ["backends"],
    4: ["phases", "gradients", "updates", "energy", "config", "measurement", "recording", "cparams"],
    5: ["builder", "checkpoint", "verify", "training"],
    6: ["experiments", "sweep", "doctor", "report", "tune", "deploy"],
    7: ["cli", "cli_devices"],
}
LEVEL = {name: lvl for lvl, names in LAYERS.items() for name in names}


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "ebana" else ""


def test_no_upward_imports():
    bad = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        me = rel.parts[0].removesuffix(".py")
        if me == "__init__" or me not in LEVEL:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                target = _top(node.module)
            elif isinstance(node, ast.Import):
                target = next((_top(a.name) for a in node.names if _top(a.name)), "")
            else:
                continue
            if target and target != me and LEVEL.get(target, 99) > LEVEL[me]:
                bad.append(f"{rel}:{node.lineno} imports ebana.{target} (layer {LEVEL.get(target)}) "
                           f"from layer {LEVEL[me]}")
    assert not bad, "\n".join(bad)


def test_every_module_has_a_layer():
    names = {p.relative_to(ROOT).parts[0].removesuffix(".py") for p in ROOT.glob("*")
             if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())}
    names.discard("__init__")
    missing = sorted(n for n in names if n not in LEVEL)
    assert not missing, f"add these modules to LAYERS: {missing}"
