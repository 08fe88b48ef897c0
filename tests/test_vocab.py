"""One vocabulary across packages (issue 23 §1): the tensor kinds are mant's everywhere."""

from __future__ import annotations


def test_hwmodel_operand_kind_is_mants_tensor_kind():
    from hwmodel import OperandKind
    from hwmodel.precision import GEMM_KINDS, KindPrecision
    from mant.vocab import B_OPERAND_KINDS, TensorKind

    assert OperandKind is TensorKind
    assert set(GEMM_KINDS.values()) == set(B_OPERAND_KINDS)
    assert KindPrecision(kind="key", bits=4, bits_per_element=4.25).kind is TensorKind.KEY


def test_dse_kind_names_are_mants():
    from dse.study.space import KV_SIDE_NAMES, WEIGHT_KIND_NAMES
    from dse.study.tensor_kinds import projection_kind
    from mant.vocab import KV_KINDS, WEIGHT_KINDS

    assert WEIGHT_KIND_NAMES == tuple(WEIGHT_KINDS) and KV_SIDE_NAMES == tuple(KV_KINDS)
    assert projection_kind("model.layers.0.mlp.down_proj.weight") in WEIGHT_KINDS


def test_a_precision_rejects_a_kind_that_is_not_a_b_operand():
    import pytest

    from hwmodel import Precision
    from mant.errors import InputError

    p = Precision.grouped(weight_bits=4, act_bits=8, kv_bits=4)
    with pytest.raises(InputError, match="unknown kind"):
        p.of_kind("activations")
