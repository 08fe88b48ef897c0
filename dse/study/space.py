"""The search space: which design parameters exist, their ranges, and how Optuna samples them.

Each parameter is a :class:`Categorical` (a list in YAML) or an :class:`IntRange`
(``{low, high, step}`` or ``{low, high, log: true}``). A parameter with one choice is fixed: it is
part of every design but not sampled. Format choices (``weight_format``, ``kv_format``) accept
named candidate sets, format names (``"{bits}"`` is replaced by the sampled bit width) and
coefficient-family mappings; Optuna sees them by label.

Example:
    >>> from mant.errors import IssueCollector
    >>> rows = {"low": 16, "high": 64, "step": 16}
    >>> p = parse_param(IssueCollector(), "rows", rows, "space.rows")
    >>> list(p.values())
    [16, 32, 48, 64]
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from dse.study.pe_recipes import LiveSequence, pe_types
from mant.errors import IssueCollector
from mant.vocab import KV_KINDS, WEIGHT_KINDS

__all__ = [
    "HARDWARE_PARAMS",
    "KV_SIDE_NAMES",
    "PER_KIND_BASES",
    "WEIGHT_KIND_NAMES",
    "kind_param",
    "PE_FILE_SUFFIXES",
    "PE_TYPES",
    "QUANT_PARAMS",
    "QUANTIZATION_CHOICES",
    "DATAFLOWS",
    "ParamInfo",
    "PARAMS",
    "Categorical",
    "IntRange",
    "Param",
    "SearchSpace",
    "parse_param",
    "format_label",
]


# Every PE type, read from the PE files on access: adding a PE file adds a ``pe_type`` choice.
PE_TYPES: Sequence[str] = LiveSequence(pe_types)
DATAFLOWS = ("os", "ws", "is")


@dataclass(frozen=True, slots=True, kw_only=True)
class ParamInfo:
    """What one search-space key accepts.

    Attributes:
        kind: ``int`` (ranges allowed), ``number`` (a list of positive numbers), ``choice``
            (strings from ``allowed``) or ``format``.
        default: the fixed value used when the key is absent.
        low: smallest allowed int.
        high: largest allowed int.
        allowed: valid strings of a ``choice`` parameter.
        unit: unit of the value.
    """

    kind: str
    default: Any
    low: int = 1
    high: int = 1 << 20
    allowed: Sequence[str] = ()
    unit: str = ""
    per_kind_of: str = ""


# Per-tensor-kind parameters: ``<base>.<kind>`` overrides ``<base>`` for that kind only (weights
# of one projection, or one side of the KV cache); absent from a spec, the kind takes the base.
# ``group_size.<kind>`` exists for every projection and both KV sides; ``act_bits.<kind>`` and
# ``act_format.<kind>`` set the input activations of one projection (their group is
# ``act_group_size``, else the base ``group_size``).
# (the kinds themselves are mant.vocab's: one definition)
WEIGHT_KIND_NAMES = tuple(k.value for k in WEIGHT_KINDS)
KV_SIDE_NAMES = tuple(k.value for k in KV_KINDS)
PER_KIND_BASES = {
    "group_size": WEIGHT_KIND_NAMES + KV_SIDE_NAMES,
    "weight_bits": WEIGHT_KIND_NAMES,
    "weight_format": WEIGHT_KIND_NAMES,
    "kv_bits": KV_SIDE_NAMES,
    "kv_format": KV_SIDE_NAMES,
    "act_bits": WEIGHT_KIND_NAMES,
    "act_format": WEIGHT_KIND_NAMES,
}

# How a design quantizes: ``space`` builds its recipe from the quantization parameters below,
# ``native`` takes its PE's native recipe whole (dse.study.pe_recipes). A space that names no
# quantization parameter (QUANT_PARAMS) is ``native`` unless it says otherwise.
QUANTIZATION_CHOICES = ("space", "native")

PARAMS: dict[str, ParamInfo] = {
    "pe_type": ParamInfo(kind="choice", default="mant", allowed=PE_TYPES),
    "quantization": ParamInfo(kind="choice", default="space", allowed=QUANTIZATION_CHOICES),
    "group_size": ParamInfo(kind="int", default=64, low=1, high=4096, unit="element"),
    "weight_bits": ParamInfo(kind="int", default=4, low=2, high=8, unit="bit"),
    "weight_format": ParamInfo(kind="format", default="mant-unicore16"),
    "weight_selection": ParamInfo(
        kind="choice", default="weight_mse", allowed=("weight_mse", "output_mse")
    ),
    "weight_algorithm": ParamInfo(kind="choice", default="rtn", allowed=("rtn", "gptq", "awq")),
    "weight_rotation": ParamInfo(kind="choice", default="none", allowed=("none", "hadamard")),
    "kv_bits": ParamInfo(kind="int", default=4, low=2, high=16, unit="bit"),
    "kv_format": ParamInfo(kind="format", default="mant-unicore16"),
    "kv_selection": ParamInfo(kind="choice", default="realtime", allowed=("realtime", "oracle")),
    "act_bits": ParamInfo(kind="int", default=8, low=2, high=16, unit="bit"),
    "act_format": ParamInfo(kind="format", default="int{bits}"),
    "act_group_size": ParamInfo(kind="int", default=None, low=1, high=4096, unit="element"),
    "rows": ParamInfo(kind="int", default=32, low=1, high=4096, unit="PE"),
    "cols": ParamInfo(kind="int", default=32, low=1, high=4096, unit="PE"),
    "dataflow": ParamInfo(kind="choice", default="ws", allowed=DATAFLOWS),
    "weight_buffer_kib": ParamInfo(kind="int", default=None, low=1, high=1 << 20, unit="KiB"),
    "act_buffer_kib": ParamInfo(kind="int", default=None, low=1, high=1 << 20, unit="KiB"),
    "clock_mhz": ParamInfo(kind="int", default=None, low=1, high=100_000, unit="MHz"),
    "dram_bw_bytes_per_cycle": ParamInfo(kind="number", default=None, unit="byte/cycle"),
    "dram_energy_scale": ParamInfo(kind="number", default=None, unit="1"),
    "load_bytes_per_cycle": ParamInfo(kind="number", default=None, unit="byte/cycle"),
}
# each base followed by its per-kind parameters (values sampled before they are read)
PARAMS = {
    name: info
    for base, info0 in PARAMS.items()
    for name, info in (
        (base, info0),
        *(
            (f"{base}.{kind}", replace(info0, per_kind_of=base))
            for kind in PER_KIND_BASES.get(base, ())
        ),
    )
}


# Parameters that say how a design quantizes (the space side of its recipe).
QUANT_PARAMS = tuple(
    name
    for name, info in PARAMS.items()
    if (info.per_kind_of or name)
    in (
        "group_size",
        "weight_bits",
        "weight_format",
        "weight_selection",
        "weight_algorithm",
        "weight_rotation",
        "kv_bits",
        "kv_format",
        "kv_selection",
        "act_bits",
        "act_format",
        "act_group_size",
    )
)


def kind_param(base: str, kind: str) -> str:
    """The name of ``base``'s parameter for one tensor kind (``weight_bits.q``)."""
    return f"{base}.{kind}"


# Parameters the vectorised hardware model can solve exactly for one quantization setting
HARDWARE_PARAMS = (
    "rows",
    "cols",
    "dataflow",
    "weight_buffer_kib",
    "act_buffer_kib",
    "clock_mhz",
    "dram_bw_bytes_per_cycle",
    "dram_energy_scale",
    "load_bytes_per_cycle",
)

# pe_type entries may also be PE YAML files (schema of hwmodel/data/pes/*.yaml)
PE_FILE_SUFFIXES = (".yaml", ".yml")


def format_label(spec: Any) -> str:
    """The label Optuna sees for one format choice (the string itself, or a family summary)."""
    if isinstance(spec, str):
        return spec
    if "label" in spec:
        return str(spec["label"])
    rest = ",".join(f"{k}={spec[k]}" for k in sorted(spec) if k != "family")
    return f"{spec.get('family', '?')}({rest})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Categorical:
    """A parameter chosen from a list.

    Attributes:
        name: parameter name.
        choices: what Optuna sees (ints, strings, or format labels).
        raw_choices: the values as written in the spec (format dicts kept whole).
    """

    name: str
    choices: tuple[Any, ...]
    raw_choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if not self.raw_choices:
            object.__setattr__(self, "raw_choices", self.choices)

    @property
    def is_fixed(self) -> bool:
        return len(self.choices) == 1

    def values(self) -> Iterator[Any]:
        return iter(self.choices)

    @property
    def n_values(self) -> int:
        return len(self.choices)

    def resolve(self, value: Any) -> Any:
        """The spec value behind an Optuna value (a format label -> its dict)."""
        if self.raw_choices is self.choices:
            return value
        return self.raw_choices[self.choices.index(value)]

    def suggest(self, trial: Any) -> Any:
        return trial.suggest_categorical(self.name, list(self.choices))

    def distribution(self) -> Any:
        """The Optuna distribution :meth:`suggest` samples from."""
        import optuna

        return optuna.distributions.CategoricalDistribution(list(self.choices))

    @property
    def first(self) -> Any:
        return self.choices[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class IntRange:
    """An integer range ``low..high`` (inclusive) with a step, or log-uniform."""

    name: str
    low: int
    high: int
    step: int = 1
    log: bool = False

    is_fixed = False

    def values(self) -> Iterator[int]:
        return iter(range(self.low, self.high + 1, self.step))

    @property
    def n_values(self) -> int:
        return len(range(self.low, self.high + 1, self.step))

    def resolve(self, value: Any) -> Any:
        return value

    def suggest(self, trial: Any) -> int:
        return trial.suggest_int(self.name, self.low, self.high, step=self.step, log=self.log)

    def distribution(self) -> Any:
        """The Optuna distribution :meth:`suggest` samples from."""
        import optuna

        return optuna.distributions.IntDistribution(
            self.low, self.high, step=self.step, log=self.log
        )

    @property
    def first(self) -> int:
        return self.low


Param = Categorical | IntRange


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchSpace:
    """All design parameters (searched and fixed), in :data:`PARAMS` order."""

    params: tuple[Param, ...] = ()

    def get(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def searched(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if not p.is_fixed)

    @property
    def size(self) -> int:
        """Number of distinct designs."""
        return math.prod(p.n_values for p in self.params)

    def fixed_values(self) -> dict[str, Any]:
        return {
            p.name: p.choices[0] for p in self.params if isinstance(p, Categorical) and p.is_fixed
        }

    def suggest(
        self,
        trial: Any,
        *,
        skip: tuple[str, ...] = (),
        ignored: Callable[[Mapping[str, Any]], set[str]] | None = None,
    ) -> dict[str, Any]:
        """Asks Optuna for the searched parameters; returns all parameter values by name.

        Parameters in ``skip`` and those ``ignored(values so far)`` names (parameters the design
        drawn so far does not use, e.g. ``weight_format`` on a PE with a native format) are not
        sampled: they take their first choice, so equivalent designs are one design.
        """
        values = self.fixed_values()
        for p in self.searched:
            if p.name in skip:
                continue
            if ignored is not None and p.name in ignored(values):
                values[p.name] = p.first
                continue
            values[p.name] = p.suggest(trial)
        return values

    def searched_size(self, names: tuple[str, ...]) -> int:
        """Number of combinations of the named parameters (all: :attr:`size`)."""
        return math.prod(p.n_values for p in self.params if p.name in names)

    def enumerate(self) -> Iterator[dict[str, Any]]:
        """Every design of the space (as Optuna-facing values), in a fixed order."""
        names = [p.name for p in self.params]
        for combo in itertools.product(*(list(p.values()) for p in self.params)):
            yield dict(zip(names, combo, strict=True))

    def grid(self) -> dict[str, list[Any]]:
        """The searched parameters as an Optuna ``GridSampler`` search space."""
        return {p.name: list(p.values()) for p in self.searched}


# ---------------------------------------------------------------- parsing


def _int_ok(value: Any, info: ParamInfo) -> bool:
    return (
        isinstance(value, int) and not isinstance(value, bool) and info.low <= value <= info.high
    )


def _positive_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _format_ok(c: IssueCollector, value: Any, path: str) -> bool:
    if isinstance(value, str) and value:
        return True
    if isinstance(value, Mapping):
        if not isinstance(value.get("family"), str):
            c.add(f"{path}.family", "a coefficient-family mapping needs a family name", value)
            return False
        for k, v in value.items():
            if not isinstance(k, str) or not isinstance(v, str | int | float | bool | None | list):
                c.add(f"{path}.{k}", "must be a plain YAML scalar or list", v)
                return False
        return True
    c.add(path, "must be a candidate-set name, a format name or a family mapping", value)
    return False


def parse_param(c: IssueCollector, name: str, data: Any, path: str) -> Param | None:
    """Validates one ``space`` entry; records issues in ``c`` and returns None when invalid."""
    info = PARAMS[name]
    if isinstance(data, Mapping) and info.kind == "int":
        return _parse_range(c, name, data, path, info)
    if not isinstance(data, list):
        data = [data]
    if not data:
        c.add(path, "must list at least one choice", data)
        return None
    check: Callable[[Any, str], bool]
    if info.kind == "int":
        rule = f"must be an int in [{info.low}, {info.high}]"
        if name == "act_group_size":
            rule += " or null (group_size)"
        elif info.default is None:
            rule += " or null (the preset's)"
        check = lambda v, p: c.check(  # noqa: E731
            _int_ok(v, info) or (v is None and info.default is None), p, rule, v
        )
    elif info.kind == "number":
        rule = "must be a finite number > 0 or null (the base accelerator's)"
        check = lambda v, p: c.check(  # noqa: E731
            v is None or (_positive_number(v)), p, rule, v
        )
    elif info.kind == "choice":
        rule = f"must be one of {', '.join(info.allowed)}"
        if name == "pe_type":
            rule += " or a PE YAML file"
        check = lambda v, p: c.check(  # noqa: E731
            v in info.allowed
            or (name == "pe_type" and isinstance(v, str) and v.endswith(PE_FILE_SUFFIXES)),
            p,
            rule,
            v,
        )
    else:
        check = lambda v, p: _format_ok(c, v, p)  # noqa: E731
    good = [check(v, f"{path}[{i}]") for i, v in enumerate(data)]
    if not all(good):
        return None
    if info.kind == "format":
        labels = tuple(format_label(v) for v in data)
        dup = {x for x in labels if labels.count(x) > 1}
        if dup:
            c.add(path, "has duplicate choices (give dicts distinct 'label's)", sorted(dup))
            return None
        raw = tuple(dict(v) if isinstance(v, Mapping) else v for v in data)
        return Categorical(name=name, choices=labels, raw_choices=raw)
    if len(set(data)) != len(data):
        c.add(path, "has duplicate choices", data)
        return None
    return Categorical(name=name, choices=tuple(data))


def _parse_range(
    c: IssueCollector, name: str, data: Mapping, path: str, info: ParamInfo
) -> IntRange | None:
    allowed = ("low", "high", "step", "log")
    n0 = len(c.issues)
    for key in data:
        if key not in allowed:
            c.add(f"{path}.{key}", f"unknown key; valid: {', '.join(allowed)}", key)
    low: Any = data.get("low")  # YAML values: checked by _int_ok below
    high: Any = data.get("high")
    step, log = data.get("step", 1), data.get("log", False)
    rule = f"must be an int in [{info.low}, {info.high}]"
    c.check(_int_ok(low, info), f"{path}.low", rule, low)
    c.check(_int_ok(high, info), f"{path}.high", rule, high)
    c.check(
        isinstance(step, int) and not isinstance(step, bool) and step >= 1,
        f"{path}.step",
        "must be an int >= 1",
        step,
    )
    c.check(isinstance(log, bool), f"{path}.log", "must be true or false", log)
    if len(c.issues) > n0:
        return None
    if low > high:
        c.add(path, "is empty: low must be <= high", {"low": low, "high": high})
        return None
    if log and step != 1:
        c.add(path, "log ranges need step 1", step)
        return None
    return IntRange(name=name, low=low, high=high, step=step, log=log)
