"""The shipped reproduce configuration, :data:`DEFAULT_CONFIG`, as plain YAML types.

It mirrors ``studies/reproduce/paper.yaml`` (a test keeps the two equal) so the reproduce command
also works outside a source checkout. :mod:`dse.reproduce.cases` parses it and re-exports it.

Example:
    >>> DEFAULT_CONFIG["subject"], DEFAULT_CONFIG["version"] == CONFIG_VERSION
    ('mant', True)
"""

from __future__ import annotations

from typing import Any

__all__ = ["CONFIG_VERSION", "DEFAULT_CONFIG"]

CONFIG_VERSION = 1

# UniCore's M-ANT array, 104 x 32 PEs of 785929/2024 um^2 (hardware.md section 5 [T]); the
# presets' iso-area budget (docs/hwmodel.md).
_UNICORE_MANT_BUDGET_UM2 = 104 * 32 * 785929 / 2024

DEFAULT_CONFIG: dict[str, Any] = {
    "version": CONFIG_VERSION,
    "name": "reproduce_paper",
    "subject": "mant",
    "baselines": ["ant", "olive", "tender"],
    "references": ["int8"],
    "area_budget_um2": round(_UNICORE_MANT_BUDGET_UM2, 1),
    "iso_area_tolerance": 0.03,
    "mean": "geometric",
    "designs": {
        "mant": {
            "preset": "mant",
            "keep": "rows",
            "weights": {"candidates": "mant-unicore16", "granularity": "group", "group_size": 64},
            "kv": {"method": "realtime", "candidates": "mant-unicore16", "group_size": 64},
        },
        "ant": {
            "preset": "ant",
            "keep": "cols",
            "weights": {"candidates": "ant", "granularity": "channel"},
            "kv": {"method": "fp16"},
        },
        "olive": {
            "preset": "olive",
            "keep": "cols",
            "weights": {"candidates": "olive-ovp", "granularity": "channel"},
            "kv": {"method": "fp16"},
        },
        "tender": {
            "preset": "tender",
            "keep": "cols",
            "weights": {"candidates": "int4", "granularity": "channel"},
            "kv": {"method": "tender"},
        },
        "int8": {
            "preset": "int8",
            "keep": "cols",
            "weights": {"candidates": "int8", "granularity": "channel"},
            "kv": {"method": "quantize", "candidates": "int8", "granularity": "channel"},
        },
    },
    "models": ["llama-7b", "llama-2-7b", "llama-2-13b", "opt-6.7b", "opt-13b"],
    "phases": ["prefill", "decode"],
    "seq_lens": [512, 2048, 4096],
    "batches": [1, 16],
    "sensitivity": {
        "seq_len": 2048,
        "batch": 16,
        "knobs": {
            "dram_bw_bytes_per_cycle": [25.6, 64.0, 128.0, 256.0, 512.0, 1024.0],
            "area_scale": [0.25, 0.5, 1.0, 2.0, 4.0],
            "buffer_kib": [128, 256, 512, 1024, 2048],
            "seq_len": [256, 512, 1024, 2048, 4096, 8192],
            "batch": [1, 4, 16, 64, 128],
            "act_bits": [4, 8],
            "dataflow": ["ws", "os", "is"],
            "preload": ["serial", "overlapped"],
            "dram_energy_scale": [0.0575, 0.25, 0.5, 1.0, 2.0],
        },
    },
    "accuracy": {
        "weights": "auto",
        "kv": "auto",
        "n_weight_tensors": 8,
        "kv_layers": [0, 7, 14, 21, 29],
        "perplexity_windows": 1,
        "seed": 0,
    },
    "paper": {
        "speedup_avg": 2.99,
        "speedup_max": 4.46,
        "energy_reduction_avg": 2.81,
        "energy_reduction_max": 4.10,
        "source": "M-ANT abstract, HPCA 2025 (arXiv 2502.18755) [C], reference hardware.md §1",
    },
}
