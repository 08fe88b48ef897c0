"""The shipped recipes: named :class:`~mant.recipe.Recipe` settings with their sources.

``mant-dse recipes`` lists them with their bits per element.

Example:
    >>> named_recipe("mant-hpca25").summary()
    'W4A8 KV4'
    >>> "int4-g64" in recipe_names()
    True
"""

from __future__ import annotations

from typing import Any

from mant.errors import InputError
from mant.recipe import Recipe

__all__ = ["RECIPES", "named_recipe", "parse_recipe_arg", "recipe_names"]

# --- settings -------------------------------------------------------------------------
_INT8_G64 = {"format": "int8", "group_size": 64}
_INT4_G64 = {"format": "int4", "group_size": 64}
_MANT_W = {
    "format": "mant-unicore16",
    "group_size": 64,
    "scale_format": "fp16",
    "selection": "output_mse",
}
# GPTQ picks each group's type inside its sweep by the output error the sweep adds (mant.gptq)
_MANT_W_GPTQ = {
    "format": "mant-unicore16",
    "group_size": 64,
    "scale_format": "fp16",
    "selection": "output_mse",
    "algorithm": "gptq",
}
_MANT_W_AWQ = {  # AWQ as its authors: scale, then round (each group's type by weight error)
    "format": "mant-unicore16",
    "group_size": 64,
    "scale_format": "fp16",
    "algorithm": "awq",
}
_GPTQ_SOURCE = (
    "GPTQ (Frantar et al., ICLR 2023) in place of round to nearest: each group's MANT type "
    "chosen inside the column sweep by the output error the group's sweep adds (the M-ANT "
    "authors' output-error rule made GPTQ's own, mant.gptq), scale by the weight-MSE rule, "
    "damping 1%, natural column order; calibration on the first 16 x 512 tokens of Emma "
    "(llmrun.calibration)"
)
_AWQ_SOURCE = (
    "AWQ (Lin et al., MLSys 2024): per-input-channel scales mean|X|^alpha, alpha searched over "
    "0..0.95 per weight for the least output error, then round to nearest with each group's "
    "MANT type by weight error; calibration on Emma (the first 1024 tokens for the search)"
)
_MANT_K = {"format": "mant-kv3", "group_size": 64, "selection": "variance", "grouping": "token"}
_MANT_V = {**_MANT_K, "grouping": "channel", "staging_bits": 8}

RECIPES: dict[str, dict[str, Any]] = {
    "fp16": {
        "name": "fp16",
        "description": "nothing quantized (the reference)",
    },
    "mant-hpca25": {
        "name": "mant-hpca25",
        "description": "M-ANT W4A8 KV4 as its authors run it",
        "source": "M-ANT authors' code, commit 75fb156 (mant_authors.md §1-2): MANT4 weights "
        "(15 a-values + INT4) chosen by output error per (row, 64 inputs); INT8 activations, Q, "
        "softmax output and attention output per group of 64; K per token, V per channel in "
        "groups of 64 tokens with INT8 staging; a = 0 / 25 / INT4 by var(x/absmax)",
        "weights": {"default": _MANT_W},
        "activations": _INT8_G64,
        "query": _INT8_G64,
        "key": _MANT_K,
        "value": _MANT_V,
        "attn_probs": _INT8_G64,
        "attn_out": _INT8_G64,
    },
    "mant-w4a8": {
        "name": "mant-w4a8",
        "description": "M-ANT W4A8, KV cache and attention in fp16",
        "source": "M-ANT authors' code, commit 75fb156 (w4a8 runs without KV quantization)",
        "weights": {"default": _MANT_W},
        "activations": _INT8_G64,
    },
    "mant-hpca25-gptq": {
        "name": "mant-hpca25-gptq",
        "description": "mant-hpca25 with GPTQ weights, type by output error (W4A8 KV4)",
        "source": _GPTQ_SOURCE + "; activations, Q, K, V, P, O as mant-hpca25",
        "weights": {"default": _MANT_W_GPTQ},
        "activations": _INT8_G64,
        "query": _INT8_G64,
        "key": _MANT_K,
        "value": _MANT_V,
        "attn_probs": _INT8_G64,
        "attn_out": _INT8_G64,
    },
    "mant-hpca25-awq": {
        "name": "mant-hpca25-awq",
        "description": "mant-hpca25 with AWQ-scaled weights (W4A8 KV4)",
        "source": _AWQ_SOURCE + "; activations, Q, K, V, P, O as mant-hpca25",
        "weights": {"default": _MANT_W_AWQ},
        "activations": _INT8_G64,
        "query": _INT8_G64,
        "key": _MANT_K,
        "value": _MANT_V,
        "attn_probs": _INT8_G64,
        "attn_out": _INT8_G64,
    },
    "mant-w4a4": {
        "name": "mant-w4a4",
        "description": "M-ANT W4A4 (INT4 activations per group of 64), KV in fp16",
        "source": "M-ANT paper's W4A4 table (mant_authors.md §4: LLaMA-7B 6.09) and the "
        "authors' code with a_bit = 4",
        "weights": {"default": _MANT_W},
        "activations": _INT4_G64,
    },
    "mant-w4a16": {
        "name": "mant-w4a16",
        "description": "M-ANT weights only (W4A16): the authors' output-MSE selection",
        "source": "M-ANT authors' code, commit 75fb156: MANT4 weights chosen by output error per "
        "(row, 64 inputs); activations and KV cache in fp16",
        "weights": {"default": _MANT_W},
    },
    "mant-w4a16-gptq": {
        "name": "mant-w4a16-gptq",
        "description": "M-ANT weights only (W4A16), GPTQ with the output-error type choice",
        "source": _GPTQ_SOURCE,
        "weights": {"default": _MANT_W_GPTQ},
    },
    "mant-w4a16-awq": {
        "name": "mant-w4a16-awq",
        "description": "M-ANT weights only (W4A16), AWQ-scaled, round to nearest",
        "source": _AWQ_SOURCE,
        "weights": {"default": _MANT_W_AWQ},
    },
    "mant-w4a8-gptq": {
        "name": "mant-w4a8-gptq",
        "description": "mant-w4a8 with GPTQ weights, type by output error",
        "source": _GPTQ_SOURCE + "; activations as mant-w4a8",
        "weights": {"default": _MANT_W_GPTQ},
        "activations": _INT8_G64,
    },
    "mant-w4a8-awq": {
        "name": "mant-w4a8-awq",
        "description": "mant-w4a8 with AWQ-scaled weights",
        "source": _AWQ_SOURCE + "; activations as mant-w4a8",
        "weights": {"default": _MANT_W_AWQ},
        "activations": _INT8_G64,
    },
    "ant-w4a4": {
        "name": "ant-w4a4",
        "description": "ANT: per-tensor type (int/flint/PoT) per output channel, W4A4",
        "source": "ANT (MICRO 2022) as the M-ANT paper compares it: 4-bit weights and "
        "activations, type chosen per tensor; weights per output channel",
        "weights": {"default": {"format": "ant", "granularity": "channel"}},
        "activations": {"format": "ant", "granularity": "tensor"},
    },
    "olive-w4a4": {
        "name": "olive-w4a4",
        "description": "OliVe: outlier-victim pairs, W4A4",
        "source": "OliVe (ISCA 2023): 4-bit outlier-victim-pair weights per output channel; "
        "activations with OliVe's int/flint normal types per tensor",
        "weights": {"default": {"format": "olive-ovp", "granularity": "channel"}},
        "activations": {"format": "olive", "granularity": "tensor"},
    },
    "tender-w4a4": {
        "name": "tender-w4a4",
        "description": "Tender: INT4 weights per channel, activations by channel decomposition",
        "source": "Tender (ISCA 2024): per-channel INT4 weights, activations split into "
        "channel groups with power-of-two scale ratios (mant.tender)",
        "weights": {"default": {"format": "int4", "granularity": "channel"}},
        "activations": {"format": "tender"},
    },
    "int4-g64": {
        "name": "int4-g64",
        "description": "INT4 weights per group of 64 (W4A16)",
        "source": "group-wise INT4 baseline (GPTQ/AWQ style, round to nearest)",
        "weights": {"default": _INT4_G64},
    },
    "int8-g64": {
        "name": "int8-g64",
        "description": "INT8 weights and activations per group of 64 (W8A8)",
        "source": "group-wise INT8 baseline; the authors' W8 setting is plain per-group INT8",
        "weights": {"default": _INT8_G64},
        "activations": _INT8_G64,
    },
    "bitfusion-w8a8": {
        "name": "bitfusion-w8a8",
        "description": "Bit Fusion: INT8 weights and activations per group of 64 (W8A8)",
        "source": "Bit Fusion (ISCA 2018) runs plain signed INT operands of 2/4/8 bits; the "
        "M-ANT paper does not say at which width it ran BitFusion, 8-bit is Bit Fusion's "
        "accuracy-safe integer setting and the ANT paper's BitFusion baseline [U]; KV in fp16 "
        "like the other baselines",
        "weights": {"default": _INT8_G64},
        "activations": _INT8_G64,
    },
    "bitmod-w4a16": {
        "name": "bitmod-w4a16",
        "description": "BitMoD W4A16 KV8: bitmod_fp4 weights per group of 128, FP16 acts",
        "source": "BitMoD (HPCA 2025) as its simulator runs it (abdelfattah-lab/BitMoD-HPCA-25 "
        "e445a5f, bitmod_sim/test_bitmod.py): bitmod_fp4 weights per group of 128 (the four "
        "ER/EA variants; 4.140625 bits counting the FP16 scale and the 2-bit selector, where the "
        "simulator counts 4.0625), FP16 activations, 8-bit KV cache",
        "weights": {"default": {"format": "bitmod_fp4", "group_size": 128}},
        "key": {"format": "int8", "group_size": 128, "grouping": "token"},
        "value": {"format": "int8", "group_size": 128, "grouping": "channel"},
    },
    "mxfp4-w4a4": {
        "name": "mxfp4-w4a4",
        "description": "OCP MXFP4 weights and activations (block 32, E8M0 scale), KV in fp16",
        "source": "OCP Microscaling Formats (MX) v1.0: FP4 E2M1 elements, block 32, E8M0 scale",
        "weights": {"default": {"format": "mxfp4"}},
        "activations": {"format": "mxfp4"},
    },
    "nvfp4-w4a4": {
        "name": "nvfp4-w4a4",
        "description": "NVFP4 weights and activations (block 16, E4M3 scale), KV in fp16",
        "source": "NVIDIA NVFP4: FP4 E2M1 elements, block 16, E4M3 scale, FP32 per tensor",
        "weights": {"default": {"format": "nvfp4"}},
        "activations": {"format": "nvfp4"},
    },
    "m2xfp-w4a4": {
        "name": "m2xfp-w4a4",
        "description": "M2XFP W4A4: m2xfp4_w weights, m2xfp4_a activations, KV in fp16",
        "source": "M2XFP (ASPLOS 2026, SJTU-ReArch-Group/M2XFP_ASPLOS26 2ed16eb): m2xfp4_w "
        "(the authors' mxes) weights and m2xfp4_a (mxem) activations, 4.5 bits each",
        "weights": {"default": {"format": "m2xfp4_w"}},
        "activations": {"format": "m2xfp4_a"},
    },
    "hif4-w4a4": {
        "name": "hif4-w4a4",
        "description": "HiFloat4 weights and activations (block 64, 3-level scale), KV in fp16",
        "source": "HiFloat4 (arXiv 2602.11287; global-computing-consortium/HiFloat4 c8e52aa, "
        "To_HiFX): weights and activations both HiF4 as the paper's inference runs, 4.5 bits",
        "weights": {"default": {"format": "hif4"}},
        "activations": {"format": "hif4"},
    },
    "mxplus-w4a4": {
        "name": "mxplus-w4a4",
        "description": "MX+ (MXFP4+) weights and activations (block 32), KV in fp16",
        "source": "MX+ (MICRO 2025, arXiv 2510.14557) in place of MXFP4 for both operands; rule "
        "from the paper with named assumptions (docs/numerics.md), 4.40625 bits",
        "weights": {"default": {"format": "mxplus_fp4"}},
        "activations": {"format": "mxplus_fp4"},
    },
    "razer-w4a4": {
        "name": "razer-w4a4",
        "description": "RaZeR W4A4: razer_mxfp4 weights, MXFP4 activations, KV in fp16",
        "source": "RaZeR (abdelfattah-lab/BitMoD-MXFP4-NVFP4 e5eb8da, quant_mxfp4_razer): "
        "razer_mxfp4 weights (block 32, E8M0 scale, -0 remapped per block to +-5 or +-8, "
        "4.3125 bits with the 2-bit selector); that version is weight-only and the v2 paper's "
        "activation variant (NVFP4, +-5 only) is not implemented, so activations are plain MXFP4",
        "weights": {"default": {"format": "razer_mxfp4"}},
        "activations": {"format": "mxfp4"},
    },
    "razer-nv-w4a4": {
        "name": "razer-nv-w4a4",
        "description": "RaZeR-NVFP4 W4A4: razer_nvfp4 weights, NVFP4 activations, KV in fp16",
        "source": "RaZeR (abdelfattah-lab/BitMoD-MXFP4-NVFP4 e5eb8da, quant_nvfp4_razer): "
        "razer_nvfp4 weights (block 16, E4M3 scale under an FP32 tensor scale, 4.625 bits with "
        "the selector stored explicitly; the v2 paper's 4.5-bit packing is not modelled); "
        "activations plain NVFP4 (the v2 activation variant is not implemented)",
        "weights": {"default": {"format": "razer_nvfp4"}},
        "activations": {"format": "nvfp4"},
    },
    "fouroversix-w4a4": {
        "name": "fouroversix-w4a4",
        "description": "Four Over Six W4A4: nvfp4_4over6 weights and activations, KV in fp16",
        "source": "Four Over Six (mit-han-lab/fouroversix dadfad6, quantize/pytorch/reference.py):"
        " NVFP4 with the block max mapped to 6 or 4 (least SSE), tensor scale amax / 1536, "
        "4.5 bits; the authors quantize weights and activations of each linear layer with it",
        "weights": {"default": {"format": "nvfp4_4over6"}},
        "activations": {"format": "nvfp4_4over6"},
    },
    "blockdialect-w4a4": {
        "name": "blockdialect-w4a4",
        "description": "BlockDialect weights (least-error dialect) and activations (two-stage "
        "online choice), block 32, KV in fp16",
        "source": "BlockDialect (ICML 2025, arXiv 2501.01144): blockdialect_fp4 weights, "
        "blockdialect_fp4_a activations; second-hand formatbook and named assumptions "
        "(docs/numerics.md), 4.28125 bits",
        "weights": {"default": {"format": "blockdialect_fp4"}},
        "activations": {"format": "blockdialect_fp4_a"},
    },
    "kv4-int4": {
        "name": "kv4-int4",
        "description": "INT4 KV cache only (K per token, V per channel, INT8 staging)",
        "source": "INT4 baseline of the authors' 4-bit KV table (mant_authors.md §4)",
        "key": {"format": "int4", "group_size": 64, "grouping": "token"},
        "value": {"format": "int4", "group_size": 64, "grouping": "channel", "staging_bits": 8},
    },
    "kv4-mant-kivi": {
        "name": "kv4-mant-kivi",
        "description": "MANT4 KV cache in KIVI's layout (K per channel, V per token), LUT rule",
        "source": "KIVI (ICML 2024) layout with mant-dse's calibrated threshold table",
        "key": {
            "format": "mant-unicore16",
            "group_size": 64,
            "selection": "lut",
            "grouping": "channel",
        },
        "value": {
            "format": "mant-unicore16",
            "group_size": 64,
            "selection": "lut",
            "grouping": "token",
        },
    },
    "kv4-int4-asym": {
        "name": "kv4-int4-asym",
        "description": "asymmetric INT4 KV cache (scale, zero point per group of 32), KIVI layout",
        "source": "KIVI (ICML 2024): asymmetric INT4 with a per-group fp16 scale and zero point, "
        "K per channel (groups of 32 tokens), V per token (groups of 32 channels); KIVI's fp16 "
        "residual of the newest tokens is not modelled",
        "key": {"format": "int4_asym", "group_size": 32, "grouping": "channel"},
        "value": {"format": "int4_asym", "group_size": 32, "grouping": "token"},
    },
    "qserve-w4a8kv4": {
        "name": "qserve-w4a8kv4",
        "description": "QServe W4A8KV4: INT4 weights with INT8 group scales, INT8 per-token "
        "activations, asymmetric INT4 KV per head",
        "source": "QServe (MLSys 2025, QoQ): weights asymmetric INT4 per group of 128 with "
        "progressive scales (INT8 group-scale codes under a higher-level FP scale; mant's int8 "
        "scale format keeps that level per tensor where QoQ keeps it per output channel); "
        "activations INT8 per token; K and V asymmetric INT4 per token in groups of 64 (one "
        "head of SmolLM2; QoQ: one head)",
        "weights": {"default": {"format": "int4_asym", "group_size": 128, "scale_format": "int8"}},
        "activations": {"format": "int8", "granularity": "channel"},
        "key": {"format": "int4_asym", "group_size": 64, "grouping": "token"},
        "value": {"format": "int4_asym", "group_size": 64, "grouping": "token"},
    },
}


def recipe_names() -> tuple[str, ...]:
    """Names of the shipped recipes."""
    return tuple(RECIPES)


_MEMO: dict[str, Recipe] = {}


def named_recipe(name: str, path: str = "recipe") -> Recipe:
    """A shipped recipe by name."""
    if name not in RECIPES:
        raise InputError.single(path, "must be a named recipe (" + ", ".join(RECIPES) + ")", name)
    if name not in _MEMO:
        _MEMO[name] = Recipe.from_dict(RECIPES[name])
    return _MEMO[name]


def parse_recipe_arg(value: Any, path: str = "recipe") -> Recipe:
    """A recipe from a name, a mapping or a :class:`Recipe` (files: ``dse.study.recipe_io``)."""
    if isinstance(value, Recipe):
        return value
    if isinstance(value, str):
        return named_recipe(value, path)
    return Recipe.from_dict(value, path)
