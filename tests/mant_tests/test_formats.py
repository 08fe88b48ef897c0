"""Format grids against independent oracles: ml_dtypes for FP/INT, mant.md tables for MANT/ANT."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from mant.errors import InputError
from mant.formats import MantFormat, example_format_names, parse_format


def _all_finite_values(dtype) -> np.ndarray:
    """Decode every bit pattern of an ml_dtypes type (<= 8 bits) and keep the finite values.

    ml_dtypes stores sub-byte floats one per byte, in the low bits.
    """
    width = ml_dtypes.finfo(dtype).bits
    decoded = np.arange(2**width, dtype=np.uint8).view(dtype).astype(np.float64)
    return np.unique(decoded[np.isfinite(decoded)])


FP_CASES = [
    ("fp4_e2m1", ml_dtypes.float4_e2m1fn),
    ("fp6_e2m3", ml_dtypes.float6_e2m3fn),
    ("fp6_e3m2", ml_dtypes.float6_e3m2fn),
    ("fp8_e4m3fn", ml_dtypes.float8_e4m3fn),
    ("fp8_e4m3", ml_dtypes.float8_e4m3),
    ("fp8_e5m2", ml_dtypes.float8_e5m2),
    ("fp8_e4m3fnuz", ml_dtypes.float8_e4m3fnuz),
    ("fp8_e5m2fnuz", ml_dtypes.float8_e5m2fnuz),
    ("fp8_e3m4", ml_dtypes.float8_e3m4),
]


@pytest.mark.parametrize(("name", "dtype"), FP_CASES, ids=[c[0] for c in FP_CASES])
def test_float_grid_equals_every_finite_ml_dtypes_code(name, dtype):
    expected = _all_finite_values(dtype)
    got = parse_format(name).grid
    assert np.array_equal(got, expected), f"{name}: extra {set(got) ^ set(expected)}"


@pytest.mark.parametrize(
    ("k", "dtype"), [(2, ml_dtypes.int2), (4, ml_dtypes.int4), (8, np.int8)], ids=str
)
def test_int_grid_is_the_oracle_range_without_the_most_negative_code(k, dtype):
    info = ml_dtypes.iinfo(dtype) if dtype is not np.int8 else np.iinfo(np.int8)
    full = np.arange(int(info.min), int(info.max) + 1, dtype=np.float64)
    assert np.array_equal(parse_format(f"int{k}").grid, full[1:])  # symmetric: drop -2^(k-1)
    assert np.array_equal(parse_format(f"int{k}_asym").grid, full - full[0])


def test_mant_a5_matches_the_mant_md_table():
    # mant.md §2.1: a = 5 -> 1, 7, 14, 23, 36, 57, 94, 163
    mags = MantFormat(k=4, a=5).magnitudes.tolist()
    assert mags == [1, 7, 14, 23, 36, 57, 94, 163]


@pytest.mark.parametrize(
    ("a", "top"),
    # mant.md §2.1 / §3 (v(7) = 7a + 128; the a=70 and a=110 UniCore typos are not reproduced)
    [(0, 128), (6, 170), (17, 247), (18, 254), (30, 338), (70, 618), (120, 968), (127, 1017)],
)
def test_mant_top_value_is_7a_plus_128(a, top):
    assert parse_format(f"mant4_a{a}").max_abs == top


def test_mant_a110_level6_is_724_not_the_unicore_typo():
    assert parse_format("mant4_a110").magnitudes[6] == 724  # mant.md §3


def test_mant_zero_variant_replaces_only_the_unit_level():
    plain, zero = parse_format("mant4_a17"), parse_format("mant4_a17_z")
    assert zero.magnitudes[0] == 0 and np.array_equal(zero.magnitudes[1:], plain.magnitudes[1:])
    assert len(zero.grid) == 15 and len(plain.grid) == 16


@pytest.mark.parametrize("k", range(2, 9))
def test_mant_has_2_to_the_k_levels_for_every_k(k):
    f = MantFormat(k=k, a=3)
    assert f.bits == k and len(f.grid) == 2**k and np.all(np.diff(f.grid) > 0)


def test_ant_pot_and_flint_grids_match_the_ant_artifact_tables():
    # mant.md §9.1 (clevercool/ANT-Quantization quant_modules.py)
    assert parse_format("pot4").magnitudes.tolist() == [0, 1, 2, 4, 8, 16, 32, 64]
    assert parse_format("flint4").magnitudes.tolist() == [0, 1, 2, 3, 4, 6, 8, 16]
    unsigned_b4 = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 24, 32, 64]
    assert parse_format("flint5").magnitudes.tolist() == unsigned_b4


@pytest.mark.parametrize("name", example_format_names())
def test_names_round_trip_and_grids_are_read_only(name):
    f = parse_format(name)
    assert parse_format(f.name) == f
    assert f.grid.dtype == np.float64 and not f.grid.flags.writeable
    assert np.all(np.diff(f.grid) > 0)
    assert f.max_abs == np.max(np.abs(f.grid))


def test_block_formats_carry_block_size_and_scale():
    # OCP MX v1.0: block 32 with E8M0; NVFP4: block 16 with E4M3 and an fp32 tensor scale
    mx, nv = parse_format("mxfp4"), parse_format("nvfp4")
    assert (mx.block_size, mx.scale, mx.emax) == (32, "e8m0", 2)
    assert (nv.block_size, nv.scale, nv.tensor_scale) == (16, "e4m3", True)
    assert parse_format("mxint8").emax == 6
    assert parse_format("mxfp8_e4m3").element == parse_format("fp8_e4m3fn")


def test_aliases_parse_to_canonical_names():
    assert parse_format("fp4_e2m1fn").name == "fp4_e2m1"
    assert parse_format("  MANT4_A17_Z ").name == "mant4_a17_z"


@pytest.mark.parametrize("bad", ["float4", "mant4", "int1", "int9", "fp5_e2m1", "pot4_asym", ""])
def test_unknown_names_raise_input_error_listing_families(bad):
    with pytest.raises(InputError) as info:
        parse_format(bad)
    text = str(info.value)
    assert repr(bad) in text or "must be" in text
    if "known format" in text:
        assert "mant{k}_a{a}[_z]" in text and "mxfp4" in text


def test_bad_mant_parameters_raise():
    with pytest.raises(InputError, match="a: must be an int >= 0"):
        MantFormat(k=4, a=-1)
    with pytest.raises(InputError, match="k: must be an int in 2..8"):
        MantFormat(k=9, a=1)
