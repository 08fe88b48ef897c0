"""The recipe table of docs/perplexity.md: M-ANT as its authors built it, and its peers.

Used by ``scripts/ppl_table.py`` (which writes the page); one row per named recipe (``mant-dse
recipes``) with the overrides a row needs, evaluated by ``llmrun.perplexity`` and cached in the
table's result store.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from llmrun import perplexity
from mant.errors import MantDseError

WHOLE_WINDOW = 10**6  # prefill_tokens above the window length: the one-pass (prefill) evaluation


@dataclass(frozen=True, slots=True, kw_only=True)
class RecipeRow:
    label: str
    recipe: str
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def command(self) -> str:
        flags = {
            "weights": "--weights",
            "acts": "--acts",
            "kv": "--kv",
            "prefill_tokens": "--prefill",
        }
        extra = " ".join(f"{flags[k]} {v}" for k, v in self.overrides.items())
        return f"--recipe {self.recipe}" + (f" {extra}" if extra else "")


RECIPE_ROWS = (
    RecipeRow(label="FP (linears as stored: Q4_1)", recipe="fp16"),
    RecipeRow(label="W4A8 M-ANT, output-MSE selection (the authors')", recipe="mant-w4a8"),
    RecipeRow(
        label="W4A8 M-ANT, weight-MSE selection",
        recipe="mant-w4a8",
        overrides={"weights": "mant-unicore16:g64:weight-mse"},
    ),
    RecipeRow(label="W4A8 KV4 M-ANT: all of the authors' setting", recipe="mant-hpca25"),
    RecipeRow(
        label="W4A8 M-ANT + INT8 Q, softmax and attention output, KV fp",
        recipe="mant-hpca25",
        overrides={"kv": "fp"},
    ),
    RecipeRow(label="W4A4 M-ANT", recipe="mant-w4a4"),
    RecipeRow(label="W4A4 ANT", recipe="ant-w4a4"),
    RecipeRow(label="W4A4 OliVe", recipe="olive-w4a4"),
    RecipeRow(label="W4A4 Tender", recipe="tender-w4a4"),
    RecipeRow(label="W4A16 INT4 g64", recipe="int4-g64"),
    RecipeRow(
        label="KV4 M-ANT: authors' layout and variance rule, decoded",
        recipe="fp16",
        overrides={"kv": "mant-kv3:g64"},
    ),
    RecipeRow(
        label="KV4 M-ANT: authors' layout, oracle over a0 / a25 / INT4, decoded",
        recipe="fp16",
        overrides={"kv": "mant-kv3:g64:oracle"},
    ),
    RecipeRow(
        label="KV4 M-ANT: authors' layout and rule, one-pass prefill (no INT8 staging)",
        recipe="fp16",
        overrides={"kv": "mant-kv3:g64", "prefill_tokens": WHOLE_WINDOW},
    ),
    RecipeRow(label="KV4 M-ANT: KIVI layout, LUT (unicore16)", recipe="kv4-mant-kivi"),
    RecipeRow(
        label="KV4 M-ANT: KIVI layout, oracle (unicore16)",
        recipe="fp16",
        overrides={"kv": "mant-unicore16:g64:oracle:k=channel:v=token"},
    ),
    RecipeRow(label="KV4 INT4, authors' layout, decoded", recipe="kv4-int4"),
)


def evaluate(store: Any, row: RecipeRow, windows: int, window_len: int) -> dict:
    """The row's perplexity from the store, computed (and saved) when missing."""
    key = json.dumps(["recipe", row.recipe, row.overrides, windows, window_len], sort_keys=True)
    if key not in store.data or "error" in store.data[key]:
        start = time.perf_counter()
        try:
            r = perplexity(
                recipe=row.recipe, windows=windows, window_len=window_len, **row.overrides
            )
            entry = r.to_dict()
        except (MantDseError, ValueError) as exc:
            entry = {"error": str(exc).splitlines()[0][:160]}
        entry["wall_seconds"] = time.perf_counter() - start
        store.data[key] = entry
        store.save()
        shown = entry.get("ppl", entry.get("error"))
        print(f"  {row.command}: {shown} ({entry['wall_seconds']:.1f} s)", file=sys.stderr)
    return store.data[key]


def _bits(value: float) -> str:
    return "16" if value >= 16 else f"{value:.4g}"


def render_recipes(store: Any, windows: int, window_len: int) -> str:
    results = {row.label: evaluate(store, row, windows, window_len) for row in RECIPE_ROWS}
    fp = results[RECIPE_ROWS[0].label].get("ppl", float("nan"))
    lines = [
        RECIPE_HEADER.format(
            windows=windows, window_len=window_len, scored=windows * (window_len - 1)
        ),
        "| setting | `mant-dse ppl` flags | W bits/el [Q4_1] | A bits/el | KV bits/el | "
        "PPL [Q4_1 if W < 16] | vs FP | s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in RECIPE_ROWS:
        e = results[row.label]
        if "ppl" not in e:
            lines.append(f"| {row.label} | `{row.command}` | | | | n/a: {e['error']} | | |")
            continue
        lines.append(
            f"| {row.label} | `{row.command}` | {_bits(e['weight_bits_per_element'])} | "
            f"{_bits(e['act_bits_per_element'])} | {_bits(e['kv_bits_per_element'])} | "
            f"{e['ppl']:.3f} | {100 * (e['ppl'] / fp - 1):+.1f}% | {e['wall_seconds']:.0f} |"
        )
    lines.append(recipe_orderings(results))
    return "\n".join(lines) + "\n"


def recipe_orderings(results: dict[str, dict]) -> str:
    def ppl(label_start: str) -> float:
        for label, e in results.items():
            if label.startswith(label_start):
                return float(e.get("ppl", float("nan")))
        return float("nan")

    w4a4 = sorted((ppl(f"W4A4 {n}"), n) for n in ("M-ANT", "ANT", "OliVe", "Tender"))
    kv = sorted(
        (ppl(lbl), short)
        for lbl, short in (
            ("KV4 M-ANT: authors' layout and variance", "M-ANT (authors')"),
            ("KV4 M-ANT: KIVI layout, LUT", "M-ANT KIVI LUT"),
            ("KV4 INT4", "INT4"),
        )
    )
    out = ["\nMeasured orderings (lower is better):\n"]
    out.append("- W4A4: " + " < ".join(f"{n} {v:.2f}" for v, n in w4a4))
    out.append("- KV4: " + " < ".join(f"{n} {v:.2f}" for v, n in kv))
    out.append(
        "- W4A8 M-ANT: output-MSE {:.2f}, weight-MSE {:.2f}; W4A8 KV4 {:.2f}".format(
            ppl("W4A8 M-ANT, output"), ppl("W4A8 M-ANT, weight"), ppl("W4A8 KV4")
        )
    )
    return "\n".join(out)


RECIPE_HEADER = """
## M-ANT as its authors built it, and its peers (named recipes)

One row per named recipe (`mant-dse recipes`), run by `mant-dse ppl` with the flags shown, on the
first {windows} windows of {window_len} tokens ({scored} scored tokens). The `s` column is the wall
time of the run that produced the row on the shared 2-core machine while other jobs ran (load
5-10), weight quantization included: every run took under 2 minutes except OliVe's (490 s, nearly
all of it encoding the outlier-victim pairs of the 210 weight tensors). Bits per element include
group metadata (scales, type selectors; per-channel and per-tensor scales are not counted).
**[Q4_1]: every row with W bits below 16 re-quantizes SmolLM2's stored Q4_1 weights**, a 4-bit
grid already (see the caveat above), so its perplexity is not that of a continuous model; only
the A-only and KV-only rows are free of it.

What each recipe quantizes (`mant.recipes`): `mant-w4a8` / `mant-w4a4`: MANT4 weights (15
a-values + INT4 per group of 64 along in_features, fp16 scale, type by output error over 16 x 512
calibration tokens of Emma, the authors' rule, or by weight error) and INT8 / INT4 inputs of every
linear layer per group of 64 per token. `mant-hpca25` adds the authors' attention: Q per token,
softmax output (groups of 64 along the key axis) and attention output INT8, and their KV cache:
K per token along head_dim, V per channel in groups of 64 tokens, type a = 0 / a = 25 / INT4 by
var(x / absmax) (0.05 / 0.25). "Decoded": every query sees the cache of token-by-token decoding: a
prompt of 64 tokens fixes V's per-channel INT8 scale (absmax / 127), later V tokens wait in INT8
until their group of 64 completes, then the group is MANT4 (`--prefill` changes the prompt
length; "one-pass prefill" is the whole window as one prompt, the authors' own perplexity
evaluation, where no token is ever staged and the last tokens mod 64 stay unquantized). The KIVI
rows quantize a whole window at once (K per channel with the newest tokens mod 64 in full
precision, V per token). ANT, OliVe and Tender quantize weights per output channel (ANT: one
int / flint / PoT type per row; OliVe: outlier-victim pairs; Tender: INT4) and the linear inputs
of each window as one tensor (ANT: one type per tensor; OliVe: its int / flint normal types) or by
Tender's channel decomposition with power-of-two scale ratios (`mant.tender`); their Q, softmax
and attention outputs stay unquantized, as in `mant-w4a4`.

"""
