"""Hardware configs validate themselves; choices are StrEnums; one bits-per-element formula."""

from __future__ import annotations

import inspect

import pytest

import hwmodel.precision
import mant
from hwmodel import Dataflow, GemvPath, Operand, Precision, Preload
from hwmodel.accelerator import ArrayConfig, BufferConfig, DramConfig
from hwmodel.workload import Gemm
from mant.errors import InputError


def test_array_config_lists_every_bad_field():
    with pytest.raises(InputError) as err:
        ArrayConfig(rows=0, cols=-3, dataflow="xy")  # type: ignore[arg-type]
    assert str(err.value).splitlines() == [
        "array.rows: must be an int >= 1, got 0",
        "array.cols: must be an int >= 1, got -3",
        "array.dataflow: must be one of os, ws, is, got 'xy'",
    ]


def test_array_config_checks_preload_gemv_path_and_bools():
    with pytest.raises(InputError) as err:
        ArrayConfig(rows=True, cols=4, preload="eager", gemv_path="gpu", gemv_max_m=0)  # type: ignore[arg-type]
    assert [i.path for i in err.value.issues] == [
        "array.rows",
        "array.gemv_max_m",
        "array.preload",
        "array.gemv_path",
    ]
    rule = (
        "array.gemv_path: must be one of load_path, scalesim, double_buffered, memory_width, "
        "vector"
    )
    assert rule in str(err.value)


def test_strings_become_enum_members():
    a = ArrayConfig(rows=4, cols=4, dataflow="is", preload="overlapped", gemv_path="vector")  # type: ignore[arg-type]
    assert a.dataflow is Dataflow.IS
    assert a.preload is Preload.OVERLAPPED
    assert a.gemv_path is GemvPath.VECTOR
    assert ArrayConfig(**a.to_dict()) == a
    assert Gemm(m=1, n=2, k=3, operand="kv").operand is Operand.KV  # type: ignore[arg-type]


def test_buffer_and_dram_configs_validate_themselves():
    with pytest.raises(InputError) as err:
        BufferConfig(weight_bytes=0, act_bytes=1.5, out_bytes=8, double_buffered="yes")  # type: ignore[arg-type]
    assert str(err.value).splitlines() == [
        "buffers.weight_bytes: must be an int >= 1, got 0",
        "buffers.act_bytes: must be an int >= 1, got 1.5",
        "buffers.double_buffered: must be a bool, got 'yes'",
    ]
    with pytest.raises(InputError) as err:
        DramConfig(
            bw_bytes_per_cycle=-1.0,
            read_pj_per_bit=float("nan"),
            write_pj_per_bit=0.0,
            background_mw=-1.0,
            capacity_bytes=0,
            type="sram",  # type: ignore[arg-type]
        )
    assert [i.path for i in err.value.issues] == [
        "dram.bw_bytes_per_cycle",
        "dram.read_pj_per_bit",
        "dram.write_pj_per_bit",
        "dram.background_mw",
        "dram.capacity_bytes",
        "dram.type",
    ]


def test_precision_bits_come_from_mant_only():
    assert not hasattr(hwmodel.precision, "metadata_bits_per_element")
    assert "/ group_size" not in inspect.getsource(hwmodel.precision)
    for g, scale, sel in ((64, 16, 4), (128, 8, 0), (32, 16, 2)):
        p = Precision.grouped(
            weight_bits=4,
            act_bits=8,
            kv_bits=4,
            group_size=g,
            scale_bits=scale,
            weight_selector_bits=sel,
        )
        assert p.weight_bits_per_element == mant.bits_per_element(4, g, scale, sel)
        # the KV cache counts its 4-bit type selector too (the default of Precision.grouped)
        assert p.kv_bits_per_element == mant.bits_per_element(4, g, scale, 4)
