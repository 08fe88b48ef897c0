"""The seam to ``hwmodel``: accelerator, precision and cost metrics of a design.

Costs are memoised by what they depend on (PE type, array, dataflow, buffers, precision), so a
study that revisits a hardware point pays a dictionary lookup.

Example:
    >>> from dse.study.spec import WorkloadSpec
    >>> hw = HardwareModel(WorkloadSpec(model="llama-2-7b", phase="decode", seq_len=128))
    >>> hw.tokens_per_pass
    1
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from dse.study.design import Design
    from dse.study.spec_types import WorkloadSpec
    from hwmodel import Precision

__all__ = ["HardwareModel", "HARDWARE_METRICS", "precision_of"]

HARDWARE_METRICS = (
    "cycles",
    "latency_s",
    "throughput_tok_s",
    "energy_pj",
    "area_um2",
    "utilization",
    "tile_overflow_bytes",
    "roofline_s",
    "memory_bound",
)


def precision_of(design: Design) -> Precision:
    """The :class:`hwmodel.Precision` of a design: ``Precision.from_recipe(design.recipe)``."""
    from hwmodel import Precision

    return Precision.from_recipe(design.recipe)


def _precision_key(precision: Any) -> tuple[Any, ...]:
    return tuple(getattr(precision, f.name) for f in fields(precision))


class HardwareModel:
    """Evaluates designs on one workload with :func:`hwmodel.evaluate` (memoised).

    Args:
        workload: the study's workload section.
    """

    def __init__(self, workload: WorkloadSpec, accelerator: str | None = None) -> None:
        self.spec = workload
        self.base = accelerator
        self._workload: Any = None
        self._serve: tuple[Any, list[Any], list[int]] | None = None
        self._accelerators: dict[tuple[Any, ...], Any] = {}
        self._costs: dict[tuple[Any, ...], dict[str, float]] = {}

    @property
    def tokens_per_pass(self) -> int:
        return self.spec.tokens_per_pass

    @property
    def workload(self) -> Any:
        if self._workload is None:
            from dse.study.model_source import load_model_config
            from hwmodel import Gemm, Workload, llm_workload

            if self.spec.gemms:
                self._workload = Workload(
                    gemms=tuple(
                        Gemm(m=g.m, n=g.n, k=g.k, name=g.name, count=g.count)
                        for g in self.spec.gemms
                    )
                )
            elif self.spec.phase == "serve":  # the last decode step stands for the widths
                self._workload = self._serve_workloads()[1][-1]
            else:
                self._workload = llm_workload(
                    load_model_config(self.spec.model, "workload.model"),
                    phase=self.spec.phase,
                    seq_len=self.spec.seq_len,
                    batch=self.spec.batch,
                )
        return self._workload

    def _serve_workloads(self) -> tuple[Any, list[Any], list[int]]:
        """(prefill, decode steps, their contexts) of a ``phase: serve`` workload (memoised)."""
        if self._serve is not None:
            return self._serve
        from dse.study.model_source import load_model_config
        from hwmodel import llm_workload
        from hwmodel.serving import decode_contexts

        w = self.spec
        cfg = load_model_config(w.model, "workload.model")
        prefill = llm_workload(cfg, phase="prefill", seq_len=w.prompt_len, batch=w.batch)
        ctxs = decode_contexts(w.prompt_len, w.gen_len, cfg.sliding_window)
        steps = [llm_workload(cfg, phase="decode", seq_len=x, batch=w.batch) for x in ctxs]
        self._serve = (prefill, steps, ctxs)
        return self._serve

    def _serve_metrics(self, run: Any) -> dict[str, Any]:
        """Serve metrics from ``run(workload) -> evaluate_many-like dict`` (arrays or floats).

        TTFT = the prefill; TPOT = the decode latency over the sampled contexts, integrated
        (``hwmodel.serve``); the pass (``latency_s``, ``energy_pj``, ``cycles``) is the request.
        """
        from hwmodel.serving import _trapezoid_mean

        prefill, steps, ctxs = self._serve_workloads()
        g = self.spec.gen_len
        pre = run(prefill)
        dec = [run(wl) for wl in steps]

        def mean(key: str) -> Any:
            return _trapezoid_mean(ctxs, [d[key] for d in dec], g)

        busy = [d["utilization"] * d["cycles"] for d in dec]
        tpot = mean("latency_s")
        latency = pre["latency_s"] + g * tpot
        cycles = pre["cycles"] + g * mean("cycles")
        out = self._metrics_from(
            cycles,
            latency,
            pre["energy_pj"] + g * mean("energy_pj"),
            pre["area_um2"],
            (pre["utilization"] * pre["cycles"] + g * _trapezoid_mean(ctxs, busy, g)) / cycles,
            pre["tile_overflow_bytes"],
            pre["roofline_s"] + g * mean("roofline_s"),
            _trapezoid_mean(ctxs, [d["memory_bound"] * 1.0 for d in dec], g),  # share memory-bound
        )
        out.update(
            ttft_s=pre["latency_s"], tpot_s=tpot, tokens_per_s=self.tokens_per_pass / latency
        )
        return out

    def _template(self, pe_type: str) -> Any:
        """The accelerator a PE type starts from, as a plain mapping.

        With a base accelerator (study ``accelerator:``), that one, its PE replaced when
        ``pe_type`` names another; else the preset of that name, or for another PE (a PE
        file, or a PE without a preset) the ``mant`` preset (the presets share one technology and
        memory setup) with that PE. A replaced PE brings its native recipe's precision; one
        without a native recipe keeps the starting accelerator's.
        """
        from hwmodel import list_presets, load_accelerator, load_pe

        if self.base is not None:
            from dse.study.spec_inputs import base_pe

            if pe_type == base_pe(self.base):
                return load_accelerator(self.base).to_dict()
            start, name = load_accelerator(self.base), None
        elif pe_type in list_presets():
            return load_accelerator(pe_type).to_dict()
        else:
            start, name = load_accelerator("mant"), Path(pe_type).stem
        data = {**start.to_dict(), "pe": pe_type, **({"name": name} if name else {})}
        if load_pe(pe_type).native_recipe is None:
            data["default_precision"] = start.default_precision.to_dict()
        return data

    def base_accelerator(self, design: Design) -> Any:
        """The design's accelerator with a 1x1 array (rows and cols applied later)."""
        key = design.hardware_key[:1] + design.hardware_key[3:]
        acc = self._accelerators.get(key)
        if acc is None:
            from hwmodel import accelerator_from_dict

            data = self._template(design.pe_type)
            # a 1x1 array while the buffers change: the template's array need not fit them
            data["array"] = {**data["array"], "rows": 1, "cols": 1, "dataflow": design.dataflow}
            if design.load_bytes_per_cycle is not None:
                data["array"]["load_bytes_per_cycle"] = float(design.load_bytes_per_cycle)
            if design.weight_buffer_kib is not None:
                data["buffers"] = {
                    **data["buffers"],
                    "weight_bytes": design.weight_buffer_kib * 1024,
                }
            if design.act_buffer_kib is not None:
                data["buffers"] = {**data["buffers"], "act_bytes": design.act_buffer_kib * 1024}
            if design.clock_mhz is not None:
                data["clock_hz"] = design.clock_mhz * 1_000_000
            dram = dict(data["dram"])
            if design.dram_bw_bytes_per_cycle is not None:
                dram["bw_bytes_per_cycle"] = float(design.dram_bw_bytes_per_cycle)
            if design.dram_energy_scale is not None:
                for k in ("read_pj_per_bit", "write_pj_per_bit"):
                    dram[k] = dram[k] * float(design.dram_energy_scale)
            data["dram"] = dram
            acc = accelerator_from_dict(data, "accelerator")
            self._accelerators[key] = acc
        return acc

    def accelerator(self, design: Design) -> Any:
        """The design's accelerator (preset + array + dataflow + buffers)."""
        return self.base_accelerator(design).with_array(rows=design.rows, cols=design.cols)

    def _metrics_from(
        self,
        cycles,
        latency_s,
        energy_pj,
        area_um2,
        utilization,
        tile_overflow_bytes,
        roofline_s,
        memory_bound,
    ) -> dict:
        return {
            "roofline_s": roofline_s,
            "memory_bound": memory_bound,
            "cycles": cycles,
            "latency_s": latency_s,
            "throughput_tok_s": self.tokens_per_pass / latency_s,
            "energy_pj": energy_pj,
            "area_um2": area_um2,
            "utilization": utilization,
            "tile_overflow_bytes": tile_overflow_bytes,
        }

    def check_modes(self, design: Design, precision: Any) -> None:
        """Raises when the design's PE cannot run its operand widths.

        The activation width must be one of the PE's own modes (a W4A4 design on a PE without
        an A4 mode is infeasible, not silently run at A8); weights and KV run in the fastest
        mode that covers them (``hwmodel.PEType.mode_for``).

        Raises:
            InputError: no mode for the widths, naming the PE, the design and the modes.
        """
        from mant.errors import InputError

        pe = self.base_accelerator(design).pe
        a = precision.act_bits
        offered = ", ".join(f"W{m.weight_bits}A{m.act_bits}" for m in pe.modes)
        uses_kv = any(g.operand == "kv" for g in self.workload)
        w, kv = precision.weight_bits, precision.kv_bits
        label = f"W{w}A{a}" + (f" KV{kv}" if uses_kv else "")
        if not any(m.act_bits == a for m in pe.modes):
            raise InputError.single(
                "act_bits",
                f"PE {pe.name!r} has no A{a} mode (modes {offered}): a {label} design is "
                "infeasible on it",
                a,
            )
        self.check_capacity(design, precision)
        from hwmodel.precision import gemm_kind

        for gemm in self.workload:  # every GEMM at its own kind's widths
            bits, _ = precision.operand(gemm)
            ga, _ = precision.act_of(gemm)
            if ga != a and not any(m.act_bits == ga for m in pe.modes):
                kind = gemm_kind(gemm)
                param = f"act_bits.{kind}"
                param = param if param in (design.per_kind or {}) else "act_bits"
                raise InputError.single(
                    param,
                    f"PE {pe.name!r} has no A{ga} mode (input activations of {gemm.name}, "
                    f"kind {kind}; modes {offered}): a W{bits}A{ga} GEMM is infeasible on it",
                    ga,
                )
            if not pe.supports(bits, ga):
                kind = gemm_kind(gemm)
                what = "KV cache" if gemm.operand == "kv" else "weights"
                where = f"{what} of {gemm.name}" + (f", kind {kind}" if kind else "")
                # name the parameter that set this width, not the PE that lacks the mode
                base = "kv_bits" if gemm.operand == "kv" else "weight_bits"
                param = f"{base}.{kind}" if f"{base}.{kind}" in (design.per_kind or {}) else base
                raise InputError.single(
                    param,
                    f"PE {pe.name!r} has no mode for W{bits}A{ga} ({where}; modes {offered}): "
                    f"a {label} design is infeasible on it",
                    bits,
                )

    def check_capacity(self, design: Design, precision: Any) -> None:
        """Raises when the workload's weights + KV cache do not fit the design's DRAM.

        Raises:
            InputError: the footprint and the capacity (``hwmodel.capacity_issue``); in a study
                the trial fails with this reason.
        """
        from hwmodel import capacity_issue
        from mant.errors import InputError

        acc = self.base_accelerator(design)
        reason = capacity_issue(acc, self.workload, precision)
        if reason:
            raise InputError.single(
                "dram.capacity_bytes", f"infeasible: {reason}", acc.dram.capacity_bytes
            )

    def weight_bits_per_element(self, precision: Any) -> float:
        """Weight storage bits per element of the workload: the weight GEMMs' bits per element
        (each at its kind's width) weighted by their weight counts (the headline when the
        workload has no weight GEMM)."""
        if not precision.per_kind:
            return float(precision.weight_bits_per_element)
        num = den = 0.0
        for gemm in self.workload:
            if gemm.operand == "kv":
                continue
            n = float(gemm.n) * float(gemm.k) * gemm.count
            num += n * precision.operand(gemm)[1]
            den += n
        return num / den if den else float(precision.weight_bits_per_element)

    @staticmethod
    def kv_bits_per_element(precision: Any) -> float:
        """KV storage bits per element: the mean of K's and V's (caches of one size)."""
        if not precision.per_kind:
            return float(precision.kv_bits_per_element)
        return 0.5 * (precision.of_kind("key")[1] + precision.of_kind("value")[1])

    def metrics(self, design: Design, precision: Any) -> dict[str, float]:
        """Cost metrics (see :data:`HARDWARE_METRICS`) of one design.

        The same vectorised evaluation as the sweep (one array shape), so a design that does not
        fit gets a positive ``tile_overflow_bytes`` on both paths instead of an error here.
        """
        key = (design.hardware_key, _precision_key(precision))
        hit = self._costs.get(key)
        if hit is not None:
            return hit
        many = self.metrics_many(
            design, precision, np.array([design.rows]), np.array([design.cols])
        )
        out = {k: float(v[0]) for k, v in many.items()}
        self._costs[key] = out
        return out

    def cost_metrics(self, accelerator: Any, precision: Any) -> dict[str, float]:
        """Cost metrics of an accelerator at a precision on this workload (not memoised)."""
        from hwmodel import evaluate, tile_overflow_bytes

        rows, cols = accelerator.array.rows, accelerator.array.cols
        overflow = tile_overflow_bytes(accelerator, precision, rows, cols)
        if self.spec.phase == "serve":

            def run(wl: Any) -> dict[str, float]:
                c = evaluate(accelerator, wl, precision)
                return {
                    "latency_s": c.latency_s,
                    "cycles": c.cycles,
                    "energy_pj": c.energy_pj,
                    "area_um2": c.area_um2,
                    "utilization": c.utilization,
                    "tile_overflow_bytes": overflow,
                    "roofline_s": c.roofline_s,
                    "memory_bound": float(c.bound == "memory"),
                }

            return {k: float(v) for k, v in self._serve_metrics(run).items()}
        cost = evaluate(accelerator, self.workload, precision)
        return {
            k: float(v)
            for k, v in self._metrics_from(
                cost.cycles,
                cost.latency_s,
                cost.energy_pj,
                cost.area_um2,
                cost.utilization,
                overflow,
                cost.roofline_s,
                float(cost.bound == "memory"),
            ).items()
        }

    def metrics_many(
        self, design: Design, precision: Any, rows: np.ndarray, cols: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Cost metrics for many array shapes at once (:func:`hwmodel.evaluate_many`).

        Raises:
            InputError: the PE cannot run the design's widths (:meth:`check_modes`).
        """
        from hwmodel import evaluate_many

        self.check_modes(design, precision)
        base = self.base_accelerator(design)
        if self.spec.phase == "serve":
            out = self._serve_metrics(
                lambda wl: evaluate_many(base, wl, precision, rows=rows, cols=cols)
            )
            return {k: np.asarray(v, dtype=float) for k, v in out.items()}
        r = evaluate_many(base, self.workload, precision, rows=rows, cols=cols)
        return {
            k: np.asarray(v, dtype=float)
            for k, v in self._metrics_from(
                r["cycles"],
                r["latency_s"],
                r["energy_pj"],
                r["area_um2"],
                r["utilization"],
                r["tile_overflow_bytes"],
                r["roofline_s"],
                r["memory_bound"],
            ).items()
        }
