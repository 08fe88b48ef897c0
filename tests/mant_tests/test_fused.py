"""The fused MANT x INT8 datapath is bit-exact against decode-then-matmul."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mant.candidates import candidate_set
from mant.errors import InputError
from mant.formats import MantFormat
from mant.fused import (
    accumulator_bounds,
    accumulator_widths,
    decode_then_matmul,
    decode_weights,
    format_width_table,
    fused_group_dot,
    signed_bits,
    split_grid_codes,
)
from mant.quantize import quantize_groups


@st.composite
def operands(draw: st.DrawFn) -> tuple:
    bits = draw(st.integers(2, 8))
    g = draw(st.sampled_from([8, 16, 32, 64, 128, 256]))
    n_groups = draw(st.integers(1, 3))
    n_out = draw(st.integers(1, 3))
    m = draw(st.integers(1, 2))
    k_len = g * n_groups
    seed = draw(st.integers(0, 2**32 - 1))
    mode = draw(st.sampled_from(["random", "extreme", "mixed"]))
    i_max = (1 << (bits - 1)) - 1
    rng = np.random.default_rng(seed)
    if mode == "extreme":
        # all max codes, -128 activations, a up to 127: every accumulator at its bound
        sign = rng.integers(0, 2, (n_out, k_len))
        index = np.full((n_out, k_len), i_max)
        a = np.full((n_out, n_groups), 127)
        x = np.full((m, k_len), -128)
    else:
        sign = rng.integers(0, 2, (n_out, k_len))
        index = rng.integers(0, i_max + 1, (n_out, k_len))
        a = rng.integers(0, 128, (n_out, n_groups))
        x = rng.integers(-128, 128, (m, k_len))
        if mode == "mixed":
            x[:, ::3] = rng.choice([-128, 127], size=x[:, ::3].shape)
            index[:, ::2] = i_max
    zero_code = draw(st.booleans())
    return sign, index, a, x, g, bits, zero_code


@settings(max_examples=120, deadline=None)
@given(operands())
def test_fused_is_bit_exact_against_decode_then_matmul(ops: tuple) -> None:
    sign, index, a, x, g, bits, zero_code = ops
    fused = fused_group_dot(sign, index, a, x, g, bits=bits, zero_code=zero_code)
    ref = decode_then_matmul(sign, index, a, x, g, bits=bits, zero_code=zero_code)
    assert fused.shape == ref.shape == (x.shape[0], sign.shape[0])
    mismatch = np.flatnonzero(np.asarray(fused != ref).ravel())
    assert mismatch.size == 0, (
        f"bits={bits} g={g} zero={zero_code} first mismatch {mismatch[:3]}: "
        f"fused={fused.ravel()[mismatch[:3]]} ref={ref.ravel()[mismatch[:3]]}"
    )


@settings(max_examples=60, deadline=None)
@given(operands())
def test_measured_widths_stay_within_the_bound(ops: tuple) -> None:
    sign, index, a, x, g, bits, zero_code = ops
    measured = accumulator_widths(sign, index, a, x, g, bits=bits, zero_code=zero_code)
    bound = accumulator_bounds(
        bits=bits, group_size=g, a_max=int(a.max()), n_groups=sign.shape[1] // g
    )
    assert measured.within(bound), format_width_table(measured, bound)


def test_fused_matches_float_formula_on_a_hand_example() -> None:
    # w = (-1)^s (a i + 2^i): group 1 (a=17) -> 247, -59; group 2 (a=5) -> 1, 7
    sign = np.array([[0, 1, 0, 0]])
    index = np.array([[7, 3, 0, 1]])
    a = np.array([[17, 5]])
    x = np.array([1, 2, 3, -4])
    assert decode_weights(sign, index, a, 2).tolist() == [[247, -59, 1, 7]]
    assert int(fused_group_dot(sign, index, a, x, 2)[0]) == 247 - 118 + 3 - 28


def test_zero_code_decodes_index_zero_to_exact_zero() -> None:
    sign = np.array([[1, 0]])
    index = np.array([[0, 0]])
    a = np.array([[9]])
    assert decode_weights(sign, index, a, 2, zero_code=True).tolist() == [[0, 0]]
    assert decode_weights(sign, index, a, 2).tolist() == [[-1, 1]]
    x = np.array([100, -7])
    assert int(fused_group_dot(sign, index, a, x, 2, zero_code=True)[0]) == 0
    assert int(fused_group_dot(sign, index, a, x, 2)[0]) == -107


def test_bound_table_of_mant_md_section_8_2() -> None:
    # golden: mant.md §8.2 (MANT4 x INT8, g = 64, a <= 127)
    b = accumulator_bounds(bits=4, group_size=64, a_max=127)
    assert (b.product_s1, b.s1, b.product_s2, b.s2) == (896, 57_344, 16_384, 1_048_576)
    assert b.epilogue == 8_331_264
    assert b.decoded_product == 130_176
    bits = b.bits()
    assert (bits["product_s1"], bits["s1"], bits["product_s2"], bits["s2"]) == (11, 17, 16, 22)
    assert (bits["epilogue"], bits["decoded_product"]) == (24, 18)


@pytest.mark.parametrize("g", [8, 16, 32, 64, 128, 256])
def test_bound_grows_by_log2_of_group_ratio(g: int) -> None:
    # mant.md §8.2: "for general g, add log2(g/64) bits to S1 and S2"
    base = accumulator_bounds(group_size=64).bits()
    now = accumulator_bounds(group_size=g).bits()
    shift = int(np.log2(g / 64))
    assert now["s1"] == base["s1"] + shift
    assert now["s2"] == base["s2"] + shift


@pytest.mark.parametrize("bits", range(2, 9))
def test_extreme_inputs_reach_the_bound_exactly(bits: int) -> None:
    g = 64
    i_max = (1 << (bits - 1)) - 1
    sign = np.ones((1, g), dtype=np.int64)  # x' = -(-128) = +128 on every MAC
    index = np.full((1, g), i_max)
    x = np.full(g, -128)
    measured = accumulator_widths(sign, index, [[127]], x, g, bits=bits)
    assert measured == accumulator_bounds(bits=bits, group_size=g, a_max=127)
    assert fused_group_dot(sign, index, [[127]], x, g, bits=bits)[0] == measured.epilogue


def test_signed_bits() -> None:
    assert [signed_bits(v) for v in (0, 1, 127, 128, 255, 256)] == [1, 2, 8, 9, 9, 10]


def test_large_inputs_stay_int64_and_chunk() -> None:
    rng = np.random.default_rng(3)
    n_out, k_len, m, g = 300, 512, 40, 64
    sign = rng.integers(0, 2, (n_out, k_len))
    index = rng.integers(0, 8, (n_out, k_len))
    a = rng.integers(0, 128, (n_out, k_len // g))
    x = rng.integers(-128, 128, (m, k_len)).astype(np.int8)
    fused = fused_group_dot(sign, index, a, x, g)
    assert fused.dtype == np.int64
    np.testing.assert_array_equal(fused, decode_then_matmul(sign, index, a, x, g))


def _issues(exc: pytest.ExceptionInfo[InputError]) -> set[str]:
    return {i.path for i in exc.value.issues}


def test_bad_inputs_raise_input_error_with_every_issue() -> None:
    sign = np.zeros((2, 8), dtype=np.int64)
    index = np.zeros((2, 8), dtype=np.int64)
    a = np.zeros((2, 1), dtype=np.int64)
    x = np.zeros(8, dtype=np.int64)
    with pytest.raises(InputError) as exc:
        fused_group_dot(sign, index, a, x, 0)
    assert _issues(exc) == {"group_size"}
    with pytest.raises(InputError) as exc:
        fused_group_dot(sign, index, a, x, 3)
    assert "must divide" in str(exc.value)
    with pytest.raises(InputError) as exc:
        fused_group_dot(sign, index, a, np.zeros(7, dtype=np.int64), 8)
    assert _issues(exc) == {"x_int8"}
    with pytest.raises(InputError) as exc:
        fused_group_dot(sign, index + 8, a - 1, x + 200, 8, bits=4)
    assert _issues(exc) == {"codes_index", "a_per_group", "x_int8"}
    with pytest.raises(InputError) as exc:
        fused_group_dot(sign, index, a, x.astype(np.float32), 8)
    assert "must be an integer array" in str(exc.value)
    with pytest.raises(InputError) as exc:
        fused_group_dot(sign + 2, index, np.zeros((2, 2)), x, 8, bits=9)
    assert _issues(exc) == {"bits", "a_per_group"}


@pytest.mark.parametrize("bits", range(2, 9))
@pytest.mark.parametrize("zero", [False, True])
def test_decoded_weights_equal_the_format_grid_for_every_code(bits: int, zero: bool) -> None:
    # differential against mant.formats (an independent derivation of the grid), every code
    for a in (0, 5, 17, 127):
        grid = MantFormat(k=bits, a=a, zero=zero).grid
        codes = np.arange(grid.size)
        sign, index = split_grid_codes(codes, bits=bits, zero_code=zero)
        w = decode_weights(sign[None], index[None], [[a]], grid.size, bits=bits, zero_code=zero)
        got = np.array([float(v) for v in w[0]])
        np.testing.assert_array_equal(got, grid, err_msg=f"bits={bits} a={a} zero={zero}")


def test_fused_on_mant_quantize_output_equals_the_float_matmul() -> None:
    """End to end: mant.quantize codes + scales through the integer datapath."""
    rng = np.random.default_rng(11)
    n_out, k_len, g, m = 8, 256, 64, 5
    w = rng.standard_normal((n_out, k_len)).astype(np.float32)
    x = rng.standard_normal((m, k_len))
    cs = candidate_set(["mant4_a0", "mant4_a17", "mant4_a60", "mant4_a120"])
    q = quantize_groups(w.reshape(-1, g), cs, scale_format="fp32")
    a = np.array([cs.formats[c].a for c in q.choice]).reshape(n_out, k_len // g)
    sign, index = split_grid_codes(q.codes.reshape(n_out, k_len), bits=4)
    x_scale = np.abs(x).max() / 127
    x_int = np.round(x / x_scale).astype(np.int8)
    per_group = fused_group_dot(sign, index, a, x_int, g, per_group=True)
    assert per_group.shape == (m, n_out, k_len // g)
    np.testing.assert_array_equal(
        per_group.sum(axis=-1), fused_group_dot(sign, index, a, x_int, g)
    )
    scales = q.scales.reshape(n_out, k_len // g)
    fused = (per_group * scales[None]).sum(axis=-1) * x_scale
    reference = x_int.astype(np.float64) * x_scale @ q.dequantized.reshape(n_out, k_len).T
    np.testing.assert_allclose(fused, reference, rtol=1e-5, atol=1e-5)


def test_split_grid_codes_rejects_out_of_range() -> None:
    with pytest.raises(InputError, match="codes: must be in 0..14"):
        split_grid_codes([15], bits=4, zero_code=True)
