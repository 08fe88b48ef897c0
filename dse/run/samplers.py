"""Builds the Optuna sampler a spec asks for.

Example:
    >>> from dse.study.spec import parse_spec
    >>> spec = parse_spec({"version": 1, "name": "x", "sampler": "random",
    ...                    "objectives": ["latency_s"]})
    >>> type(make_sampler(spec)).__name__
    'RandomSampler'
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from dse.study.space import HARDWARE_PARAMS
from dse.study.spec import SamplerName
from mant.errors import InputError

if TYPE_CHECKING:
    from dse.study.spec import StudySpec

__all__ = ["make_sampler", "available_samplers", "n_designs", "n_settings", "design_key"]


def available_samplers() -> list[str]:
    """Sampler names usable here (``gp`` needs torch and scipy)."""
    names = [s.value for s in SamplerName]
    if importlib.util.find_spec("torch") is None:
        names.remove("gp")
    return names


def n_settings(spec: StudySpec, *, max_enumerated: int = 1_000_000) -> int:
    """Distinct quantization settings of the space (every parameter but the hardware ones;
    combinations that differ only in a parameter the design ignores count once). Spaces with
    more than ``max_enumerated`` combinations are counted without that reduction."""
    import itertools

    from dse.study.design import canonical_values

    space = spec.space
    params = [p for p in space.searched if p.name not in HARDWARE_PARAMS]
    raw = space.searched_size(tuple(p.name for p in params))
    if raw > max_enumerated:
        return raw
    seen = set()
    for combo in itertools.product(*(list(p.values()) for p in params)):
        values = canonical_values(space, dict(zip((p.name for p in params), combo, strict=True)))
        seen.add(tuple(values[p.name] for p in params))
    return len(seen)


def design_key(spec: StudySpec, params: dict[str, Any]) -> tuple[Any, ...]:
    """The distinct design (or, with ``solve_hardware``, setting) a trial's parameters name:
    parameters the design ignores at their first choice
    (:func:`dse.study.design.canonical_values`)."""
    from dse.study.design import canonical_values

    values = canonical_values(spec.space, params)
    if spec.sampler.solve_hardware:
        values = {k: v for k, v in values.items() if k not in HARDWARE_PARAMS}
    return tuple(sorted((k, repr(v)) for k, v in values.items()))


def n_designs(spec: StudySpec, *, max_enumerated: int = 1_000_000) -> int | None:
    """How many distinct designs (``solve_hardware``: quantization settings) the sampler can
    propose, as :func:`design_key` tells them apart; ``None`` when the space has more than
    ``max_enumerated`` combinations (too many to count, and to exhaust)."""
    import itertools

    space = spec.space
    params = [p for p in space.searched]
    if spec.sampler.solve_hardware:
        params = [p for p in params if p.name not in HARDWARE_PARAMS]
    if space.searched_size(tuple(p.name for p in params)) > max_enumerated:
        return None
    names = [p.name for p in params]
    keys = {
        design_key(spec, dict(zip(names, combo, strict=True)))
        for combo in itertools.product(*(list(p.values()) for p in params))
    }
    return len(keys)


def make_sampler(spec: StudySpec, seed: int | None = None) -> Any:
    """An Optuna sampler for the spec, seeded with ``seed`` (default: the spec's seed).

    Raises:
        InputError: ``gp`` without torch installed.
    """
    import optuna

    seed = spec.seed if seed is None else seed
    s = spec.sampler
    grid = spec.space.grid()
    if s.solve_hardware:  # hardware parameters are solved, not sampled
        grid = {k: v for k, v in grid.items() if k not in HARDWARE_PARAMS}
    name = s.name
    if name == SamplerName.AUTO:
        name = SamplerName.GRID if n_settings(spec) <= spec.n_trials else SamplerName.NSGA2
    match name:
        case SamplerName.TPE:
            return optuna.samplers.TPESampler(seed=seed)
        case SamplerName.NSGA2:
            return optuna.samplers.NSGAIISampler(population_size=s.population_size, seed=seed)
        case SamplerName.NSGA3:
            return optuna.samplers.NSGAIIISampler(population_size=s.population_size, seed=seed)
        case SamplerName.RANDOM:
            return optuna.samplers.RandomSampler(seed=seed)
        case SamplerName.GRID:
            return optuna.samplers.GridSampler(grid, seed=seed)
        case SamplerName.QMC:
            return optuna.samplers.QMCSampler(seed=seed)
        case SamplerName.GP:
            if "gp" not in available_samplers():
                raise InputError.single(
                    "sampler.name",
                    "gp needs torch (pip install torch --index-url "
                    "https://download.pytorch.org/whl/cpu)",
                    "gp",
                )
            return optuna.samplers.GPSampler(seed=seed)
    raise AssertionError(name)  # pragma: no cover
