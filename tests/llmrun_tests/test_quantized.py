"""Perplexity under quantization on the real model: orderings, and the KV demo (real_models.md §6).

Small protocol to keep CI short: 2 windows of 256 tokens (512 for the KV demo, where the reference
number is). Perplexity differences at 8 bits are at noise level (int8 can land a hair below fp32),
so "fp32 < 8-bit" is checked as "8-bit within 1% of fp32".
"""

from __future__ import annotations

import pytest

from llmrun import perplexity
from mant.kv import KVQuantConfig
from mant.quantize import QuantConfig


@pytest.fixture(scope="module")
def weight_ppl():
    runs = {}
    for spec in (None, "int8:g64", "int4:g64"):
        runs[spec or "fp32"] = perplexity(weights=spec, windows=2, window_len=256)
    # the programmatic form: a QuantConfig instead of a spec string
    mant = QuantConfig(candidates="mant-unicore16", group_size=64)
    runs["mant-unicore16:g64"] = perplexity(weights=mant, windows=2, window_len=256)
    return runs


def test_weight_quantization_ordering(weight_ppl):
    fp32, int8 = weight_ppl["fp32"].ppl, weight_ppl["int8:g64"].ppl
    int4, mant = weight_ppl["int4:g64"].ppl, weight_ppl["mant-unicore16:g64"].ppl
    assert abs(int8 - fp32) / fp32 < 0.01
    assert int4 > 1.05 * max(fp32, int8)
    assert fp32 < mant <= int4  # MANT no worse than INT4 at the same bits and group size


def test_weight_errors_are_reported(weight_ppl):
    assert weight_ppl["fp32"].weight_rel_mse is None
    e8, e4 = weight_ppl["int8:g64"].weight_rel_mse, weight_ppl["int4:g64"].weight_rel_mse
    assert 0 < e8 < e4 < 0.05
    assert weight_ppl["mant-unicore16:g64"].weight_rel_mse < e4
    assert weight_ppl["int4:g64"].weights == "int4:g64"


def test_reference_kv_demo_int4_asym_g64():
    r = perplexity(kv="int4_asym:g64:ref", windows=2, window_len=512)
    assert r.tokens == 1022
    # KV demo, INT4 asym g = 64, K and V per token: 21.880 (real_models.md §6)
    assert r.ppl == pytest.approx(21.880, rel=0.01)


def test_kv_quantization_ordering():
    """The authors' layout, decoded (V tokens INT8-staged until their group of 64 completes)."""
    kw = {"windows": 2, "window_len": 256}
    specs = (None, "int4:g64", "mant-kv3:g64", "mant-kv3:g64:oracle")
    ppl = {spec: perplexity(kv=spec, **kw).ppl for spec in specs}
    fp = ppl[None]
    one_pass_int8 = perplexity(kv="int8:g64", prefill_tokens=256, **kw).ppl
    decoded_int8 = perplexity(kv="int8:g64", **kw).ppl
    assert abs(one_pass_int8 - fp) / fp < 0.01
    # staged V tokens clip at the 64-token prompt's absmax per channel: a real, small cost
    assert one_pass_int8 < decoded_int8 < 1.05 * fp
    assert ppl["int4:g64"] > 1.02 * max(fp, decoded_int8)
    for mant in ("mant-kv3:g64", "mant-kv3:g64:oracle"):
        assert fp < ppl[mant] < ppl["int4:g64"], (mant, ppl)
    assert ppl["mant-kv3:g64:oracle"] <= ppl["mant-kv3:g64"] * 1.01
    # the programmatic form, KIVI's layout with the LUT (a whole window at once)
    kivi = KVQuantConfig(
        candidates="mant-unicore16", selection="realtime", k_grouping="channel", v_grouping="token"
    )
    assert fp < perplexity(kv=kivi, **kw).ppl < ppl["int4:g64"]
