"""ngspice backend: the reference solver, through PySpice's shared-library binding.

The netlist is loaded once per topology; per solve, the input sources and nudging
currents are changed with ``alter``, ``op`` runs, only the neuron node voltages are read
(``ngGet_Vec_Info``, no unit machinery) and ``destroy all`` frees the plot, so memory
stays flat over any number of solves. After a weight update the crossbar resistors are
altered in place (or the netlist reloaded when there are very many of them).

ngspice's own messages go to this module's logger at DEBUG level. A failed ``op`` raises
:class:`~ebana.errors.ConvergenceError` naming the phase and sample, after writing the
failing netlist to ``failure_dir``.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from ebana import interrupts
from ebana.backends.base import Solution
from ebana.circuit import Circuit
from ebana.errors import ConvergenceError, NetlistError, NgspiceMissingError, SimulationError
from ebana.netlist import (_f, input_source_name, node_names, norton_columns, norton_names, nudge_source_name, render,
                           resistor_name)

__all__ = ["NgspiceBackend", "ngspice_shared", "run_op", "INSTALL_HINT"]

logger = logging.getLogger(__name__)

INSTALL_HINT = ("install it with: sudo apt-get install -y ngspice libngspice0 libngspice0-dev "
                "(and pip install PySpice==1.5)")
_FAIL = re.compile(r"error|abort|too small|singular|not parsed|no such", re.IGNORECASE)
_STEPPING = re.compile(r"stepping", re.I)
"""ngspice's note that an ``op`` fell back to gmin or source stepping: afterwards the loaded circuit keeps
a leftover 1e-12 S shunt at every node in later ops (a KCL error of 1e-12 S x V), so it is reloaded."""
_RELOAD_ABOVE = 20000  # resistors; above this, reloading the netlist beats altering each one
_shared = None
_owner = None  # the backend whose circuit is loaded in the shared ngspice instance


def ngspice_shared():
    """The process-wide ngspice instance (ngspice is not re-entrant: one per process)."""
    global _shared
    if _shared is not None:
        return _shared
    logging.getLogger("PySpice").setLevel(logging.CRITICAL)
    if "NGSPICE_LIBRARY_PATH" not in os.environ:
        import ctypes.util
        import glob
        have_plain = any(glob.glob(f"{d}/libngspice.so") for d in
                         ("/usr/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
                          "/usr/local/lib"))
        if not have_plain and ctypes.util.find_library("ngspice"):
            os.environ["NGSPICE_LIBRARY_PATH"] = "libngspice.so.0"
    try:
        from PySpice.Spice.NgSpice.Shared import NgSpiceShared
    except ImportError as err:
        raise NgspiceMissingError(f"PySpice is not importable ({err}); {INSTALL_HINT}") from None
    try:
        _shared = NgSpiceShared.new_instance()
    except (OSError, Exception) as err:  # cffi raises OSError; PySpice may raise others
        raise NgspiceMissingError(f"cannot load the ngspice shared library ({str(err).splitlines()[0]}); "
                                  f"{INSTALL_HINT}") from None
    return _shared


def run_op(text: str, vectors: Sequence[str]) -> dict[str, float]:
    """Load the netlist ``text`` into the shared ngspice, run ``op`` and return the values of
    ``vectors`` (node voltages in V, e.g. ``"mid"``; branch currents in A, e.g. ``"v1#branch"``).

    Any ebana backend's circuit is unloaded (it reloads itself on its next solve).

    Raises
    ------
    NgspiceMissingError
        The shared library or PySpice is missing.
    SimulationError
        ngspice rejected the netlist, the op failed or a vector is absent.
    """
    global _owner
    from PySpice.Spice.NgSpice.Shared import ffi
    ng = ngspice_shared()
    lib = ng._ngspice_shared
    _owner = None
    lib.ngSpice_Command(b"remcirc")
    ng.clear_output()
    try:
        ng.load_circuit(text)
    except Exception as err:  # PySpice raises NgSpiceCircuitError/NameError
        raise SimulationError(f"ngspice rejected the netlist: {err}") from None
    lib.ngSpice_Command(b"op")
    errs = [e for e in ng._stderr if _FAIL.search(e)]
    out: dict[str, float] = {}
    for name in vectors:
        vi = lib.ngGet_Vec_Info(name.encode())
        if vi == ffi.NULL or vi.v_length == 0:
            errs.append(f"no result for {name}")
            continue
        out[name] = float(vi.v_realdata[0])
    lib.ngSpice_Command(b"destroy all")
    lib.ngSpice_Command(b"remcirc")
    ng.clear_output()
    if errs:
        raise SimulationError(f"ngspice op failed: {errs[0].strip()}")
    return out


class NgspiceBackend:
    """Solve the circuit with ngspice ``op``, sample by sample.

    ``norton=True`` replaces input-driven crossbars by their exact per-column equivalents
    (same node voltages, far faster on large crossbars); ignored with line resistance, whose
    netlist has every cell node (the device resistors keep their names and are altered alike).
    """

    _stepped = False   # the last op fell back to gmin/source stepping (see _STEPPING): reload before the next

    def __init__(self, circuit: Circuit, *, conductances: Sequence[np.ndarray] | None = None,
                 norton: bool = False, failure_dir: str | os.PathLike = "ebana-failures") -> None:
        from PySpice.Spice.NgSpice.Shared import ffi  # noqa: F401  (after ngspice_shared checks)

        self.ng = ngspice_shared()
        self._ffi = ffi
        self._lib = self.ng._ngspice_shared
        self.circuit = circuit
        self.model = circuit.compile(conductances)
        self.norton = norton and not circuit.params.lines.on   # (line resistance: no per-column equivalent)
        self.failure_dir = Path(failure_dir)
        self._n_commands = 0
        t = circuit.topology
        self._nodes = [node_names(circuit, q) for q in range(1, t.n_layers)]
        self._vec = [[n.encode() for n in names] for names in self._nodes]
        self._load()

    # ------------------------------------------------------------------ plumbing
    def _cmd(self, command: str) -> None:
        self._lib.ngSpice_Command(command.encode())
        self._n_commands += 1
        if self._n_commands % 10000 == 0:
            self._lib.ngSpice_Command(self._ffi.NULL)  # frees ngspice's command history

    def _cmds(self, commands: list[str]) -> None:
        """Run many short commands, joined by ';' in chunks below ngspice's line limit."""
        chunk, size = [], 0
        for c in commands:
            if size + len(c) + 1 > 1000 and chunk:
                self._cmd(";".join(chunk))
                chunk, size = [], 0
            chunk.append(c)
            size += len(c) + 1
        if chunk:
            self._cmd(";".join(chunk))

    def _drain(self) -> list[str]:
        """Move ngspice's messages to the debug log; return stderr lines."""
        ng = self.ng
        err = list(ng._stderr)
        for line in ng._stdout:
            logger.debug("ngspice: %s", line)
        for line in err:
            logger.debug("ngspice stderr: %s", line)
        if any(_STEPPING.search(line) for line in [*ng._stdout, *err]):
            self._stepped = True
        ng.clear_output()
        return err

    def _ensure_loaded(self) -> None:
        """Several backends may share the one ngspice instance: reload ours if another took it."""
        if _owner is not self:
            self._load()

    def _load(self) -> None:
        global _owner
        self._stepped = False
        m = self.model
        text = render(m, np.zeros(m.topology.n_inputs), norton=self.norton)
        self._cmd("remcirc")
        self._drain()
        try:
            self.ng.load_circuit(text)
        except Exception as err:  # PySpice raises NgSpiceCircuitError/NameError
            raise SimulationError(f"ngspice rejected the netlist: {err}") from None
        errs = [e for e in self._drain() if _FAIL.search(e)]
        if errs:
            raise SimulationError(f"ngspice rejected the netlist: {errs[0].strip()}")
        _owner = self
        if self._n_resistors() <= _RELOAD_ABOVE:
            # ngspice stores a value parsed from the netlist and the same value set by `alter` a
            # rounding apart: set every crossbar value by `alter`, as the updates do, so that a run
            # resumed from a checkpoint solves bit for bit the circuit of the uninterrupted run
            self._cmds(self._resistor_alters(m, None))
        self._loaded = m

    def _n_resistors(self) -> int:
        """Crossbar resistors in the netlist (Norton-folded crossbars count as none)."""
        t = self.circuit.topology
        return sum(t.n_devices(s.index) for s in t.crossbars if not (self.norton and s.src == 0))

    def _resistor_alters(self, new, old) -> list[str]:
        """``alter`` commands for the crossbar resistors of the compiled circuit ``new`` that
        differ from those of ``old`` (all if None)."""
        cmds = []
        for s in new.topology.crossbars:
            g = new.conductances[s.index]
            if self.norton and s.src == 0:
                r_eq = new.norton_equivalent(s, np.zeros(s.n_rows))[1]
                cmds += [f"alter {norton_names(s.index, j)[1]} = {_f(r_eq[j])}"
                         for j in norton_columns(new.topology, s)]
                continue
            changed = g != old.conductances[s.index] if old is not None else np.ones(g.shape, bool)
            mask = new.topology.mask(s.index)     # locally connected: no resistor off the mask
            if mask is not None:
                changed &= mask
            with np.errstate(divide="ignore"):
                r = new.resistances(s.index)
            cmds += [f"alter {resistor_name(s.index, i, j)} = {_f(r[i, j])}" for i, j in zip(*np.nonzero(changed))]
        return cmds

    def close(self) -> None:
        global _owner
        if _owner is self:
            self._cmd("remcirc")
            self._drain()
            _owner = None

    # ------------------------------------------------------------------ weights
    def load(self, conductances: Sequence[np.ndarray], validate: bool = True) -> None:
        """Solve with ``conductances`` (S) from now on (compiled, then altered into ngspice)."""
        self.model = self.circuit.compile(conductances, validate=validate)
        if _owner is not self or self._n_resistors() > _RELOAD_ABOVE:
            self._load()
            return
        self._cmds(self._resistor_alters(self.model, self._loaded))
        self._loaded = self.model

    # ------------------------------------------------------------------ solve
    def _sample_alters(self, u: np.ndarray, i_nudge: np.ndarray) -> list[str]:
        m = self.model
        t = m.topology
        n = t.n_inputs
        cmds = []
        for j in range(2 * t.n_classes):
            cmds.append(f"alter {nudge_source_name(j)} dc = {_f(i_nudge[j])}")
        if not self.norton:
            cmds += [f"alter {input_source_name(i, True)} dc = {_f(u[i])}" for i in range(n)]
            cmds += [f"alter {input_source_name(i, False)} dc = {_f(u[n + i])}" for i in range(n)]
            return cmds
        for s in t.crossbars:
            if s.src == 0:  # Thevenin voltage of each column: sum_i G_ij u_i / sum_i G_ij
                veq = m.norton_equivalent(s, u)[0]
                cmds += [f"alter {norton_names(s.index, j)[0]} dc = {_f(veq[j])}" for j in norton_columns(t, s)]
        return cmds

    def solve(self, x: np.ndarray, i_nudge: np.ndarray | None = None, *, phase: str = "free",
              start: Solution | None = None, sample_ids: Sequence[int] | None = None,
              tol: float | None = None, rel_tol: float | None = None) -> Solution:
        """Solve sample by sample (``start``, ``tol`` and ``rel_tol`` are accepted for the protocol;
        ngspice uses its own options, reltol 1e-9, vntol 1e-12)."""
        self._ensure_loaded()
        c = self.circuit
        t = c.topology
        x0 = np.atleast_2d(np.asarray(x, dtype=np.float64))
        u_all = c.input_voltages(x0)
        b = u_all.shape[0]
        inj = np.zeros((b, 2 * t.n_classes)) if i_nudge is None else np.asarray(i_nudge, float)
        ids = list(range(b)) if sample_ids is None else list(sample_ids)
        x = x0
        if inj.shape[0] != b:  # stacked phases of the same inputs
            m = inj.shape[0] // b
            u_all, x, ids = np.tile(u_all, (m, 1)), np.tile(x0, (m, 1)), ids * m
            b = u_all.shape[0]
        layers = [None] + [np.empty((b, t.layer_size(q))) for q in range(1, t.n_layers)]
        get = self._lib.ngGet_Vec_Info
        for k in range(b):
            interrupts.check()   # Ctrl-C between samples (a KeyboardInterrupt in ngspice's callbacks is lost)
            self._cmds(self._sample_alters(u_all[k], inj[k]))
            self._cmd("op")
            errs = [e for e in self._drain() if _FAIL.search(e)]
            try:
                for q, names in enumerate(self._vec, start=1):
                    row = layers[q][k]
                    for j, name in enumerate(names):
                        vi = get(name)
                        if vi == self._ffi.NULL or vi.v_length == 0:
                            raise KeyError(name.decode())
                        row[j] = vi.v_realdata[0]
            except KeyError as missing:
                errs.append(f"no result for node {missing}")
            self._cmd("destroy all")
            self._drain()
            if errs:
                self._fail(phase, ids[k], x[k], inj[k], errs[0])
            if self._stepped:   # this op's answer is exact; the next one would keep a 1e-12 S shunt
                logger.debug("ngspice: %s phase, sample %s needed stepping: circuit reloaded", phase, ids[k])
                self._load()
        return Solution(layers, x0, 1, {"backend": "ngspice"})

    def _fail(self, phase: str, sample: int, x: np.ndarray, i_nudge: np.ndarray, why: str) -> None:
        self.failure_dir.mkdir(parents=True, exist_ok=True)
        path = self.failure_dir / f"failed-{phase}-sample{sample}.cir"
        try:
            text = render(self.model, x, i_nudge, norton=self.norton,
                          title=f"ebana: ngspice op failed ({phase} phase, sample {sample})")
        except NetlistError as err:
            raise ConvergenceError(f"ngspice: DC solve failed in the {phase} phase, sample {sample}: "
                                   f"{why.strip()} (no netlist written: {err})") from None
        path.write_text(text)
        raise ConvergenceError(f"ngspice: DC solve failed in the {phase} phase, sample {sample}: "
                               f"{why.strip()} (netlist written to {path})")
