"""Relative-MSE figures of mant.md §9.5 (tensor A) reproduced.

Source: ../shared/reference/mant.md §9.5 table, row "A", columns "MANT, correct family + INT4,
exact fp32 scale" and "FP4 E2M1, fp32 scale", and "port's INT4" (which keeps an exact fp32
scale). The table gives 4 significant digits; we allow 0.1% relative (the last printed digit).
"""

from __future__ import annotations

import numpy as np
import pytest

from mant.quantize import QuantConfig, quantize

MANT_MD_9_5_TENSOR_A = {
    # g: (MANT unicore16 family + INT4, FP4 E2M1, INT4)
    32: (6.104e-3, 1.022e-2, 9.41e-3),
    64: (7.716e-3, 1.117e-2, 1.158e-2),
    128: (9.083e-3, 1.186e-2, 1.377e-2),
}


@pytest.fixture(scope="module")
def tensor_a():
    return np.random.default_rng(0).standard_normal((4096, 4096)).astype(np.float32)


@pytest.mark.parametrize("g", sorted(MANT_MD_9_5_TENSOR_A))
def test_tensor_a_relative_mse_matches_mant_md(tensor_a, g):
    mant, fp4, int4 = MANT_MD_9_5_TENSOR_A[g]
    got = {
        name: quantize(tensor_a, QuantConfig(candidates=name, group_size=g)).rel_mse
        for name in ("mant-unicore16", "fp4_e2m1", "int4")
    }
    assert got["mant-unicore16"] == pytest.approx(mant, rel=1e-3)
    assert got["fp4_e2m1"] == pytest.approx(fp4, rel=1e-3)
    # printed with 3 significant digits in mant.md: allow half a unit of the last digit
    assert got["int4"] == pytest.approx(int4, rel=5e-3)


def test_tensor_a_choice_peaks_at_a30_and_rarely_picks_a0(tensor_a):
    # mant.md §9.5: "the chosen coefficient peaks at a = 30 ... a = 0 is almost never chosen"
    hist = quantize(tensor_a[:1024], QuantConfig(candidates="mant-unicore16")).choice_histogram()
    assert max(hist, key=hist.get) == "mant4_a30"
    assert hist["mant4_a0"] < 0.001 * sum(hist.values())
