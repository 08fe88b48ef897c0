"""``accuracy.fidelity`` and ``accuracy.promote``: multi-fidelity accuracy, parsed and checked.

``fidelity: multi`` scores every trial with the accuracy source (the cheap proxy) and promotes
the designs on, or within ``promote.margin`` of, the proxy front to real perplexity
(:mod:`dse.evaluate.multifid`). ``fidelity: single`` (the default) changes nothing.

Example:
    >>> from mant.errors import IssueCollector
    >>> c = IssueCollector()
    >>> parse_fidelity(c, {"fidelity": "multi", "promote": {"margin": 0.2, "windows": 1}})
    (<Fidelity.MULTI: 'multi'>, PromoteSpec(model='smollm2-135m', backend='numpy', text=None, \
windows=1, context=512, margin=0.2, max_promoted=None))
    >>> parse_fidelity(c, {"fidelity": "multi", "promote": {"margin": 1.5}})[1].margin
    0.1
    >>> str(c.issues[0])
    'accuracy.promote.margin: must be a number in [0, 1) (relative slack), got 1.5'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse.study.spec_types import Fidelity, PromoteSpec

if TYPE_CHECKING:
    from dse.study.spec_types import StudySpec
    from mant.errors import IssueCollector

__all__ = ["PROXY_METRICS", "PROMOTE_KEYS", "parse_fidelity", "check_fidelity", "proxy_metric"]

# accuracy metrics a proxy source produces (the first one among the objectives is the proxy)
PROXY_METRICS = (
    "output_and_kv_rel_mse",
    "output_rel_mse",
    "rel_mse",
    "weight_rel_mse",
    "kv_rel_mse",
    "weight_sqnr_db",
    "kv_sqnr_db",
)
PROMOTE_KEYS = ("model", "backend", "text", "windows", "context", "margin", "max_promoted")
_P = "accuracy.promote"
# the context is the model's window (SmolLM2: 2048 positions); at least 2 tokens are scored
_MAX_CONTEXT = 8192


def _int(c: IssueCollector, d: Mapping, key: str, default: int, low: int, high: int) -> int:
    value = d.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        c.add(f"{_P}.{key}", f"must be an int in {low}..{high}", value)
        return default
    return value


def parse_fidelity(c: IssueCollector, d: Mapping[str, Any]) -> tuple[Fidelity, PromoteSpec | None]:
    """``accuracy.fidelity`` and ``accuracy.promote`` of an accuracy mapping (issues to ``c``)."""
    raw = d.get("fidelity", "single")
    names = [f.value for f in Fidelity]
    if raw not in names:
        c.add("accuracy.fidelity", f"must be one of {', '.join(names)}", raw)
        return Fidelity.SINGLE, None
    fidelity = Fidelity(raw)
    data = d.get("promote")
    if fidelity is Fidelity.SINGLE:
        if data is not None:
            c.add(_P, "is used only with accuracy.fidelity: multi", "single")
        return fidelity, None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        c.add(_P, "must be a mapping", data)
        return fidelity, PromoteSpec()
    for key in data:
        if key not in PROMOTE_KEYS:
            c.add(f"{_P}.{key}", f"unknown key; valid: {', '.join(PROMOTE_KEYS)}", key)
    from llmrun.model import is_checkpoint_dir

    model = data.get("model", "smollm2-135m")
    ok = model == "smollm2-135m" or (isinstance(model, str) and is_checkpoint_dir(model))
    c.check(ok, f"{_P}.model", "must be smollm2-135m or a folder with config.json", model)
    backend = data.get("backend", "numpy")
    c.check(backend in ("numpy", "torch"), f"{_P}.backend", "must be numpy or torch", backend)
    text = data.get("text")
    ok = text is None or (isinstance(text, str) and Path(text).is_file())
    c.check(ok, f"{_P}.text", "must be a text file", text)
    margin = data.get("margin", 0.1)
    ok = (
        isinstance(margin, int | float)
        and not isinstance(margin, bool)
        and math.isfinite(margin)
        and 0 <= margin < 1
    )
    c.check(ok, f"{_P}.margin", "must be a number in [0, 1) (relative slack)", margin)
    cap = data.get("max_promoted")
    cap_ok = cap is None or (not isinstance(cap, bool) and isinstance(cap, int) and cap >= 1)
    c.check(cap_ok, f"{_P}.max_promoted", "must be an int >= 1 or null (no limit)", cap)
    return fidelity, PromoteSpec(
        model=str(model) if isinstance(model, str) else "smollm2-135m",
        backend=str(backend) if backend in ("numpy", "torch") else "numpy",
        text=str(text) if isinstance(text, str) else None,
        windows=_int(c, data, "windows", 2, 1, 100_000),
        context=_int(c, data, "context", 512, 2, _MAX_CONTEXT),
        margin=float(margin) if ok else 0.1,
        max_promoted=cap if cap_ok else None,
    )


def proxy_metric(spec: StudySpec) -> str | None:
    """The proxy accuracy objective of a study: its first objective in :data:`PROXY_METRICS`."""
    return next((m for m in spec.metric_names if m in PROXY_METRICS), None)


def check_fidelity(c: IssueCollector, spec: StudySpec) -> None:
    """A multi-fidelity study needs a proxy source and a proxy accuracy objective."""
    if not spec.accuracy.multi_fidelity:
        return
    if spec.accuracy.source == "perplexity":
        c.add(
            "accuracy.fidelity",
            "multi needs a cheap proxy source (tensors, synthetic, files), not perplexity itself",
            spec.accuracy.source,
        )
    if proxy_metric(spec) is None:
        c.add(
            "accuracy.fidelity",
            f"multi needs an accuracy objective to promote on ({', '.join(PROXY_METRICS)})",
            spec.metric_names,
        )
