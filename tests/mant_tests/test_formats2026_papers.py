"""Issue 20: ``hif4``, ``mxplus_fp4``, ``blockdialect_fp4(_a)`` against their definitions,
transcribed again here.

``hif4_ref`` is a loop-by-loop transcription of the HiFloat4 authors' golden model (numpy,
float64: ``global-computing-consortium/HiFloat4`` @ c8e52aaa, ``hif4_gpu/HiF4_NVFP4_v14f16.py``,
``To_HiFX``), one block and one element at a time in Python floats, along the last axis.
``mxplus_ref`` writes out the MX+ rule (arXiv 2510.14557; no public code found) with the
assumptions named in ``docs/numerics.md``. ``blockdialect_ref`` writes out BlockDialect's
assumed rule (a)-(d) (second-hand formatbook, ``docs/numerics.md``), with exact squared errors in
Python integers. The library (vectorised numpy) shares no code with
these; every comparison is bit-exact on the dequantized tensor.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from mant.errors import InputError
from mant.formats import parse_format
from mant.quantize import QuantConfig, quantize, quantize_with_choice
from tests.mant_tests.test_formats2026 import TENSORS, _show_mismatch


@pytest.fixture(scope="module", params=sorted(TENSORS))
def tensor(request) -> np.ndarray:
    return TENSORS[request.param]()


def _blocks(w: np.ndarray, g: int) -> list[list[float]]:
    """Rows cut into blocks of ``g`` along the last axis, the last one padded with zeros."""
    out = []
    for row in np.asarray(w, dtype=np.float32).reshape(-1, w.shape[-1]):
        vals = [float(v) for v in row]
        vals += [0.0] * (-len(vals) % g)
        out += [vals[i : i + g] for i in range(0, len(vals), g)]
    return out


def _unblock(blocks: list[list[float]], shape: tuple[int, ...]) -> np.ndarray:
    n = shape[-1]
    per_row = math.ceil(n / len(blocks[0]))
    rows = [
        sum(blocks[r * per_row : (r + 1) * per_row], [])[:n] for r in range(len(blocks) // per_row)
    ]
    return np.asarray(rows, dtype=np.float64).reshape(shape).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# HiF4: {E6M2 + 8 x E1 + 16 x E1} + 64 x S1P2, To_HiFX(x, N=4, M=2, G=64)


def _to_bf16(v: float) -> float:
    e = math.floor(math.log2(abs(v) + 2.0**-1000))
    e = max(e, -126)
    return round(v * 2.0 ** (-e + 7)) * 2.0 ** (e - 7)  # round(): half to even, as np.round


def _to_e6m2(v: float) -> float:
    v = min(v, 2.0**15 * 1.5)
    v = max(v, 2.0**-48)
    e = math.floor(math.log2(v))
    return round(v * 2.0 ** (-e + 2)) * 2.0 ** (e - 2)


def hif4_ref(w: np.ndarray) -> np.ndarray:
    out = []
    for blk in _blocks(w, 64):
        mags = [abs(v) for v in blk]
        v16 = [max(mags[k * 4 : k * 4 + 4]) for k in range(16)]
        v8 = [max(v16[k * 2 : k * 2 + 2]) for k in range(8)]
        sf = _to_bf16(max(v8) * _to_bf16(1 / 7.0))
        e6m2 = _to_e6m2(sf)
        rec = _to_bf16(1 / e6m2)
        e1_8 = [1.0 if v * rec >= 4 else 0.0 for v in v8]
        e1_16 = [1.0 if v16[k] * rec * 2.0 ** (-e1_8[k // 2]) >= 2 else 0.0 for k in range(16)]
        res = []
        for i, x in enumerate(blk):
            de = e1_16[i // 4] + e1_8[i // 8]
            m = math.floor(abs(x) * rec * 2.0 ** (-de + 2) + 0.5) * 2.0**-2
            if m >= 2:
                m = 2 - 2.0**-2
            res.append((-1.0 if x < 0 else 1.0) * e6m2 * 2.0**de * m)
        out.append(res)
    return _unblock(out, w.shape)


def test_hif4_equals_the_authors_golden_model(tensor):
    got = quantize(tensor, candidates="hif4").dequantized
    want = hif4_ref(tensor)
    assert np.array_equal(got, want), _show_mismatch("hif4", tensor, got, want)


def test_hif4_zero_tiny_huge_and_partial_blocks():
    w = np.random.default_rng(5).standard_normal((5, 100)).astype(np.float32)
    w[0] = 0  # zero blocks: scale clamps to 2^-48, values stay 0 (the authors' code)
    w[1] *= 1e-17  # below the E6M2 range: the scale clamps to 2^-48
    w[2] *= 1e7  # above it: the scale clamps to 1.5 * 2^15 and the elements saturate
    got = quantize(w, candidates="hif4").dequantized
    want = hif4_ref(w)
    assert np.array_equal(got, want), _show_mismatch("hif4", w, got, want)
    assert not got[0].any()
    assert np.abs(got[2]).max() == 7 * 1.5 * 2.0**15


def test_hif4_levels_2_and_3_double_the_scale_of_their_8s_and_4s():
    # block max 7 in the first 4: scale 1 (E6M2), level-2 and level-3 bits set there;
    # the second 8 holds 1.75 at most, so its elements keep steps of 0.25
    x = np.zeros((1, 64), dtype=np.float32)
    x[0, 0], x[0, 1], x[0, 8], x[0, 9] = 7.0, 5.2, 1.75, 0.3
    got = quantize(x, candidates="hif4").dequantized[0]
    assert got[[0, 1, 8, 9]].tolist() == [7.0, 5.0, 1.75, 0.25]
    assert np.array_equal(got, hif4_ref(x)[0])


# ---------------------------------------------------------------------------------------------
# MX+ (MXFP4 with the block max's exponent bits as mantissa bits)

E2M1_MAGS = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]
BM_MAGS = [4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5]


def _nearest_even(a: float, mags: list[float]) -> float:
    """Nearest of ``mags`` (saturating at both ends), ties to the even index."""
    a = min(max(a, mags[0]), mags[-1])
    d = [abs(m - a) for m in mags]
    near = [k for k in range(len(mags)) if d[k] == min(d)]
    return mags[near[0] if len(near) == 1 else [k for k in near if k % 2 == 0][0]]


def mxplus_ref(w: np.ndarray) -> np.ndarray:
    out = []
    for blk in _blocks(w, 32):
        amax = max(abs(v) for v in blk)
        if amax == 0:
            out.append([0.0] * len(blk))
            continue
        e = min(max(math.frexp(amax)[1] - 1 - 2, -127), 127)  # floor(log2 amax) - emax(E2M1)
        bm = [abs(v) for v in blk].index(amax)  # the first block-max element
        res = []
        for i, x in enumerate(blk):
            a = abs(x) / 2.0**e
            q = _nearest_even(a, BM_MAGS) if i == bm and a >= 4 else _nearest_even(a, E2M1_MAGS)
            res.append(math.copysign(q * 2.0**e, x) if q else 0.0)
        out.append(res)
    return _unblock(out, w.shape)


def test_mxplus_equals_its_rule(tensor):
    got = quantize(tensor, candidates="mxplus_fp4").dequantized
    want = mxplus_ref(tensor)
    assert np.array_equal(got, want), _show_mismatch("mxplus_fp4", tensor, got, want)


def test_mxplus_block_max_gets_three_mantissa_bits_and_ties_go_to_the_first():
    x = np.zeros((2, 32), dtype=np.float32)
    x[0, :4] = [-7.3, 5.3, 0.75, 4.25]  # BM -7.3 -> -7.5; others E2M1: 5.3 -> 6, 0.75 -> 1
    x[1, :3] = [2.9, 3.6, -3.6]  # tied maxima at scale 2^-1: the first 3.5, the second E2M1's 3
    got = quantize(x, candidates="mxplus_fp4").dequantized
    assert got[0, :4].tolist() == [-7.5, 6.0, 1.0, 4.0]
    assert got[1, :3].tolist() == [3.0, 3.5, -3.0]
    assert np.array_equal(got, mxplus_ref(x))
    mx = quantize(x, candidates="mxfp4").dequantized
    assert mx[0, 0] == -6.0 and mx[1, 1] == 3.0  # plain MXFP4 saturates both at 6 * 2^E


def test_mxplus_zero_and_partial_blocks():
    w = np.random.default_rng(6).standard_t(2, (3, 70)).astype(np.float32)
    w[0] = 0
    got = quantize(w, candidates="mxplus_fp4").dequantized
    assert np.array_equal(got, mxplus_ref(w)) and not got[0].any()


# ---------------------------------------------------------------------------------------------
# BlockDialect (arXiv 2501.01144): one of 16 DialectFP4 dialects per block of 32, named assumptions

# the formatbook as transcribed by a third party from the paper's Figure 4: {0, .5, 1, 1.5, 2, 3,
# a, b} for these (b, a), then {0, .5, 1, 1.5, 2, 2.5, 3, 4}; ids 0..15 in this order
BD_PAIRS = [(7.5, 5.5), (7.5, 4.5), (7, 5.5), (7, 4.5), (6.5, 5), (6.5, 4), (6, 5), (6, 4)]
BD_PAIRS += [(5.5, 4.5), (5.5, 3.5), (5, 4.5), (5, 3.5), (4.5, 4), (4.5, 3.5), (4, 3.5)]
BD_TABLE = [[0, 0.5, 1, 1.5, 2, 3, a, b] for b, a in BD_PAIRS] + [[0, 0.5, 1, 1.5, 2, 2.5, 3, 4]]


def _to_dialect(s: float, mags: list[float]) -> float:
    """(b): nearest magnitude, ties to the smaller (scan upward, switch only when strictly
    nearer), above the max clamps to it."""
    if s >= mags[-1]:
        return mags[-1]
    best = mags[0]
    for m in mags[1:]:
        if abs(s - m) < abs(s - best):
            best = m
    return best


def _fixed(v: float) -> int:
    return int(math.ldexp(v, 200))  # exact: float32 inputs over 2^E are multiples of 2^-164


def blockdialect_ref(w: np.ndarray, online: bool = False) -> np.ndarray:
    out = []
    for blk in _blocks(w, 32):
        amax = max(abs(v) for v in blk)
        if amax == 0:
            out.append([0.0] * len(blk))
            continue
        e = 0  # floor(log2 amax) by doubling / halving
        while 2.0 ** (e + 1) <= amax:
            e += 1
        while 2.0**e > amax:
            e -= 1
        big_e = min(max(e - 2, -15), 16)  # (a): 5-bit exponent, bias 15
        scaled = [abs(v) / 2.0**big_e for v in blk]
        ids = list(range(16))
        if online:  # (d) stage 1: the pair whose max b is the smallest b >= the scaled max
            maxima = [7.5, 7, 6.5, 6, 5.5, 5, 4.5, 4]
            above = [p for p, b in enumerate(maxima) if b >= max(scaled)]
            p = above[-1] if above else 0
            ids = [2 * p, 2 * p + 1]
        best, best_err = [], -1
        for d in ids:  # (c) / (d) stage 2: least exact squared error, the lower id on ties
            qs = [_to_dialect(s, BD_TABLE[d]) for s in scaled]
            err = sum((_fixed(s) - _fixed(q)) ** 2 for s, q in zip(scaled, qs, strict=True))
            if best_err < 0 or err < best_err:
                best, best_err = qs, err
        out.append([math.copysign(q * 2.0**big_e, x) for q, x in zip(best, blk, strict=True)])
    return _unblock(out, w.shape)


@pytest.mark.parametrize("name", ["blockdialect_fp4", "blockdialect_fp4_a"])
def test_blockdialect_equals_its_rule(tensor, name):
    got = quantize(tensor, candidates=name).dequantized
    want = blockdialect_ref(tensor, online=name.endswith("_a"))
    assert np.array_equal(got, want), _show_mismatch(name, tensor, got, want)


def test_blockdialect_ties_clamps_and_exponent_ends():
    from mant.blockdialect import blockdialect_blocks

    x = np.zeros((6, 32), dtype=np.float32)
    x[1, :4] = [5.0, -2.0, 0.75, 1.25]  # 5 exact in dialects 4, 6, 10, 11: the lowest id, 4
    x[2, :3] = [7.9, -2.75, 0.25]  # 7.9 clamps to 7.5 (dialects 0 and 1 tie: 0); 2.75 -> 3
    x[3, :3] = [4.0, 2.5, 2.75]  # only dialect 15 holds 2.5; 2.75 ties there: 2.5
    x[4, :2] = [3 * 2.0**20, -(2.0**-3)]  # E = 19 clamps to 16: 3 * 2^20 saturates to 7.5 * 2^16
    x[5, :2] = [3 * 2.0**-17, 2.0**-20]  # E = -18 clamps to -15: 0.75 ties down, 2^-5 flushes
    q, e, d = blockdialect_blocks(x)
    assert e.tolist() == [-15, 0, 0, 0, 16, -15]  # a zero block stores the smallest exponent
    assert d.tolist() == [0, 4, 0, 15, 0, 0]
    assert q[:, :4].tolist() == [
        [0, 0, 0, 0],
        [5, -2, 0.5, 1],  # 0.75 and 1.25 are ties: toward zero
        [7.5, -3, 0, 0],  # 0.25 ties between 0 and 0.5: 0
        [4, 2.5, 2.5, 0],
        [7.5, 0, 0, 0],
        [0.5, 0, 0, 0],
    ]
    for name, online in (("blockdialect_fp4", False), ("blockdialect_fp4_a", True)):
        got = quantize(x, candidates=name).dequantized
        assert np.array_equal(got, blockdialect_ref(x, online)), _show_mismatch(name, x, got, x)
        assert not got[0].any() and got[4, 0] == 7.5 * 2.0**16
    # (d): scaled max 5.2 -> the b = 5.5 pair (8, 9), where (c) takes 5 (dialect 4)
    q, _, d = blockdialect_blocks(np.array([[5.2, 1.0]]), online=True)
    assert d.tolist() == [8] and q[0].tolist() == [5.5, 1.0]
    assert blockdialect_blocks(np.array([[5.2, 1.0]]))[2].tolist() == [4]


def test_blockdialect_partial_blocks_and_heavy_tails():
    w = np.random.default_rng(7).standard_t(2, (3, 70)).astype(np.float32)
    w[0] = 0
    for name, online in (("blockdialect_fp4", False), ("blockdialect_fp4_a", True)):
        got = quantize(w, candidates=name).dequantized
        assert np.array_equal(got, blockdialect_ref(w, online)) and not got[0].any()


# ---------------------------------------------------------------------------------------------
# bits per element, the interface


@pytest.mark.parametrize(
    ("name", "bpe", "g"),
    [
        ("hif4", 4.5, 64),  # paper: 64 x 4-bit elements + 32 bits (E6M2 + 8 x E1 + 16 x E1)
        ("mxplus_fp4", 4 + (8 + 5) / 32, 32),  # E8M0 + 5-bit block-max index per 32 (assumed)
        ("blockdialect_fp4", 4 + (4 + 5) / 32, 32),  # 4-bit dialect id + 5-bit exponent per 32
        ("blockdialect_fp4_a", 4.28125, 32),
    ],
)
def test_bits_per_element_and_fixed_block(name, bpe, g):
    cfg = QuantConfig(candidates=name)
    assert cfg.group_size == g and cfg.bits_per_element == bpe
    assert parse_format(name).bits_per_element == bpe
    with pytest.raises(InputError):
        QuantConfig(candidates=name, group_size=g * 2)
    assert QuantConfig.from_dict(cfg.to_dict()) == cfg
    w = TENSORS["gauss"]()
    r = quantize(w, cfg)
    again = quantize_with_choice(w, cfg, r.choice)
    assert np.array_equal(again.dequantized, r.dequantized)
    codes_back = parse_format(name).grid[r.codes] * np.repeat(r.scales, g).reshape(w.shape)
    assert np.array_equal(codes_back.astype(np.float32), r.dequantized)


@pytest.mark.parametrize(
    ("name", "g"), [("hif4", 64), ("mxplus_fp4", 32), ("blockdialect_fp4", 32)]
)
def test_cli_quantize_saves_the_dequantized_tensor(tmp_path, name, g):
    w = TENSORS["gauss"]()
    src, out = tmp_path / "W.npy", tmp_path / "OUT.npy"
    np.save(src, w)
    cmd = [sys.executable, "-m", "dse", "quantize", str(src), "--candidates", name]
    cmd += ["--group-size", str(g), "--save", str(out), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    info = json.loads(proc.stdout)
    assert np.array_equal(np.load(out), quantize(w, candidates=name).dequantized)
    assert info["bits_per_element"] == QuantConfig(candidates=name).bits_per_element
    assert 0 < info["rel_mse"] < 0.02
    bad = subprocess.run(
        cmd[:-5] + ["--group-size", str(2 * g), "--json"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and name in bad.stderr


def test_formats_command_lists_them_with_sources(capsys):
    from dse.cli import main
    from dse.cli.formats import describe

    named = {f["name"]: f for f in describe()["named_formats"]}
    assert "c8e52aa" in named["hif4"]["source"]
    assert "2510.14557" in named["mxplus_fp4"]["source"]
    assert "2501.01144" in named["blockdialect_fp4"]["source"]
    assert "second-hand" in named["blockdialect_fp4"]["source"]
    assert "assumptions" in named["blockdialect_fp4_a"]["source"]
    assert named["blockdialect_fp4"]["bits_per_element"] == 4.28125
    assert named["hif4"]["bits_per_element"] == 4.5
    assert main(["formats"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(ln.startswith("hif4 ") and "HiFloat4@c8e52aa" in ln for ln in lines)
    assert any(ln.startswith("mxplus_fp4 ") and "MX+" in ln for ln in lines)
    assert any(ln.startswith("blockdialect_fp4 ") and "BlockDialect" in ln for ln in lines)


def test_recipe_and_compare_list_carry_them():
    from dse.cli.compare import CANDIDATE_LISTS
    from mant.recipe import Recipe

    assert {"hif4", "mxplus_fp4", "blockdialect_fp4", "blockdialect_fp4_a"} <= set(
        CANDIDATE_LISTS["formats-2026"]
    )
    data = {
        "name": "papers",
        "weights": {"default": {"format": "hif4"}, "down": {"format": "mxplus_fp4"}},
    }
    r = Recipe.from_dict(data)
    assert Recipe.from_dict(r.to_dict()) == r
    assert r.weight("q").bits_per_element == 4.5
    assert r.weight("down").bits_per_element == 4.40625
    w = TENSORS["gauss"]()
    assert np.array_equal(quantize(w, r.weight("q").quant_config()).dequantized, hif4_ref(w))


def test_blockdialect_recipe_uses_the_weight_and_activation_rules():
    from mant.recipes import named_recipe

    r = named_recipe("blockdialect-w4a4")
    assert r.weight_bits_per_element == r.act_bits_per_element == 4.28125
    w = TENSORS["student_t"]()
    for spec, online in ((r.weight("q"), False), (r.tensor("activations"), True)):
        got = quantize(w, spec.quant_config()).dequantized
        assert np.array_equal(got, blockdialect_ref(w, online))
