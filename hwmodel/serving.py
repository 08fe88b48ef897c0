"""Serving metrics: time to first token, time per output token, throughput, energy, KV memory.

A request batch of ``batch`` sequences with a ``prompt_len``-token prompt generates ``gen_len``
tokens each (docs/hwmodel.md, "Serving"):

- **TTFT** = the prefill of ``batch x prompt_len`` tokens (causal), or the sum of its chunks of
  ``chunked_prefill`` tokens, each attending the cache so far; the LM head runs once per sequence.
- **TPOT** = the mean decode-step latency over contexts ``prompt_len + 1 .. prompt_len +
  gen_len`` (each step's cache includes its own token). Step cost is piecewise linear in the
  context, so a few contexts are evaluated (both ends, the window edge, evenly spaced points) and
  the curve is integrated with the trapezoid rule, exact for a linear cost.
- **tokens/s** = ``batch x gen_len / (TTFT + gen_len x TPOT)`` (the whole request).
- **energy per token** = (prefill + all decode energy) / (``batch x gen_len``), pJ.
- **KV footprint** = ``batch x min(prompt_len + gen_len, W)`` tokens of cache at the KV width.
- **max batch** = (memory - weights at their width) / (one sequence's KV footprint), when the
  memory size is known.
- **Speculative decoding** (draft model, ``k`` draft tokens, acceptance rate a): one verify
  step emits (1 - a^(k+1)) / (1 - a) tokens on average and costs k draft decode steps plus one
  target pass over k + 1 tokens per sequence (LM head on all of them); TPOT and energy are
  that cost divided by the expected tokens. The draft's prefill adds to TTFT.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hwmodel.gemm import Gemm, Operand
from hwmodel.model_config import ModelConfig
from hwmodel.workload import Workload, llm_workload
from mant.errors import IssueCollector

__all__ = [
    "ServeResult",
    "Speculative",
    "decode_contexts",
    "expected_accepted_tokens",
    "serve",
    "step_bytes",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Speculative:
    """Speculative decoding with a draft model.

    Attributes:
        draft: The draft model.
        draft_tokens: Tokens the draft proposes per verify step (k >= 1).
        acceptance: Probability that each draft token is accepted (a in [0, 1)).
    """

    draft: ModelConfig
    draft_tokens: int
    acceptance: float

    @property
    def tokens_per_step(self) -> float:
        """Expected tokens one verify step emits: (1 - a^(k+1)) / (1 - a)."""
        return expected_accepted_tokens(self.draft_tokens, self.acceptance)


def expected_accepted_tokens(draft_tokens: int, acceptance: float) -> float:
    """(1 - a^(k+1)) / (1 - a): accepted draft tokens plus the target's own token.

    Example:
        >>> expected_accepted_tokens(4, 0.0), round(expected_accepted_tokens(4, 0.8), 4)
        (1.0, 3.3616)
    """
    a, k = acceptance, draft_tokens
    if a >= 1.0:
        return float(k + 1)
    return (1.0 - a ** (k + 1)) / (1.0 - a)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeResult:
    """Serving figures of one batch size (units in the names; ``max_batch`` None: no memory size).

    Attributes:
        batch: Sequences served together.
        ttft_s: Time to first token, s.
        tpot_s: Mean time per output token of one sequence, s.
        tokens_per_s: Output tokens per second of the whole batch over the request.
        energy_per_token_pj: Energy per output token, pJ.
        kv_footprint_bytes: KV cache of the batch at the end of generation, bytes.
        weight_footprint_bytes: Weights stored at their width, bytes.
        max_batch: Largest batch whose weights and KV cache fit the memory (None: unknown).
        prefill_energy_pj: Energy of the prefill (with the draft's, if any), pJ.
        decode_contexts: The decode contexts evaluated.
    """

    batch: int
    ttft_s: float
    tpot_s: float
    tokens_per_s: float
    energy_per_token_pj: float
    kv_footprint_bytes: float
    weight_footprint_bytes: float
    max_batch: int | None
    prefill_energy_pj: float
    decode_contexts: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return {
            "batch": self.batch,
            "ttft_s": self.ttft_s,
            "tpot_s": self.tpot_s,
            "tokens_per_s": self.tokens_per_s,
            "energy_per_token_pj": self.energy_per_token_pj,
            "kv_footprint_bytes": self.kv_footprint_bytes,
            "weight_footprint_bytes": self.weight_footprint_bytes,
            "max_batch": self.max_batch,
            "prefill_energy_pj": self.prefill_energy_pj,
            "decode_contexts": list(self.decode_contexts),
        }


def _kv_bits(prec: Any) -> float:
    key = prec.operand(Gemm(m=1, n=1, k=1, name="qk", operand=Operand.KV))[1]
    value = prec.operand(Gemm(m=1, n=1, k=1, name="pv", operand=Operand.KV))[1]
    return (key + value) / 2.0


def step_bytes(wl: Workload, prec: Any) -> tuple[float, float]:
    """(weight bytes, KV-cache bytes) one step reads at ``prec``'s widths.

    Each weight matrix is read once (routed experts: the expected experts touched, ``Gemm.reads``)
    at its kind's bits per element; the KV cache (``Workload.kv_elements``) at the mean of the key
    and value widths.

    Example:
        >>> from hwmodel import load_accelerator
        >>> acc = load_accelerator("fp16")
        >>> wl = llm_workload("llama-2-7b", phase="decode", seq_len=10)
        >>> step_bytes(wl, acc.default_precision)[1] == 2 * 32 * 2 * 4096 * 10
        True
    """
    weights = sum(
        g.k * g.n * g.b_reads * prec.operand(g)[1] / 8.0 for g in wl.gemms if not g.is_attention
    )
    return weights, wl.kv_elements * _kv_bits(prec) / 8.0


def decode_contexts(
    prompt_len: int, gen_len: int, window: int | None, points: int = 9
) -> list[int]:
    """The decode contexts TPOT is sampled at: ends, window edge, ``points`` evenly spaced.

    Example:
        >>> decode_contexts(100, 4, None)
        [101, 102, 103, 104]
    """
    lo, hi = prompt_len + 1, prompt_len + gen_len
    if gen_len <= points:
        return list(range(lo, hi + 1))
    pts = {lo + round(i * (hi - lo) / (points - 1)) for i in range(points)}
    if window is not None and lo < window < hi:
        pts |= {window, window + 1}
    return sorted(pts)


def _trapezoid_mean(xs: list[int], ys: list[float], gen_len: int) -> float:
    """Mean of y over the integers xs[0]..xs[-1], y linear between samples."""
    if len(xs) == gen_len:
        return sum(ys) / gen_len
    total = 0.0
    # sum over integers of a piecewise-linear function: each segment [x0, x1) holds x1 - x0
    # integers whose mean value is y0 + (y1 - y0) (x1 - x0 - 1) / (2 (x1 - x0))
    for x0, x1, y0, y1 in zip(xs, xs[1:], ys, ys[1:], strict=False):
        n = x1 - x0
        total += n * (y0 + (y1 - y0) * (n - 1) / (2 * n))
    total += ys[-1]
    return total / gen_len


def _cost(acc: Any, wl: Workload, prec: Any) -> tuple[float, float]:
    from hwmodel.evaluate import evaluate

    cost = evaluate(acc, wl, prec)
    return float(cost.latency_s), float(cost.energy_pj)


def _prefill(
    acc: Any, cfg: ModelConfig, prompt_len: int, batch: int, chunk: int | None, prec: Any
) -> tuple[float, float]:
    if chunk is None or chunk >= prompt_len:
        return _cost(
            acc, llm_workload(cfg, phase="prefill", seq_len=prompt_len, batch=batch), prec
        )
    time = energy = 0.0
    for start in range(0, prompt_len, chunk):
        n = min(chunk, prompt_len - start)
        wl = llm_workload(
            cfg,
            phase="prefill",
            seq_len=n,
            batch=batch,
            past_len=start,
            lm_head=start + n == prompt_len,
        )
        t, e = _cost(acc, wl, prec)
        time, energy = time + t, energy + e
    return time, energy


def _verify(cfg: ModelConfig, ctx: int, batch: int, k: int) -> Workload:
    """The target's pass over k + 1 tokens per sequence after ``ctx - 1`` cached tokens."""
    wl = llm_workload(
        cfg, phase="prefill", seq_len=k + 1, batch=batch, past_len=ctx - 1, lm_head=False
    )
    head = Gemm(m=batch * (k + 1), n=cfg.vocab, k=cfg.hidden, name="lm_head")
    return Workload(
        gemms=(*wl.gemms, head),
        model=wl.model,
        phase="decode",
        seq_len=ctx,
        batch=batch,
        kv_elements=wl.kv_elements,
        config=cfg,
    )


def serve(
    acc: Any,
    model: ModelConfig,
    *,
    prompt_len: int,
    gen_len: int,
    batch: int,
    precision: Any = None,
    chunked_prefill: int | None = None,
    memory_bytes: float | None = None,
    speculative: Speculative | None = None,
    points: int = 9,
) -> ServeResult:
    """Serving figures of one batch (module docstring for the definitions).

    Args:
        acc: The accelerator.
        model: The target model.
        prompt_len: Prompt tokens per sequence.
        gen_len: Generated tokens per sequence.
        batch: Sequences.
        precision: Operand precisions (default: the accelerator's).
        chunked_prefill: Prefill chunk size in tokens (None: one pass).
        memory_bytes: Memory capacity for ``max_batch``, bytes (None: not computed).
        speculative: Speculative decoding, or None.
        points: Decode contexts sampled for TPOT.

    Raises:
        InputError: sizes < 1, acceptance outside [0, 1).

    Example:
        >>> from hwmodel import load_accelerator, load_model
        >>> r = serve(load_accelerator("mant"), load_model("llama-2-7b"), prompt_len=128,
        ...           gen_len=4, batch=1)
        >>> r.tpot_s > 0 and r.ttft_s > r.tpot_s
        True
    """
    c = IssueCollector()
    for name, value in (("prompt_len", prompt_len), ("gen_len", gen_len), ("batch", batch)):
        c.check(isinstance(value, int) and value >= 1, name, "must be an int >= 1", value)
    if chunked_prefill is not None:
        c.check(chunked_prefill >= 1, "chunked_prefill", "must be an int >= 1", chunked_prefill)
    if speculative is not None:
        a = speculative.acceptance
        c.check(0.0 <= a < 1.0, "acceptance", "must be a number in [0, 1)", a)
        k = speculative.draft_tokens
        c.check(k >= 1, "draft_tokens", "must be an int >= 1", k)
    c.raise_if_any()
    prec = acc.default_precision if precision is None else precision
    ttft, prefill_energy = _prefill(acc, model, prompt_len, batch, chunked_prefill, prec)
    if speculative is not None:
        t, e = _prefill(acc, speculative.draft, prompt_len, batch, chunked_prefill, prec)
        ttft, prefill_energy = ttft + t, prefill_energy + e
    ctxs = decode_contexts(prompt_len, gen_len, model.sliding_window, points)
    times, energies = [], []
    for ctx in ctxs:
        if speculative is None:
            t, e = _cost(acc, llm_workload(model, phase="decode", seq_len=ctx, batch=batch), prec)
        else:
            k = speculative.draft_tokens
            draft = llm_workload(speculative.draft, phase="decode", seq_len=ctx, batch=batch)
            td, ed = _cost(acc, draft, prec)
            tv, ev = _cost(acc, _verify(model, ctx, batch, k), prec)
            tau = speculative.tokens_per_step
            t, e = (k * td + tv) / tau, (k * ed + ev) / tau
        times.append(t)
        energies.append(e)
    tpot = _trapezoid_mean(ctxs, times, gen_len)
    decode_energy = _trapezoid_mean(ctxs, energies, gen_len) * gen_len
    out_tokens = batch * gen_len
    kv_bits = _kv_bits(prec)
    per_seq_kv = model.cached_tokens(prompt_len + gen_len) * model.kv_elements_per_token
    kv_bytes = batch * per_seq_kv * kv_bits / 8.0
    weight_bytes = model.params_total * prec.weight_bits_per_element / 8.0
    if speculative is not None:
        d = speculative.draft
        weight_bytes += d.params_total * prec.weight_bits_per_element / 8.0
        per_seq_kv_bytes = (
            per_seq_kv + d.cached_tokens(prompt_len + gen_len) * d.kv_elements_per_token
        ) * (kv_bits / 8.0)
        kv_bytes = batch * per_seq_kv_bytes
    else:
        per_seq_kv_bytes = per_seq_kv * kv_bits / 8.0
    max_batch = None
    if memory_bytes is not None:
        max_batch = max(0, int((memory_bytes - weight_bytes) // per_seq_kv_bytes))
    return ServeResult(
        batch=batch,
        ttft_s=ttft,
        tpot_s=tpot,
        tokens_per_s=out_tokens / (ttft + gen_len * tpot),
        energy_per_token_pj=(prefill_energy + decode_energy) / out_tokens,
        kv_footprint_bytes=kv_bytes,
        weight_footprint_bytes=weight_bytes,
        max_batch=max_batch,
        prefill_energy_pj=prefill_energy,
        decode_contexts=tuple(ctxs),
    )
