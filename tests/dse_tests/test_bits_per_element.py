"""One bits-per-element count for the same setting in every entry point (issue 13).

MANT4 with the ``mant-unicore16`` set at g = 64 and the default fp16 scale stores
4 + (16 scale + 4 selector bits) / 64 = 4.3125 bits per element (mant.md §4) in the CLI, the
Python API, a study's design and the ``mant`` accelerator preset, for weights and KV alike.
"""

from __future__ import annotations

import json

import numpy as np

from dse.cli import main
from dse.evaluate.objective import Evaluator
from dse.study.design import Design
from dse.study.spec import parse_spec
from hwmodel import load_accelerator
from mant import KVQuantConfig, QuantConfig
from mant.scales import DEFAULT_SCALE

EXPECTED = 4 + (16 + 4) / 64


def test_default_scale_is_fp16_unless_the_format_fixes_its_own():
    assert str(DEFAULT_SCALE) == "fp16"
    assert str(QuantConfig().scale_format) == "fp16"
    assert str(KVQuantConfig().scale_format) == "fp16"
    assert str(QuantConfig(candidates="mxfp4").scale_format) == "e8m0"
    assert str(QuantConfig(candidates="nvfp4").scale_format) == "e4m3"


def test_mant_unicore16_g64_counts_the_same_everywhere(tmp_path, capsys, small_spec_dict):
    np.save(tmp_path / "w.npy", np.random.default_rng(0).standard_normal((4, 256)).astype("f4"))
    args = ["quantize", str(tmp_path / "w.npy"), "--candidates", "mant-unicore16"]
    assert main([*args, "--group-size", "64", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert cli["scale_format"] == "fp16"

    api = QuantConfig(candidates="mant-unicore16", group_size=64)
    kv_api = KVQuantConfig(candidates="mant-unicore16", group_size=64)

    small_spec_dict["space"] = {
        "pe_type": ["mant"],
        "group_size": [64],
        "weight_format": ["mant-unicore16"],
        "kv_bits": [4],
        "kv_format": ["mant-unicore16"],
    }
    evaluator = Evaluator(parse_spec(small_spec_dict))
    design = Design(
        pe_type="mant",
        group_size=64,
        weight_bits=4,
        weight_format="mant-unicore16",
        kv_bits=4,
        kv_format="mant-unicore16",
        act_bits=8,
        rows=8,
        cols=8,
        dataflow="ws",
    )
    _, _, study = evaluator.configs(design)
    preset = load_accelerator("mant").default_precision

    counts = {
        "cli": cli["bits_per_element"],
        "api": api.bits_per_element,
        "api kv": kv_api.bits_per_element,
        "study weights": study.weight_bits_per_element,
        "study kv": study.kv_bits_per_element,
        "preset weights": preset.weight_bits_per_element,
    }
    assert counts == dict.fromkeys(counts, EXPECTED)
    # the preset runs its PE's native recipe, mant-hpca25, whose KV cache picks one of 3 types
    # (mant-kv3: a 2-bit selector): 4 + (16 + 2) / 64
    assert preset.kv_bits_per_element == 4 + (16 + 2) / 64
