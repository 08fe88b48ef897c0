"""Shared helpers of the dse tests: a small, fast study spec on a GEMM workload."""

from __future__ import annotations

import copy

import pytest

# A study small enough to run in a second: synthetic tensors, two GEMMs (weight operands only,
# so every PE type runs it without a KV mode), an enumerable space of 2*2*2*2*2 = 32 designs.
SMALL_SPEC = {
    "version": 1,
    "name": "small",
    "seed": 0,
    "n_trials": 12,
    "sampler": {"name": "random"},
    "workload": {
        "gemms": [
            {"name": "proj", "m": 16, "n": 256, "k": 256},
            {"name": "mlp", "m": 16, "n": 512, "k": 256, "count": 2},
        ]
    },
    "accuracy": {"source": "synthetic", "n_tensors": 2, "tensor_rows": 16, "tensor_cols": 256},
    "space": {
        "pe_type": ["mant", "int8"],
        "group_size": [32, 64],
        "weight_format": ["mant-unicore16", "int{bits}"],
        "rows": [8, 16],
        "cols": [8, 16],
    },
    "objectives": [
        {"metric": "weight_rel_mse", "direction": "minimize"},
        {"metric": "latency_s", "direction": "minimize"},
        {"metric": "area_um2", "direction": "minimize"},
    ],
    "constraints": [{"metric": "weight_bits_per_element", "max": 6.0}],
}


@pytest.fixture
def small_spec_dict() -> dict:
    return copy.deepcopy(SMALL_SPEC)


@pytest.fixture
def small_spec(small_spec_dict):
    from dse.spec import parse_spec

    return parse_spec(small_spec_dict)
