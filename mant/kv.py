"""Real-time KV-cache quantization: the authors' layout and rule, KIVI's layout, LUTs, oracle.

The KV cache is written during inference, so the per-group type cannot come from a search. Three
selection rules (:class:`Selection`):

* ``variance`` (the default): the M-ANT authors' rule (``mant_authors.md`` §2, their
  ``pseudo_quantize_mant``): unbiased var(x / absmax) of the group; < 0.05 -> MANT4 a = 0,
  0.05..0.25 -> a = 25, > 0.25 -> INT4 (candidate set ``mant-kv3``; :func:`select_variance`).
* ``lut`` (alias ``realtime``): a calibrated threshold table on a one-pass statistic
  (RMS/absmax by default) over any candidate set (:mod:`mant.kv_select`).
* ``oracle``: the exhaustive least-MSE search, to compare against.

Layouts (:class:`Grouping`), default the authors' (``llama_mant.py`` of commit 75fb156): K per
token along head_dim (after RoPE); V per channel in groups of g = 64 tokens. A token whose V group
is not complete yet waits in INT8 (``v_staging_bits``) with a per-channel scale fixed at prefill
(absmax / 127 over the prefill tokens); the group becomes MANT4 when its g-th token arrives. In a
prefill (:func:`quantize_kv`: a whole (..., tokens, head_dim) tensor at once) the authors' code
leaves the last ``tokens mod g`` V tokens unquantized, and so does this module; the decode-time
cache (staging included) is :func:`mant.kv_decode.decode_value_cache`. KIVI's layout (K per
channel with the newest ``tokens mod g`` tokens in full precision, V per token) is the named
alternative (``k_grouping="channel", v_grouping="token"``). A token group longer than head_dim
runs along the token's concatenated heads (kv_heads x head_dim values), zero-padding the last
group (:func:`kv_groups`).

The selection machinery (statistics, threshold LUTs, the variance rule) lives in
:mod:`mant.kv_select`, the calibration in :mod:`mant.kv_calibrate` and the synthetic mixture in
:mod:`mant.kv_synthetic`; their public names are re-exported here.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> k = rng.standard_normal((3, 100, 64)).astype(np.float32)  # (kv_heads, tokens, dim)
    >>> v = rng.standard_normal((3, 100, 64)).astype(np.float32)
    >>> res = quantize_kv(k, v, KVQuantConfig(), compare_oracle=True)  # the authors' setting
    >>> res.k.n_groups, res.v.n_groups, res.v.residual_tokens
    (300, 192, 36)
    >>> bool(res.oracle_ratio < 1.25)
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import InitVar, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from mant.candidates import CandidateSet
from mant.errors import InputError, IssueCollector
from mant.kv_calibrate import (
    _min_mse_partition,  # noqa: F401  (re-exported for tests and older callers)
    calibrate_thresholds,
    candidate_errors,
    thresholds_for,
)
from mant.kv_results import KVResult, KVTensorResult
from mant.kv_select import (
    Statistic,
    ThresholdRule,
    Thresholds,
    _check_keys,
    _enum,
    _lookup,
    _statistic,
    default_thresholds,
    group_statistic,
    normalized_variance,
    select_realtime,
    select_variance,
    variance_positions,
)
from mant.kv_synthetic import synthetic_groups
from mant.quantize import quantize_groups
from mant.scales import DEFAULT_SCALE, SCALE_BITS, bits_per_element, parse_scale_format
from mant.vocab import SELECTION_ALIASES, Grouping, Selection

if TYPE_CHECKING:
    from mant.quant_spec import QuantSpec

__all__ = [
    "Grouping",
    "KVQuantConfig",
    "KVResult",
    "KVTensorResult",
    "Selection",
    "Statistic",
    "ThresholdRule",
    "Thresholds",
    "calibrate_thresholds",
    "candidate_errors",
    "default_thresholds",
    "group_statistic",
    "kv_groups",
    "quantize_kv",
    "normalized_variance",
    "select_realtime",
    "select_variance",
    "synthetic_groups",
    "thresholds_for",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class KVQuantConfig:
    """How a KV cache is quantized.

    The defaults are the M-ANT authors' setting (``mant_authors.md`` §2): ``mant-kv3`` chosen
    by the variance rule, g = 64, K per token, V per channel with INT8 staging.

    Attributes:
        resolved: (init only) the candidate set of ``candidates`` when the caller has it
            (:meth:`from_specs`); the config carries it as :attr:`candidate_set`.
        candidates: candidate set name (``"mant-kv3"``: MANT4 a = 0, a = 25 and INT4;
            ``"mant-unicore16"``: 15 MANT4 a-values + INT4).
        group_size: values per group g.
        k_grouping: grouping of K (default per token, groups along head_dim; KIVI: channel).
        v_grouping: grouping of V (default per channel, groups along tokens; KIVI: token).
        selection: ``variance`` (the authors' rule; needs a0, a25 and INT4 in the set), ``lut``
            (threshold table; ``realtime`` is accepted) or ``oracle`` (argmin-MSE search).
            ``none`` is accepted for a one-candidate set (it means ``oracle``: nothing to pick).
        statistic: the statistic the LUT reads.
        thresholds: the LUT; None takes the shipped one for (candidates, statistic, g), or the
            trivial one-entry table of a one-candidate set (lut == oracle there). Sets
            without a shipped table need one: :meth:`calibrated` or
            :func:`mant.kv_calibrate.thresholds_for` makes it from calibration K/V.
        scale_format: group scale format (``fp32``, ``fp16``, ``bf16``, ``e8m0``, ``int8``).
        v_staging_bits: V grouped per channel only: the INT width a decoded token waits in until
            its group is complete (per-channel scale fixed at prefill); None keeps it in full
            precision (KIVI's residual). Ignored for V grouped per token.

    Example:
        >>> cfg = KVQuantConfig()
        >>> cfg.bits_per_element  # 4 + (16 scale + 2 selector bits) / 64
        4.28125
        >>> KVQuantConfig.from_dict(cfg.to_dict()) == cfg
        True
        >>> KVQuantConfig(selection="realtime", candidates="mant-unicore16").selection.value
        'lut'
    """

    candidates: str = "mant-kv3"
    group_size: int = 64
    k_grouping: Grouping = Grouping.TOKEN
    v_grouping: Grouping = Grouping.CHANNEL
    # None: the authors' ``variance`` rule when the set holds its three types, else ``lut``
    selection: Selection = None  # type: ignore[assignment]  # None / a str: set in __post_init__
    statistic: Statistic = Statistic.RMS_ABSMAX
    thresholds: Thresholds | None = None
    scale_format: str = DEFAULT_SCALE.value
    v_staging_bits: int | None = 8
    resolved: InitVar[CandidateSet | None] = None
    _set: CandidateSet | None = field(init=False, repr=False, compare=False, default=None)
    _key: QuantSpec | None = field(init=False, repr=False, compare=False, default=None)
    _value: QuantSpec | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self, resolved: CandidateSet | None = None) -> None:
        # a view of two QuantSpecs (K and V, rules="kv"): they validate and resolve the
        # candidates (carried, or handed over by from_specs), group size, scale format, rule,
        # groupings and staging; the LUT (statistic, thresholds) is this config's own
        from mant.quant_spec import QuantSpec

        c = IssueCollector()
        sel = self.selection
        if sel is None:
            try:
                authors = variance_positions(resolved or self.candidates) is not None
            except InputError:  # an unknown set: reported with its path below
                authors = False
            sel = Selection.VARIANCE if authors else Selection.LUT
            object.__setattr__(self, "selection", sel)
        if sel is Selection.NONE or (isinstance(sel, str) and not isinstance(sel, Selection)):
            text = str(sel).strip().lower()
            if text == "none":
                text = "oracle"  # one candidate: nothing to select (checked below)
            object.__setattr__(self, "selection", SELECTION_ALIASES.get(text, text))
        value = _enum(Statistic, self.statistic, "kv.statistic", c)
        if value is not None:
            object.__setattr__(self, "statistic", value)
        specs: list[QuantSpec | None] = []
        for which, grouping, staging in (
            ("k", self.k_grouping, None),
            ("v", self.v_grouping, self.v_staging_bits),
        ):
            try:
                specs.append(
                    QuantSpec(
                        format=self.candidates,
                        group_size=self.group_size,
                        scale_format=cast(Any, self.scale_format),
                        selection=self.selection,
                        grouping=grouping,
                        staging_bits=staging,
                        resolved=resolved,
                        rules="kv",
                    )
                )
            except InputError as exc:
                specs.append(None)
                for issue in exc.issues:
                    path = _kv_path(issue.path, which)
                    if path is not None:
                        c.add(path, issue.rule, issue.value)
            resolved = resolved or (specs[0].candidate_set if specs[0] is not None else None)
        key, val = specs
        if key is not None and val is not None:
            for name in ("group_size", "selection"):
                object.__setattr__(self, name, getattr(key, name))
            object.__setattr__(self, "scale_format", str(key.scale_format))
            object.__setattr__(self, "k_grouping", key.grouping)
            object.__setattr__(self, "v_grouping", val.grouping)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_value", val)
        cs = key.candidate_set if key is not None else None
        object.__setattr__(self, "_set", cs)
        t = self.thresholds
        if isinstance(t, Mapping):
            try:
                t = Thresholds.from_dict(t, "kv.thresholds")
                object.__setattr__(self, "thresholds", t)
            except InputError as exc:
                c.extend(exc)
        if t is not None and isinstance(t, Thresholds):
            c.check(
                t.statistic == self.statistic,
                "kv.thresholds.statistic",
                f"must equal kv.statistic={self.statistic}",
                t.statistic,
            )
            if cs is not None:
                c.check(
                    t.candidate_set == cs.name
                    and max(t.choices) < len(cs.formats)
                    and t.candidates == tuple(cs.formats[j].name for j in t.choices),
                    "kv.thresholds.candidate_set",
                    f"must be the configured set {cs.name!r} (same members)",
                    t.candidate_set,
                )
        elif t is not None:
            c.add("kv.thresholds", "must be Thresholds, a mapping or None", type(t).__name__)
        c.raise_if_any()

    @property
    def key_spec(self) -> QuantSpec:
        """K's :class:`mant.quant_spec.QuantSpec` (this config is a view of K's and V's)."""
        assert self._key is not None  # __post_init__ raised otherwise
        return self._key

    @property
    def value_spec(self) -> QuantSpec:
        """V's :class:`mant.quant_spec.QuantSpec` (its staging bits: ``v_staging_bits``)."""
        assert self._value is not None  # __post_init__ raised otherwise
        return self._value

    @property
    def candidate_set(self) -> CandidateSet:
        """The resolved candidate set (carried; never parsed again)."""
        assert self._set is not None  # __post_init__ raised otherwise
        return self._set

    @property
    def bits_per_element(self) -> float:
        """Element bits + (scale bits + selector bits) / g, known without data.

        Neither the residual tokens nor padding count: a zero-padded token group (g larger
        than head_dim, see :func:`kv_groups`) stores only its valid values but a whole scale
        and selector, so its real cost per value is higher, as in :mod:`mant.quantize`.
        """
        cs = self.candidate_set
        return bits_per_element(
            element_bits=cs.bits,
            group_size=self.group_size,
            scale_bits=SCALE_BITS[parse_scale_format(self.scale_format)],
            selector_bits=cs.selector_bits,
        )

    def resolved_thresholds(self) -> Thresholds:
        """The LUT in use: ``thresholds``, the shipped default or the one-candidate table."""
        if self.thresholds is not None:
            return self.thresholds
        return default_thresholds(self.candidate_set, self.statistic, self.group_size)

    @property
    def needs_calibration(self) -> bool:
        """LUT selection with no LUT given, shipped or trivial (see :meth:`calibrated`)."""
        if self.selection is not Selection.LUT or self.thresholds is not None:
            return False
        try:
            default_thresholds(self.candidate_set, self.statistic, self.group_size)
        except InputError:
            return True
        return False

    def calibrated(
        self, k: Any, v: Any, *, cache_dir: Any = None, source: str = ""
    ) -> KVQuantConfig:
        """This config with a LUT calibrated on ``k`` and ``v`` when it needs one (else itself).

        K and V are grouped as this config groups them (zero-padded token groups are left out,
        and so is a tensor that cannot be grouped at g) and passed to
        :func:`mant.kv_calibrate.thresholds_for`, which caches the table by content. Calibrate on
        K/V other than those the config will be judged on (e.g. another text window).

        Args:
            k, v: calibration keys and values, (..., tokens, head_dim).
            cache_dir: cache folder of :func:`~mant.kv_calibrate.thresholds_for` (None: default).
            source: provenance text stored with a new table.

        Example:
            >>> import numpy as np
            >>> rng = np.random.default_rng(1)
            >>> k, v = rng.standard_normal((2, 2, 256, 64)).astype(np.float32)
            >>> fam = {"family": "geometric", "n": 6, "a_min": 1, "a_max": 120}
            >>> cfg = KVQuantConfig(candidates=fam, selection="lut").calibrated(k, v)
            >>> cfg.needs_calibration, cfg.thresholds.candidate_set
            (False, 'geometric6_a1-120')
        """
        if not self.needs_calibration:
            return self
        kx, vx = _check_tensor(k, "calibration.k"), _check_tensor(v, "calibration.v")
        g = self.group_size
        _check_grouping(kx.shape, self.k_grouping, g, "calibration.k")
        parts = []
        for x, kind in ((kx, self.k_grouping), (vx, self.v_grouping)):
            if _grouping_issue(x.shape, kind, g) is None:
                groups, _, lengths = _group(x, kind, g)
                parts.append(groups if lengths is None else groups[lengths == g])
        if sum(len(p) for p in parts) == 0:
            raise InputError.single(
                "group_size",
                "leaves no complete group of the calibration K/V to calibrate a real-time LUT "
                f"on (tokens of {kx.shape[-3] if kx.ndim >= 3 else 1} x {kx.shape[-1]} values "
                "are padded to g); use oracle selection or a smaller group",
                g,
            )
        table = thresholds_for(
            self.candidate_set,
            self.statistic,
            g,
            calibration=np.concatenate(parts),
            scale_format=self.scale_format,
            cache_dir=cache_dir,
            source=source,
        )
        return replace(self, thresholds=table)

    @classmethod
    def from_specs(cls, key: QuantSpec | None, value: QuantSpec | None) -> KVQuantConfig | None:
        """The config of a recipe's ``key`` and ``value`` specs, or None (fp KV).

        K and V must share format, group size, scale format and selection rule (one real-time
        quantization unit); their groupings may differ. The carried candidate set is used as is.

        Example:
            >>> from mant.quant_spec import QuantSpec
            >>> k = QuantSpec.parse("mant-kv3:g64", kind="key")
            >>> v = QuantSpec.parse("mant-kv3:g64", kind="value")
            >>> KVQuantConfig.from_specs(k, v) == KVQuantConfig()
            True
        """
        k, v = key, value
        if k is None and v is None:
            return None
        c = IssueCollector()
        c.check(
            k is not None and v is not None,
            "recipe.key",
            "key and value are quantized together",
            "fp",
        )
        if k is not None and v is not None:
            for name in ("format", "group_size", "scale_format", "selection"):
                c.check(
                    getattr(k, name) == getattr(v, name),
                    f"recipe.value.{name}",
                    f"must equal recipe.key.{name} ({getattr(k, name)})",
                    getattr(v, name),
                )
        c.raise_if_any()
        assert k is not None and v is not None
        kwargs: dict[str, Any] = {
            "candidates": k.format_spec,
            "group_size": k.group_size,
            "k_grouping": k.grouping,
            "v_grouping": v.grouping,
            "scale_format": str(k.scale_format),
            "selection": "oracle" if k.selection is Selection.ORACLE else k.selection.value,
            "resolved": k.candidate_set,  # carried from the spec, not parsed again
        }
        if v.grouping is Grouping.CHANNEL:
            kwargs["v_staging_bits"] = v.staging_bits
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML types; :meth:`from_dict` inverts it."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        for name in ("k_grouping", "v_grouping", "selection", "statistic"):
            out[name] = out[name].value
        out["thresholds"] = None if self.thresholds is None else self.thresholds.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KVQuantConfig:
        """Build from a mapping; unknown keys are an :class:`InputError` listing the valid ones."""
        _check_keys(data, cls, "kv")
        return cls(**dict(data))


def _kv_path(path: str, which: str) -> str | None:
    """A K (``which="k"``) or V spec's issue path as this config names it; None: V repeats K's."""
    if path.startswith("grouping"):
        return f"kv.{which}_grouping"
    if path.startswith("staging_bits"):
        return "kv.v_staging_bits" if which == "v" else None
    if which == "v":
        return None
    if path.startswith("format"):
        path = "candidates" + path[len("format") :]
    return f"kv.{path}"


# --------------------------------------------------------------------------- grouping


def kv_groups(x: Any, grouping: Grouping | str, group_size: int) -> tuple[np.ndarray, int]:
    """Cut a (..., tokens, head_dim) tensor into groups.

    ``channel`` groups run along tokens (the newest ``tokens mod g`` stay out, in full
    precision). ``token`` groups run along one token's values: along head_dim when g divides
    head_dim (listed head by head, then token by token), else, for g a multiple of head_dim,
    along the token's concatenated heads: axis -3 (kv_heads) is put next to head_dim, so a
    token's (kv_heads x head_dim) values form one row, cut into groups of g (listed token by
    token). When kv_heads x head_dim is not a multiple of g, the last group of each token is
    zero-padded to g under the :mod:`mant.groups` padding rule: padded slots do not count in
    the scale, the statistic, the error or the output. Any other head_dim is an
    :class:`~mant.errors.InputError`. A 2-d tensor (tokens, head_dim) is one head.

    Args:
        x: K or V, shape (..., tokens, head_dim), e.g. (kv_heads, tokens, head_dim).
        grouping: ``channel`` (along tokens) or ``token`` (along head_dim, or heads x head_dim).
        group_size: values per group.

    Returns:
        (groups of shape (n_groups, group_size), residual tokens left in full precision).

    Example:
        >>> v = np.arange(3 * 2 * 64, dtype=np.float32).reshape(3, 2, 64)  # 3 heads, 2 tokens
        >>> groups, _ = kv_groups(v, "token", 128)  # per token: heads 0+1, then 2 + padding
        >>> groups.shape, bool(np.array_equal(groups[1, :64], v[2, 0]))
        ((4, 128), True)
        >>> float(np.abs(groups[1, 64:]).max())
        0.0
    """
    arr, kind = _check_tensor(x, "x"), Grouping(grouping)
    _check_grouping(arr.shape, kind, group_size, "x")
    return _group(arr, kind, group_size)[:2]


def _check_tensor(x: Any, path: str) -> np.ndarray:
    arr = np.asarray(x)
    c = IssueCollector()
    if not np.issubdtype(arr.dtype, np.floating):
        c.add(path, "must be a floating-point array", str(arr.dtype))
    elif arr.ndim < 2:
        c.add(path, "must have shape (..., tokens, head_dim)", arr.shape)
    else:
        bad = ~np.isfinite(arr)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            c.add(path, "must be finite (no NaN or Inf)", f"{arr[first]} at index {first}")
    c.raise_if_any()
    return arr.astype(np.float32, copy=False)


def _grouping_issue(shape: tuple[int, ...], kind: Grouping, g: int) -> str | None:
    dim = shape[-1]
    if kind is Grouping.TOKEN and dim % g and not (g > dim and g % dim == 0):
        return (
            f"must be a multiple of group_size={g} for token grouping, or divide it (a group "
            "then spans whole heads of one token)"
        )
    return None


def _check_grouping(shape: tuple[int, ...], kind: Grouping, g: int, path: str) -> None:
    issue = _grouping_issue(shape, kind, g)
    if issue is not None:
        raise InputError.single(f"{path}.head_dim", issue, shape[-1])


def _spans_heads(shape: tuple[int, ...], kind: Grouping, g: int) -> bool:
    """Token groups longer than head_dim: they run along the token's concatenated heads."""
    return kind is Grouping.TOKEN and shape[-1] % g != 0


def _token_rows(x: np.ndarray) -> np.ndarray:
    """(..., kv_heads, tokens, head_dim) -> (rows, kv_heads * head_dim): one row per token."""
    if x.ndim > 2:
        x = np.swapaxes(x, -3, -2)
        return x.reshape(-1, x.shape[-2] * x.shape[-1])
    return x


def _group(x: np.ndarray, kind: Grouping, g: int) -> tuple[np.ndarray, int, np.ndarray | None]:
    """(groups, residual tokens, valid values per group or None when no group is padded)."""
    if _spans_heads(x.shape, kind, g):
        rows = _token_rows(x)
        per_row = -(-rows.shape[1] // g)
        pad = per_row * g - rows.shape[1]
        if not pad:
            return rows.reshape(-1, g), 0, None
        padded = np.zeros((rows.shape[0], per_row * g), dtype=np.float32)
        padded[:, : rows.shape[1]] = rows
        lengths = np.full((rows.shape[0], per_row), g, dtype=np.int64)
        lengths[:, -1] = g - pad
        return padded.reshape(-1, g), 0, lengths.reshape(-1)
    if kind is Grouping.TOKEN:
        return x.reshape(-1, g), 0, None
    tokens, dim = x.shape[-2], x.shape[-1]
    full = tokens - tokens % g
    blocks = x[..., :full, :].reshape(*x.shape[:-2], full // g, g, dim)
    return np.swapaxes(blocks, -1, -2).reshape(-1, g), tokens - full, None


def _ungroup(groups: np.ndarray, x: np.ndarray, kind: Grouping, g: int) -> np.ndarray:
    if _spans_heads(x.shape, kind, g):
        width = x.shape[-1] if x.ndim == 2 else x.shape[-3] * x.shape[-1]
        rows = groups.reshape(-1, -(-width // g) * g)[:, :width]  # padding stripped
        if x.ndim == 2:
            return np.ascontiguousarray(rows.reshape(x.shape))
        moved = rows.reshape(*x.shape[:-3], x.shape[-2], x.shape[-3], x.shape[-1])
        return np.ascontiguousarray(np.swapaxes(moved, -3, -2))
    if kind is Grouping.TOKEN:
        return groups.reshape(x.shape)
    tokens, dim = x.shape[-2], x.shape[-1]
    full = tokens - tokens % g
    out = x.copy()  # the residual tokens stay as they are
    blocks = groups.reshape(*x.shape[:-2], full // g, dim, g)
    out[..., :full, :] = np.swapaxes(blocks, -1, -2).reshape(*x.shape[:-2], full, dim)
    return out


def _padded_statistic(groups: np.ndarray, lengths: np.ndarray, stat: Statistic) -> np.ndarray:
    """The statistic over each group's valid values (all padded groups share one length)."""
    out = np.zeros(groups.shape[0])
    full = lengths == groups.shape[1]
    out[full] = _statistic(groups[full], stat)
    short = ~full
    if short.any():
        out[short] = _statistic(groups[short, : int(lengths[short][0])], stat)
    return out


def _quantize_groups(
    groups: np.ndarray,
    cs: Any,
    choice: np.ndarray | None,
    scale_format: str,
    lengths: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dequantized, choice, squared error per group); all-zero groups come back as zeros."""
    if groups.shape[0] == 0:
        return groups.copy(), np.zeros(0, np.int64), np.zeros(0)
    q = quantize_groups(groups, cs, choice=choice, scale_format=scale_format, lengths=lengths)
    # group_error is the mean over the group's valid values (mant.quantize.GroupQuant)
    n = groups.shape[1] if lengths is None else lengths
    return q.dequantized, q.choice.astype(np.int64), q.group_error * n


def _select(
    groups: np.ndarray, lengths: np.ndarray | None, cfg: KVQuantConfig, lut: Thresholds | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """(statistic per group, chosen candidate per group or None for the oracle search)."""
    n_formats = len(cfg.candidate_set.formats)
    if cfg.selection is Selection.VARIANCE:
        stat = normalized_variance(groups, lengths)
        if n_formats == 1:
            return stat, np.zeros(groups.shape[0], np.int64)
        return stat, select_variance(groups, cfg.candidate_set, lengths)
    if lengths is None:
        stat = _statistic(groups, cfg.statistic)  # the tensor was checked by quantize_kv
    else:
        stat = _padded_statistic(groups, lengths, cfg.statistic)
    return stat, None if lut is None else _lookup(stat, lut)


def _lut_of(cfg: KVQuantConfig) -> Thresholds | None:
    return cfg.resolved_thresholds() if cfg.selection is Selection.LUT else None


def quantize_grouped(x: np.ndarray, kind: Grouping | str, cfg: KVQuantConfig) -> np.ndarray:
    """``x`` (..., tokens, head_dim) fake-quantized in ``kind`` groups under ``cfg``'s rule.

    No input checks (callers check); channel groups leave the last ``tokens mod g`` tokens as
    they are. Used by the decode-time cache (:mod:`mant.kv_decode`) and the runtime.
    """
    return _quantize_tensor(x, Grouping(kind), cfg, _lut_of(cfg), False).dequantized


def _quantize_tensor(
    x: np.ndarray,
    kind: Grouping,
    cfg: KVQuantConfig,
    lut: Thresholds | None,
    compare_oracle: bool,
) -> KVTensorResult:
    cs = cfg.candidate_set
    groups, residual, lengths = _group(x, kind, cfg.group_size)
    stat, choice = _select(groups, lengths, cfg, lut)
    deq, picked, err = _quantize_groups(groups, cs, choice, cfg.scale_format, lengths)
    oracle_err = None
    if compare_oracle:
        oracle_err = (
            err
            if choice is None
            else _quantize_groups(groups, cs, None, cfg.scale_format, lengths)[2]
        )
    return KVTensorResult(
        dequantized=_ungroup(deq, x, kind, cfg.group_size),
        choice=picked,
        group_error=err,
        statistic=stat,
        oracle_group_error=oracle_err,
        candidate_names=tuple(f.name for f in cs.formats),
        grouping=kind,
        residual_tokens=residual,
        signal_energy=float(np.sum(np.square(x, dtype=np.float64))),
        n_elements=int(x.size),
    )


def quantize_kv(k: Any, v: Any, cfg: KVQuantConfig, *, compare_oracle: bool = False) -> KVResult:
    """Quantize a KV cache (fake quantization: values come back dequantized, float32).

    Args:
        k: keys, (..., tokens, head_dim), e.g. (kv_heads, T, d), post-RoPE.
        v: values, same leading shape (..., tokens) as ``k``.
        cfg: the configuration.
        compare_oracle: also run the oracle search to report ``oracle_ratio``.

    Returns:
        The :class:`KVResult`.

    Raises:
        InputError: non-float or non-finite tensors, mismatched shapes, a head_dim that g
            neither divides nor is a multiple of under token grouping, real-time selection of
            a set with no thresholds given or shipped (see :meth:`KVQuantConfig.calibrated`).
    """
    c = IssueCollector()
    arrays = {}
    for name, x in (("k", k), ("v", v)):
        try:
            arrays[name] = _check_tensor(x, name)
        except InputError as exc:
            c.extend(exc)
    c.raise_if_any()
    kx, vx = arrays["k"], arrays["v"]
    c.check(
        kx.shape[:-1] == vx.shape[:-1],
        "v",
        f"must have the leading shape (..., tokens) of k {kx.shape[:-1]}",
        vx.shape,
    )
    for name, x, kind in (("k", kx, cfg.k_grouping), ("v", vx, cfg.v_grouping)):
        try:
            _check_grouping(x.shape, kind, cfg.group_size, name)
        except InputError as exc:
            c.extend(exc)
    c.raise_if_any()
    lut = _lut_of(cfg)
    return KVResult(
        k=_quantize_tensor(kx, cfg.k_grouping, cfg, lut, compare_oracle),
        v=_quantize_tensor(vx, cfg.v_grouping, cfg, lut, compare_oracle),
        config=cfg,
    )


# --------------------------------------------------------------------------- synthetic data
