"""Speed and memory of the numpy fast path against ngspice and against the GEMM bound.

Run from the repository root (about 5 minutes; MNIST from $EBANA_DATA_DIR or --data-dir):

    python benchmarks/fast_path.py --data-dir ../shared/data

Everything is measured side by side in one run (the machine is noisy): writes
benchmarks/results.json and benchmarks/results.md. Not a test; nothing here asserts.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from ebana import datasets  # noqa: E402
from ebana.allocator import tune_malloc  # noqa: E402
from ebana.backends import create  # noqa: E402
from ebana.config import apply_overrides, preset  # noqa: E402
from ebana.builder import build_circuit  # noqa: E402
from ebana.training import Trainer  # noqa: E402

HERE = Path(__file__).resolve().parent


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best_of(fn, reps: int = 5, clock=time.perf_counter) -> float:
    """The least of ``reps`` timings of ``fn()`` (s, by ``clock``: wall time, or e.g. time.process_time)."""
    times = []
    for _ in range(reps):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return min(times)


def write_section(md: Path, begin: str, end: str, text: str) -> None:
    """Replace the part of ``md`` between the markers ``begin`` and ``end`` (both included in ``text``)
    by ``text``, or append it when the markers are absent."""
    old = md.read_text()
    if begin in old:
        old = old[:old.index(begin)] + text + old[old.index(end) + len(end):]
    else:
        old = old.rstrip("\n") + "\n\n" + text + "\n"
    md.write_text(old)


def gemm_bound_per_batch(b: int, n_in: int, n_h: int, n_out: int, sweeps_free: float,
                         sweeps_nudged: float, reps: int = 50) -> float:
    """Seconds per batch for the GEMMs a training step cannot avoid (same shapes and dtypes)."""
    rng = np.random.default_rng(0)
    u = rng.random((b, n_in), dtype=np.float32)
    g1 = rng.random((n_in, n_h), dtype=np.float32)
    dc = rng.random((b, n_h), dtype=np.float32)
    h1, h2 = rng.random((b, n_h)), rng.random((2 * b, n_h))
    o1, o2 = rng.random((b, n_out)), rng.random((2 * b, n_out))
    g2, g2t = rng.random((n_h, n_out)), rng.random((n_out, n_h))
    nf, nn = int(round(sweeps_free)), int(round(sweeps_nudged))

    def step():
        u @ g1                        # Norton currents, shared by all phases
        for _ in range(nf):
            h1 @ g2
            o1 @ g2t
        for _ in range(nn):           # +-beta stacked
            h2 @ g2
            o2 @ g2t
        u.T @ dc                      # gradient of the input crossbar
        h2.T @ o2                     # gradient of the output crossbar

    step()
    t0 = time.perf_counter()
    for _ in range(reps):
        step()
    return (time.perf_counter() - t0) / reps


def train_epoch(cfg, out: Path, progress_rss: list) -> tuple[Trainer, float]:
    tr = Trainer(cfg, out)

    def report(p):
        if p.batch % 25 == 0:
            progress_rss.append(round(rss_mb(), 1))

    tr.run(progress=report)
    return tr, tr.elapsed


def free_phase_rates(circuit, x: np.ndarray, dtype: str) -> float:
    b = create("numpy", circuit, dtype=dtype)
    b.solve(x[:64])
    t = best_of(lambda: b.solve(x), 3)
    return len(x) / t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=os.environ.get("EBANA_DATA_DIR", "../shared/data"))
    ap.add_argument("--skip-plain-ngspice", action="store_true")
    ap.add_argument("--batch-size", type=int, default=None, help="default: the mnist preset's")
    args = ap.parse_args()
    res: dict = {"machine": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
                 "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS")}
    mnist = datasets.load("mnist", data_dir=args.data_dir)
    tune_malloc()   # after loading, as `ebana train` does: the decode temporaries are returned to the OS
    rng = np.random.default_rng(0)

    # ---------------------------------------------------------------- one MNIST epoch, the accuracy config
    over = {"epochs": 1, "dtype": "float32", "data_dir": args.data_dir, "limit_test": 1000}
    if args.batch_size:
        over["batch_size"] = args.batch_size
    cfg = apply_overrides(preset("mnist"), over)
    # the machine is noisy: repeat the epoch and the bound, and compare the best of each
    # (the median ratio is reported too)
    epochs, rss_trace = [], [round(rss_mb(), 1)]
    for rep in range(3):
        with tempfile.TemporaryDirectory() as run_dir:
            tr, epoch_s = train_epoch(cfg, Path(run_dir), rss_trace if rep == 0 else [])
        epochs.append(epoch_s)
    sweeps = tr.history[-1]["mean_sweeps"]
    # the GEMMs of the algorithm as implemented (features x hidden: the differential inputs fold
    # x+ and x- into one product), and of the plain 1570-row formulation of reference/performance.md
    bounds = [gemm_bound_per_batch(cfg.batch_size, 784, 100, 20, sweeps, 2.0) * tr.n_batches for _ in range(5)]
    bounds_1570 = [gemm_bound_per_batch(cfg.batch_size, 1570, 100, 20, sweeps, 2.0) * tr.n_batches
                   for _ in range(5)]
    epoch_s, bound, bound_1570 = min(epochs), min(bounds), min(bounds_1570)
    res["mnist_epoch"] = {"net": "1568-100-20", "batch": cfg.batch_size, "samples": len(tr.x_train),
                          "train_loop_s": round(epoch_s, 3), "train_loop_runs_s": [round(e, 3) for e in epochs],
                          "gemm_bound_s": round(bound, 3), "ratio_to_bound": round(epoch_s / bound, 2),
                          "median_ratio": round(float(np.median(epochs) / np.median(bounds)), 2),
                          "gemm_bound_1570_s": round(bound_1570, 3),
                          "ratio_to_bound_1570": round(epoch_s / bound_1570, 2), "mean_free_sweeps": sweeps,
                          "rss_mb_trace": rss_trace, "peak_rss_mb": round(peak_mb(), 1)}
    print(json.dumps(res["mnist_epoch"]))

    # ---------------------------------------------------------------- free phase: numpy vs ngspice
    sizes = {"iris 4x2-10-3x2": (4, (10,), 3), "mnist 784x2-100-10x2": (784, (100,), 10),
             "wide 784x2-1024-10x2": (784, (1024,), 10)}
    rows = []
    for name, (n_in, hidden, n_cls) in sizes.items():
        base = preset("iris") if n_in == 4 else preset("mnist")
        cfg_s = apply_overrides(base, {"hidden": hidden})
        c = build_circuit(cfg_s, n_in, n_cls, rng)
        x = rng.uniform(-1, 1, (2048, n_in)) if n_in == 4 else mnist.x_test[:2048].astype(np.float64)
        y = rng.integers(0, n_cls, len(x))
        row = {"net": name}
        for dt in ("float64", "float32"):
            row[f"numpy_{dt}_free_per_s"] = round(free_phase_rates(c, x, dt))
        # training samples per second (numpy float32, this size, batch 32)
        from ebana.losses import create_loss
        from ebana.phases import PhaseController
        from ebana.updates import IdealUpdate
        b = create("numpy", c, dtype="float32")
        pc = PhaseController(b, create_loss("ce", tau=cfg_s.tau), cfg_s.beta, True)
        up = IdealUpdate("adam", c.conductances, c.params.g_min, c.params.g_max)
        t0 = time.perf_counter()
        for k in range(0, 1024, 32):
            r = pc.run(x[k:k + 32], y[k:k + 32])
            b.load(up.step(pc.gradients(r), 1e-8), validate=False)
        row["numpy_float32_train_samples_per_s"] = round(1024 / (time.perf_counter() - t0))
        if n_in == 4:  # training samples per second through ngspice (IRIS size, batch 10, centered)
            ngt = create("ngspice", c.copy())
            pcn = PhaseController(ngt, create_loss("ce", tau=cfg_s.tau), cfg_s.beta, True)
            upn = IdealUpdate("adam", c.conductances, c.params.g_min, c.params.g_max)
            t0 = time.perf_counter()
            for k in range(0, 200, 10):
                r = pcn.run(x[k:k + 10], y[k:k + 10])
                ngt.load(upn.step(pcn.gradients(r), 1e-8), validate=False)
            row["ngspice_train_samples_per_s"] = round(200 / (time.perf_counter() - t0))
            ngt.close()
        ng = create("ngspice", c.copy(), norton=True)
        n_ng = 50 if n_in == 4 else 20
        ng.solve(x[:2])
        t0 = time.perf_counter()
        ng.solve(x[:n_ng])
        row["ngspice_norton_free_per_s"] = round(n_ng / (time.perf_counter() - t0), 1)
        if n_in == 4 or (not args.skip_plain_ngspice and n_in == 784 and hidden == (100,)):
            t0 = time.perf_counter()
            plain = create("ngspice", c.copy())
            load_s = time.perf_counter() - t0
            n_plain = 50 if n_in == 4 else 1
            plain.solve(x[:1])
            t0 = time.perf_counter()
            plain.solve(x[:n_plain])
            row["ngspice_plain_free_per_s"] = round(n_plain / (time.perf_counter() - t0), 3)
            row["ngspice_plain_load_s"] = round(load_s, 2)
            plain.close()
        ng.close()
        if "ngspice_plain_free_per_s" in row:
            row["numpy64_over_plain"] = round(row["numpy_float64_free_per_s"] / row["ngspice_plain_free_per_s"])
            row["norton_over_plain"] = round(row["ngspice_norton_free_per_s"] / row["ngspice_plain_free_per_s"], 1)
        row["numpy64_over_norton"] = round(row["numpy_float64_free_per_s"] / row["ngspice_norton_free_per_s"])
        rows.append(row)
        print(json.dumps(row))
    res["sizes"] = rows
    res["peak_rss_mb"] = round(peak_mb(), 1)
    (HERE / "results.json").write_text(json.dumps(res, indent=2) + "\n")
    write_markdown(res)


def write_markdown(res: dict) -> None:
    e = res["mnist_epoch"]
    lines = ["# Fast-path benchmark (python benchmarks/fast_path.py)", "",
             f"Machine: {res['machine']}, {res['cpus']} CPUs, BLAS threads {res['blas_threads']}.", "",
             "## One MNIST training epoch (60k, free + stacked +-beta nudged phases + Adam update)", "",
             "Best of 3 epochs and of 5 bound measurements (the VM is noisy); median ratio beside it.", "",
             "| net | batch | train loop (s) | GEMM bound, same shapes (s) | ratio (median) | GEMM bound, 1570-row "
             "shapes (s) | ratio | mean free sweeps | peak RSS (MB) |",
             "|---|---|---|---|---|---|---|---|---|",
             f"| {e['net']} | {e['batch']} | {e['train_loop_s']} (runs {e['train_loop_runs_s']}) | {e['gemm_bound_s']} | "
             f"{e['ratio_to_bound']}x ({e['median_ratio']}x) | {e['gemm_bound_1570_s']} | {e['ratio_to_bound_1570']}x | "
             f"{e['mean_free_sweeps']:.2f} | {e['peak_rss_mb']} |", "",
             f"RSS every 25 batches (MB): {e['rss_mb_trace']}", "",
             "## Free-phase solves per second (per sample), numpy vs ngspice, same run", "",
             "| net | numpy f64 | numpy f32 | ngspice Norton | ngspice plain | numpy f64 / plain | Norton / plain "
             "| numpy f64 / Norton | numpy f32 train samples/s | ngspice train samples/s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["sizes"]:
        lines.append(f"| {r['net']} | {r['numpy_float64_free_per_s']} | {r['numpy_float32_free_per_s']} | "
                     f"{r['ngspice_norton_free_per_s']} | {r.get('ngspice_plain_free_per_s', '-')} | "
                     f"{r.get('numpy64_over_plain', '-')} | {r.get('norton_over_plain', '-')} | "
                     f"{r['numpy64_over_norton']} | {r['numpy_float32_train_samples_per_s']} | "
                     f"{r.get('ngspice_train_samples_per_s', '-')} |")
    (HERE / "results.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
