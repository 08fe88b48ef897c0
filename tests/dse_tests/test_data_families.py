"""A data-derived weight family in a study is resolved by dse from its calibration file."""

from __future__ import annotations

import numpy as np
import pytest

from dse.study.design import Design
from dse.study.numerics import weight_config
from mant.errors import InputError


def _design(fmt):
    return Design(
        pe_type="mant", group_size=64, weight_bits=4, weight_format=fmt, kv_bits=16,
        kv_format="int{bits}", act_bits=8, rows=32, cols=32, dataflow="ws",
    )  # fmt: skip


def test_quantiles_family_reads_its_calibration_tensor(tmp_path):
    calib = np.random.default_rng(5).standard_t(2.0, (64, 512)).astype(np.float32)
    path = tmp_path / "calib.npy"
    np.save(path, calib)
    cfg = weight_config(_design({"family": "quantiles", "n": 4, "calibration": str(path)}))
    names = cfg.candidate_set.names
    assert 1 <= len(names) <= 4 and all(n.startswith("mant4_a") for n in names)
    # the same family resolved by hand on the same tensor gives the same set
    from mant.data_families import data_family_set

    assert data_family_set({"family": "quantiles", "n": 4}, calib).names == names


def test_missing_calibration_file_is_an_input_error(tmp_path):
    missing = str(tmp_path / "nope.npy")
    with pytest.raises(InputError) as info:
        weight_config(_design({"family": "kmeans", "n": 4, "calibration": missing}))
    assert "nope.npy" in str(info.value)
