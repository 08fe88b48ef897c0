"""The ``subblock`` family: a block scale plus per-sub-block metadata (issue 20, point 1).

Two kinds, as data ``{"family": "subblock", "kind": ..., "block": 32, "sub": 8}``:

* ``scale`` (M2XFP's ``mxes``, weights): block exponent ``E = floor(log2(max(amax, 1e-8))) - 2``
  (E8M0); a per-block exponent bias ``b`` in ``biases`` (default -1, 0, +1, folded into the E8M0
  scale, no extra bits) and per sub-block a scale mantissa ``r`` in ``ratios`` (default 1, 1.25,
  1.5, 1.75: 2 bits). Elements: FP4 E2M1 of ``x / (2^(E+b) r)``, nearest, ties to the even code,
  saturating at 6. Each sub-block keeps its least-MSE ``r`` (first on ties); the block keeps the
  ``b`` whose mean sub-block MSE is least (first on ties, so an all-zero block gets b = -1).
* ``mantissa`` (M2XFP's ``mxem``, activations): MXFP4 with exponent ``E``; in each sub-block the
  element with the largest |FP4 value| (the first on ties) takes its FP6 E2M3 value, rounded on the
  FP6 grid and clamped to the codes ``4k-1 .. 4k+2`` around its FP4 code ``k`` (2 extra bits).

Source: ``SJTU-ReArch-Group/M2XFP_ASPLOS26`` @ ``2ed16eb6c456ee58ceea9f8c0d7dcf258de7e1f4``,
``mxq/quantize/quant_func.py`` (``get_quant_mxes``, ``get_quant_mxem``); arithmetic float32.
The authors' ``torch.topk`` leaves the index of a tied maximum unspecified; we take the first.

Bits per element: ``4 + 8 / block + 2 / sub`` (4.5 at block 32, sub 8).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from mant.adaptive_block import AdaptiveBlockFormat
from mant.errors import IssueCollector
from mant.formats import FloatFormat
from mant.levels import finish_groups, grid_codes
from mant.result import GroupQuant

__all__ = [
    "FP4_MAGS",
    "FP6_MAGS",
    "SUBBLOCK_KEYS",
    "m2x_exponent",
    "round_mags_rne",
    "subblock_family",
    "subblock_format",
    "parse_subblock",
    "quantize_subblock_scale",
    "quantize_subblock_mantissa",
]

M2XFP_SOURCE = (
    "SJTU-ReArch-Group/M2XFP_ASPLOS26@2ed16eb6c456ee58ceea9f8c0d7dcf258de7e1f4 "
    "mxq/quantize/quant_func.py"
)
FP4_MAGS = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])
FP6_MAGS = np.array(
    [k / 8 for k in range(8)]
    + [1 + k / 8 for k in range(8)]
    + [2 + k / 4 for k in range(8)]
    + [4 + k / 2 for k in range(8)]
)
SUBBLOCK_KEYS = ("family", "kind", "block", "sub", "ratios", "biases")
_RATIOS = (1.0, 1.25, 1.5, 1.75)
_BIASES = (-1, 0, 1)
_RE_SUB = re.compile(r"^subblock_(scale|mantissa)_b(\d+)s(\d+)$")


def round_mags_rne(a: np.ndarray, mags: np.ndarray) -> np.ndarray:
    """Code of the nearest magnitude of ``mags`` (sorted, from 0), ties to the even code,
    saturating: the M2XFP authors' ``quantize_to_grid`` (bucketize, odd midpoints nudged up)."""
    mids = (mags[1:] + mags[:-1]) / 2
    j = np.searchsorted(mids, a, side="left")
    on = (j < len(mids)) & (mids[np.minimum(j, len(mids) - 1)] == a) & (j % 2 == 1)
    return j + on


def m2x_exponent(blocks: np.ndarray) -> np.ndarray:
    """Shared exponent ``floor(log2(max(amax, 1e-8))) - floor(log2(6))`` in float32, ``(n, 1)``."""
    amax = np.abs(blocks).max(axis=1, keepdims=True).astype(np.float32)
    amax = np.maximum(amax, np.float32(1e-8))
    return np.floor(np.log2(amax)) - np.float32(2.0)


def subblock_format(
    *,
    kind: str,
    block: int = 32,
    sub: int = 8,
    ratios: tuple[float, ...] = _RATIOS,
    biases: tuple[int, ...] = _BIASES,
    label: str | None = None,
    source: str = "",
) -> AdaptiveBlockFormat:
    """An :class:`AdaptiveBlockFormat` of the subblock family (see the module docstring)."""
    sets: tuple[tuple[float, ...], ...]
    if kind == "scale":
        sets = (tuple(float(r) for r in ratios), tuple(float(b) for b in biases))
        meta = 8 + (block // sub) * max(1, math.ceil(math.log2(len(ratios))))
        element = FloatFormat(exp_bits=2, man_bits=1)
    else:
        sets = ()
        meta = 8 + (block // sub) * 2
        element = FloatFormat(exp_bits=2, man_bits=3)  # FP6 grid covers the FP4 values
    return AdaptiveBlockFormat(
        label=label or f"subblock_{kind}_b{block}s{sub}",
        element=element,
        block=block,
        scale="e8m0",
        rule=f"subblock_{kind}",
        element_bits=4,
        meta_bits=meta,
        sets=sets,
        sub=sub,
        source=source or "M2XFP (ASPLOS'26) rule, " + M2XFP_SOURCE,
    )


def parse_subblock(name: str) -> AdaptiveBlockFormat | None:
    """``subblock_scale_b32s8`` / ``subblock_mantissa_b32s8`` (default fields); else ``None``."""
    m = _RE_SUB.match(name.strip().lower())
    if m is None:
        return None
    return _checked(m.group(1), int(m.group(2)), int(m.group(3)), _RATIOS, _BIASES)


def _checked(
    kind: str, block: Any, sub: Any, ratios: Any, biases: Any, c: IssueCollector | None = None
) -> AdaptiveBlockFormat:
    c = c or IssueCollector()
    c.check(kind in ("scale", "mantissa"), "candidates.kind", "must be scale or mantissa", kind)
    ok_b = isinstance(block, int) and not isinstance(block, bool) and 2 <= block <= 4096
    c.check(ok_b, "candidates.block", "must be an int in 2..4096", block)
    ok_s = isinstance(sub, int) and not isinstance(sub, bool) and sub >= 1
    c.check(ok_s and ok_b and block % sub == 0, "candidates.sub", "must divide block", sub)
    ok_r = (
        isinstance(ratios, list | tuple)
        and 1 <= len(ratios) <= 16
        and all(
            isinstance(r, int | float) and not isinstance(r, bool) and 1 <= r < 2 for r in ratios
        )
    )
    c.check(ok_r, "candidates.ratios", "must be 1..16 numbers in [1, 2)", ratios)
    ok_e = (
        isinstance(biases, list | tuple)
        and 1 <= len(biases) <= 8
        and all(isinstance(b, int) and not isinstance(b, bool) and -8 <= b <= 8 for b in biases)
    )
    c.check(ok_e, "candidates.biases", "must be 1..8 ints in -8..8", biases)
    c.raise_if_any()
    return subblock_format(
        kind=kind, block=block, sub=sub, ratios=tuple(ratios), biases=tuple(biases)
    )


def subblock_family(spec: Mapping[str, Any]) -> AdaptiveBlockFormat:
    """``{family: subblock, kind: scale|mantissa, block, sub, ratios, biases}`` -> format."""
    c = IssueCollector()
    unknown = sorted(set(spec) - set(SUBBLOCK_KEYS))
    c.check(not unknown, "candidates", "unknown keys; valid: " + ", ".join(SUBBLOCK_KEYS), unknown)
    return _checked(
        spec.get("kind", "scale"),
        spec.get("block", 32),
        spec.get("sub", 8),
        spec.get("ratios", _RATIOS),
        spec.get("biases", _BIASES),
        c,
    )


def _fp4(v: np.ndarray) -> np.ndarray:
    """Signed FP4 E2M1 value of float32 ``v`` (RNE on the code, saturating)."""
    return (np.sign(v) * FP4_MAGS[round_mags_rne(np.abs(v), FP4_MAGS)]).astype(np.float32)


def quantize_subblock_scale(
    groups: np.ndarray, lengths: np.ndarray, fmt: AdaptiveBlockFormat, choice: Any
) -> GroupQuant:
    """M2XFP ``mxes``: per-block exponent bias, per-sub-block scale mantissa (float32).

    ``choice`` (a bias index per block) is accepted for symmetry and not needed: the search is
    deterministic.
    """
    from mant import _subblock_kernels  # numba: loaded when quantizing

    x = np.ascontiguousarray(groups, dtype=np.float32)
    exps = m2x_exponent(x)[:, 0].astype(np.float32)
    pick, q, deq, scales = _subblock_kernels.subblock_scale_search(
        x,
        exps,
        fmt.sub,
        np.asarray(fmt.sets[0], dtype=np.float32),
        np.asarray(fmt.sets[1], dtype=np.float32),
    )
    codes = grid_codes(fmt.grid, q)
    return finish_groups(groups, lengths, deq, codes, scales, pick)


def quantize_subblock_mantissa(
    groups: np.ndarray, lengths: np.ndarray, fmt: AdaptiveBlockFormat, choice: Any
) -> GroupQuant:
    """M2XFP ``mxem``: MXFP4 plus FP6 for the largest |FP4| element of each sub-block."""
    from mant import _subblock_kernels  # numba: loaded when quantizing

    x = np.ascontiguousarray(groups, dtype=np.float32)
    exps = m2x_exponent(x)[:, 0].astype(np.float32)
    fp6 = FP6_MAGS.astype(np.float32)
    q, deq = _subblock_kernels.subblock_mantissa_apply(
        x, exps, fmt.sub, fp6, ((fp6[1:] + fp6[:-1]) / 2).astype(np.float32)
    )
    codes = grid_codes(fmt.grid, q)
    scales = np.exp2(exps.astype(np.float64))
    return finish_groups(groups, lengths, deq, codes, scales, np.zeros(len(x), dtype=np.int64))
