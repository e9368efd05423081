"""SPICE diode model cards (``.model NAME D (...)``) read from a ``.lib`` / model file.

:func:`read_card` finds one card by name (case-insensitive, as ngspice) in a file: ``*`` comment
lines, ``;`` and ``$`` trailing comments, ``+`` continuation lines, parentheses optional, values
with SPICE scale suffixes (``f p n u m k meg g t``, case-insensitive, trailing unit letters
ignored: ``10nA`` = 1e-8). :func:`dc_parameters` maps a card onto what the fast path implements:
the level-1 Shockley junction with IS (A), N and series resistance RS (ohm) at the default
temperature (TEMP = TNOM = 27 C, so every temperature coefficient has no effect), and refuses
with a one-line :class:`~ebana.errors.ConfigError` naming the parameter any card with a
parameter that changes the DC operating point and is not implemented.

DC-neutral parameters accepted (ignored by the fast path, written to ngspice unchanged):
charge storage (CJO/CJ0/CJ, VJ/PB, M/MJ, FC, TT, CJP/CJSW, PHP, MJSW, FCS), noise (KF, AF),
temperature coefficients (EG, XTI, TRS/TRS1, TRS2, TCV, CTA, CTP, TM1, TM2, TTT1, TTT2, TLEV,
TLEVC, TNOM = 27) and sidewall parameters (JSW/ISW, NS: the instance perimeter is 0).
Breakdown (BV, IBV, NBV) is accepted: it only acts for a junction reverse-biased beyond -BV,
which the numpy backend refuses at run time (:data:`DiodeCard.bv`).
Refused: IKF/IK, IKR (high injection), ISR/NR (recombination current), JTUN/JTUNSW/NTUN/XTITUN/
KEG (tunnelling), LEVEL != 1, TNOM != 27, and every unknown name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ebana.errors import ConfigError

__all__ = ["DiodeCard", "parse_value", "parse_cards", "read_card", "DC_NEUTRAL"]

_SCALE = {"t": 1e12, "g": 1e9, "meg": 1e6, "k": 1e3, "mil": 25.4e-6, "m": 1e-3, "u": 1e-6, "n": 1e-9,
          "p": 1e-12, "f": 1e-15, "a": 1e-18}
_NUMBER = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)(meg|mil|[tgkmunpfa])?[a-z]*$")

DC_NEUTRAL = frozenset({
    "cjo", "cj0", "cj", "vj", "pb", "m", "mj", "fc", "tt", "cjp", "cjsw", "php", "mjsw", "fcs",
    "kf", "af", "eg", "xti", "trs", "trs1", "trs2", "tcv", "cta", "ctp", "tm1", "tm2", "ttt1", "ttt2",
    "tlev", "tlevc", "jsw", "isw", "ns", "bv", "ibv", "nbv"})
"""Card parameters that do not change the DC operating point at 27 C (see the module doc)."""
_IMPLEMENTED = {"is": "i_s", "js": "i_s", "n": "n", "rs": "r_s"}


def parse_value(text: str, where: str) -> float:
    """A SPICE number with an optional scale suffix: ``1f`` 1e-15, ``2.5MEG`` 2.5e6, ``10nA`` 1e-8."""
    m = _NUMBER.match(text.strip().lower())
    if not m:
        raise ConfigError(f"{where}: {text!r} is not a SPICE number")
    return float(m.group(1)) * _SCALE.get(m.group(2) or "", 1.0)


@dataclass(frozen=True, slots=True)
class DiodeCard:
    """One ``D`` model card: ``name`` (as written), ``params`` lower-case name -> value."""

    name: str
    params: dict[str, float]
    source: str

    @property
    def bv(self) -> float | None:
        """Breakdown voltage BV (V, > 0) or None (no breakdown)."""
        return self.params.get("bv")

    def dc_parameters(self) -> dict[str, float]:
        """{"i_s": A, "n": -, "r_s": ohm} of the card (ngspice defaults IS 1e-14, N 1, RS 0).

        Raises ConfigError naming the first parameter the fast path does not implement."""
        out = {"i_s": 1e-14, "n": 1.0, "r_s": 0.0}
        for key, v in self.params.items():
            if key in _IMPLEMENTED:
                out[_IMPLEMENTED[key]] = v
            elif key == "level" and v == 1:
                continue
            elif key == "tnom" and v == 27:
                continue
            elif key not in DC_NEUTRAL:
                raise ConfigError(f"diode model {self.name} ({self.source}): parameter {key.upper()}={v:g} changes "
                                  f"the DC operating point and is not implemented (fast path: IS, N, RS at 27 C)")
        if not out["i_s"] > 0 or not out["n"] > 0 or not out["r_s"] >= 0:
            raise ConfigError(f"diode model {self.name} ({self.source}): need IS > 0, N > 0, RS >= 0, got "
                              f"IS={out['i_s']:g}, N={out['n']:g}, RS={out['r_s']:g}")
        if self.bv is not None and not self.bv > 0:
            raise ConfigError(f"diode model {self.name} ({self.source}): BV must be > 0 V, got {self.bv:g}")
        return out


def _logical_lines(text: str) -> list[str]:
    """Lines with comments removed and ``+`` continuations joined."""
    out: list[str] = []
    for raw in text.splitlines():
        line = re.split(r"[;$]", raw, maxsplit=1)[0].strip()
        if not line or line.startswith("*"):
            continue
        if line.startswith("+"):
            if out:
                out[-1] += " " + line[1:]
            continue
        out.append(line)
    return out


def parse_cards(text: str, source: str) -> dict[str, DiodeCard]:
    """Every ``D`` model card of a model file, by lower-case name (other cards are skipped)."""
    cards: dict[str, DiodeCard] = {}
    for line in _logical_lines(text):
        words = line.replace("(", " ").replace(")", " ").replace(",", " ").split()
        if len(words) < 3 or words[0].lower() != ".model" or words[2].lower() != "d":
            continue
        name = words[1]
        rest = " ".join(words[3:])
        rest = re.sub(r"\s*=\s*", "=", rest)
        params: dict[str, float] = {}
        for item in rest.split():
            if "=" not in item:
                raise ConfigError(f"diode model {name} ({source}): {item!r} is not NAME=VALUE")
            k, v = item.split("=", 1)
            params[k.lower()] = parse_value(v, f"diode model {name} ({source}) parameter {k.upper()}")
        cards[name.lower()] = DiodeCard(name, params, source)
    return cards


def read_card(path: str | Path, name: str, key: str = "circuit.diode.lib") -> DiodeCard:
    """The card ``name`` of the model file ``path``; ConfigError naming ``key`` when absent."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="strict")
    except FileNotFoundError:
        raise ConfigError(f"{key} = {str(path)!r}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{key} = {str(path)!r}: cannot read it as text ({err})") from None
    cards = parse_cards(text, p.name)
    if name.lower() not in cards:
        known = ", ".join(c.name for c in cards.values()) or "none"
        raise ConfigError(f"circuit.diode.card = {name!r}: no '.model {name} D' card in {p.name} (D cards: {known})")
    return cards[name.lower()]
