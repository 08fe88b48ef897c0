"""The reproduce configuration: designs (preset + recipe), scopes, named alternatives, accuracy.

Two YAML files ship as package data, one per named assumption set (:data:`ASSUMPTION_SETS`):
``physical.yaml`` (the default hardware model) and ``paper.yaml`` (all the M-ANT paper's
assumptions together); :func:`load_config` reads one (or an edited copy) once into the frozen
:class:`ReproduceConfig`. A config names its set (``assumptions``) and the PE constant set every
design takes (``pe_constants``, ``hwmodel.pe.CONSTANT_SETS``): one comparison never mixes sets.
A design's precision is its recipe's (``dse.study.recipe_io.load_recipe``, optionally with the
activation or KV part replaced).

Example:
    >>> cfg = load_config()
    >>> cfg.subject, cfg.scope("linear_layers").baselines
    ('mant', ('tender', 'olive', 'ant', 'bitfusion'))
    >>> cfg.scope("whole_model").seq_lens[-1]
    131072
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from dse.reproduce.types import Alternative, DesignSpec, ReproduceConfig, Scope
from dse.study.recipe_io import load_recipe
from mant.errors import InputError, IssueCollector
from mant.recipe import Recipe

__all__ = [
    "ASSUMPTION_SETS",
    "COMPARISONS",
    "PHASES",
    "CONFIG_VERSION",
    "METRICS",
    "Alternative",
    "DesignSpec",
    "ReproduceConfig",
    "Scope",
    "load_config",
    "parse_config",
    "shipped_config_text",
]

CONFIG_VERSION = 2
ASSUMPTION_SETS = {"physical": "physical.yaml", "paper": "paper.yaml"}
"""Named assumption set -> its shipped config file."""
COMPARISONS = {"mant": None, "bitmod": "bitmod.yaml"}
"""Named comparison (``mant-dse reproduce NAME``) -> its shipped config file (``mant``: the
M-ANT paper's, one file per assumption set)."""
PHASES = ("prefill", "decode", "generate")
"""Case phases: ``generate`` is a prefill of ``seq_len`` tokens plus ``generate_tokens`` decode
steps against a ``seq_len`` cache (BitMoD's generative task)."""
METRICS = ("speedup", "energy_reduction")
_PAPER_KEYS = tuple(f"{m}_{s}" for m in METRICS for s in ("avg", "max", "min"))
_DESIGN_SET_KEYS = ("recipe", "acts", "kv", "pe_area_um2", "pe_energy_scale", "rows", "cols")
_GLOBAL_SET_KEYS = {
    "acts": str,
    "kv": str,
    "preload": ("serial", "overlapped"),
    "dataflow": ("ws", "os", "is"),
    "gemv_path": ("load_path", "scalesim", "double_buffered", "memory_width", "vector"),
    "phase": PHASES,
    "area_scale": float,
    "dram_energy_scale": float,
    "dram_bw_bytes_per_cycle": float,
    "buffer_kib": float,
    "subject_cycle_scale": float,
    "dram_pj_per_bit": float,
    "dram_background_mw": float,
}


def design_recipe(raw: Mapping[str, Any], path: str) -> tuple[Recipe, str]:
    """The recipe of a design entry: ``recipe`` (default: its PE's native recipe,
    ``dse.study.design.PE_RECIPES``) with the optional ``acts`` / ``kv`` parts replaced."""
    from dse.study.design import pe_recipe
    from hwmodel import load_accelerator

    if "recipe" in raw:
        recipe = load_recipe(raw["recipe"], f"{path}.recipe")
    else:
        recipe = pe_recipe(load_accelerator(raw["preset"]).pe.name)
    label = recipe.name
    changes = {k: raw[k] for k in ("acts", "kv") if k in raw}
    if changes:
        recipe = recipe.with_overrides(**changes)
        label += "".join(f" {k}={v}" for k, v in changes.items())
    return recipe, label


def _list(
    c: IssueCollector, value: Any, path: str, kind: type, known: Any = None
) -> tuple[Any, ...]:
    ok = isinstance(value, list) and bool(value) and all(isinstance(v, kind) for v in value)
    if not c.check(ok, path, f"must be a non-empty list of {kind.__name__}", value):
        return ()
    for i, v in enumerate(value):
        if known is not None:
            c.check(v in known, f"{path}[{i}]", "unknown name", v)
    return tuple(value)


def _design(c: IssueCollector, name: str, raw: Any, path: str) -> DesignSpec | None:
    from hwmodel import list_presets

    allowed = (
        "preset",
        "keep",
        "recipe",
        "acts",
        "kv",
        "rows",
        "cols",
        "decode_recipe",
        "model_recipes",
    )
    if not c.check_keys(raw, path, allowed=allowed, required=("preset", "keep")):
        return None
    if not c.check(
        raw["preset"] in list_presets(), f"{path}.preset", "unknown preset", raw["preset"]
    ):
        return None
    c.check(raw["keep"] in ("rows", "cols"), f"{path}.keep", "must be rows or cols", raw["keep"])
    fixed = {k: raw[k] for k in ("rows", "cols") if k in raw}
    for k, v in fixed.items():
        c.check(isinstance(v, int) and v >= 1, f"{path}.{k}", "must be an int >= 1", v)
    c.check(
        len(fixed) in (0, 2), f"{path}.rows", "rows and cols go together (a fixed array)", fixed
    )
    try:
        recipe, label = design_recipe(raw, path)
        decode = (
            load_recipe(raw["decode_recipe"], f"{path}.decode_recipe")
            if "decode_recipe" in raw
            else None
        )
        per_model: dict[str, Recipe] = {}
        raw_models = raw.get("model_recipes") or {}
        if c.check(
            isinstance(raw_models, Mapping),
            f"{path}.model_recipes",
            "must map model names to recipes",
            raw_models,
        ):
            for m, r in raw_models.items():
                per_model[str(m)] = load_recipe(r, f"{path}.model_recipes.{m}")
    except InputError as exc:
        c.extend(exc)
        return None
    if per_model:
        label += " (" + ", ".join(f"{m}: {r.name}" for m, r in per_model.items()) + ")"
    if decode is not None:
        label += f" (decode: {decode.name})"
    return DesignSpec(
        name=name,
        preset=raw["preset"],
        keep=raw["keep"],
        recipe=recipe,
        recipe_name=label,
        rows=fixed.get("rows") if len(fixed) == 2 else None,
        cols=fixed.get("cols") if len(fixed) == 2 else None,
        decode_recipe=decode,
        model_recipes=per_model,
    )


def _scope(c: IssueCollector, name: str, raw: Any, path: str, designs: tuple) -> Scope | None:
    from hwmodel import list_models

    keys = ("title", "models", "phases", "seq_lens", "batches", "layers", "baselines", "paper")
    if not c.check_keys(raw, path, allowed=(*keys, "generate_tokens"), required=keys):
        return None
    gen = raw.get("generate_tokens", 0)
    c.check(
        isinstance(gen, int) and gen >= 0, f"{path}.generate_tokens", "must be an int >= 0", gen
    )
    if isinstance(raw["phases"], list) and "generate" in raw["phases"]:
        c.check(
            isinstance(gen, int) and gen >= 1,
            f"{path}.generate_tokens",
            "must be an int >= 1 when phases has generate",
            gen,
        )
    baselines = _list(c, raw["baselines"], f"{path}.baselines", str, designs)
    c.check(
        raw["layers"] in ("linear", "all"),
        f"{path}.layers",
        "must be linear or all",
        raw["layers"],
    )
    paper: dict[str, dict[str, float]] = {}
    if c.check(
        isinstance(raw["paper"], Mapping), f"{path}.paper", "must be a mapping", raw["paper"]
    ):
        for b, figs in raw["paper"].items():
            p = f"{path}.paper.{b}"
            c.check(b in baselines, p, "must be one of the scope's baselines", b)
            if c.check_keys(figs, p, allowed=_PAPER_KEYS):
                for k, v in figs.items():
                    c.check(isinstance(v, int | float) and v > 0, f"{p}.{k}", "must be > 0", v)
                paper[str(b)] = {k: float(v) for k, v in figs.items()}
    return Scope(
        name=name,
        title=str(raw["title"]),
        models=_list(c, raw["models"], f"{path}.models", str, list_models()),
        phases=_list(c, raw["phases"], f"{path}.phases", str, PHASES),
        seq_lens=_list(c, raw["seq_lens"], f"{path}.seq_lens", int),
        batches=_list(c, raw["batches"], f"{path}.batches", int),
        layers=str(raw["layers"]),
        baselines=baselines,
        paper=paper,
        generate_tokens=int(gen) if isinstance(gen, int) else 0,
    )


def _settings(c: IssueCollector, s: Mapping[str, Any], path: str) -> dict[str, Any]:
    """The global settings of a mapping (an alternative's ``set``, a config's ``settings``)."""
    settings: dict[str, Any] = {}
    for key, rule in _GLOBAL_SET_KEYS.items():
        if key not in s:
            continue
        v = s[key]
        if isinstance(rule, tuple):
            c.check(v in rule, f"{path}.{key}", f"must be one of {', '.join(rule)}", v)
        elif rule is float:
            ok = isinstance(v, int | float) and (v > 0 or (v == 0 and key.endswith("_mw")))
            c.check(ok, f"{path}.{key}", "must be > 0", v)
        else:
            c.check(isinstance(v, str), f"{path}.{key}", "must be a string", v)
        settings[key] = v
    return settings


def _alternative(c: IssueCollector, raw: Any, path: str, designs: tuple) -> Alternative | None:
    if not c.check_keys(
        raw,
        path,
        allowed=("name", "description", "source", "set"),
        required=("name", "description", "source", "set"),
    ):
        return None
    per_design: dict[str, dict[str, Any]] = {}
    s = raw["set"]
    if not c.check_keys(s, f"{path}.set", allowed=("designs", *_GLOBAL_SET_KEYS)):
        return None
    settings = _settings(c, s, f"{path}.set")
    for d, fields in (s.get("designs") or {}).items():
        p = f"{path}.set.designs.{d}"
        if c.check(d in designs, p, "unknown design", d) and c.check_keys(
            fields, p, allowed=_DESIGN_SET_KEYS
        ):
            per_design[str(d)] = dict(fields)
    return Alternative(
        name=str(raw["name"]),
        description=str(raw["description"]),
        source=str(raw["source"]),
        settings=settings,
        designs=per_design,
    )


def parse_config(data: Any, path: str = "reproduce") -> ReproduceConfig:
    """Validate a mapping (as read from YAML) into a :class:`ReproduceConfig`.

    Raises:
        InputError: one issue per unknown or missing key, unknown name and bad value, at once.
    """
    c = IssueCollector()
    top = (
        "version",
        "name",
        "subject",
        "area_budget_um2",
        "iso_area_tolerance",
        "mean",
        "designs",
        "scopes",
        "alternatives",
        "accuracy",
    )
    optional = ("assumptions", "pe_constants", "settings", "title")
    if not c.check_keys(data, path, allowed=(*top, *optional), required=top):
        c.raise_if_any()
    base_settings: dict[str, Any] = {}
    raw_settings = data.get("settings") or {}
    if c.check_keys(raw_settings, f"{path}.settings", allowed=tuple(_GLOBAL_SET_KEYS)):
        base_settings = _settings(c, raw_settings, f"{path}.settings")
    from hwmodel.pe import CONSTANT_SETS

    assumptions = data.get("assumptions", "physical")
    c.check(isinstance(assumptions, str), f"{path}.assumptions", "must be a name", assumptions)
    constants = data.get("pe_constants", "unicore")
    c.check(
        constants in CONSTANT_SETS,
        f"{path}.pe_constants",
        f"must be one of {', '.join(CONSTANT_SETS)}",
        constants,
    )
    c.check(
        data["version"] == CONFIG_VERSION,
        f"{path}.version",
        f"must be {CONFIG_VERSION}",
        data["version"],
    )
    designs: list[DesignSpec] = []
    if c.check(
        isinstance(data["designs"], Mapping) and bool(data["designs"]),
        f"{path}.designs",
        "must be a mapping of design name -> design",
        data["designs"],
    ):
        for name, raw in data["designs"].items():
            d = _design(c, str(name), raw, f"{path}.designs.{name}")
            if d is not None:
                designs.append(d)
    names = tuple(str(n) for n in data["designs"]) if isinstance(data["designs"], Mapping) else ()
    subject = data["subject"]
    c.check(subject in names, f"{path}.subject", "must name a design", subject)
    budget, tol = data["area_budget_um2"], data["iso_area_tolerance"]
    c.check(
        isinstance(budget, int | float) and budget > 0,
        f"{path}.area_budget_um2",
        "must be a number > 0",
        budget,
    )
    c.check(
        isinstance(tol, int | float) and 0 <= tol < 1,
        f"{path}.iso_area_tolerance",
        "must be a number in [0, 1)",
        tol,
    )
    c.check(
        data["mean"] in ("geometric", "arithmetic"),
        f"{path}.mean",
        "must be geometric or arithmetic",
        data["mean"],
    )
    scopes: list[Scope] = []
    if c.check(
        isinstance(data["scopes"], Mapping), f"{path}.scopes", "must be a mapping", data["scopes"]
    ):
        for name, raw in data["scopes"].items():
            s = _scope(c, str(name), raw, f"{path}.scopes.{name}", names)
            if s is not None:
                c.check(
                    subject not in s.baselines,
                    f"{path}.scopes.{name}.baselines",
                    "must not contain the subject",
                    subject,
                )
                scopes.append(s)
    alts: list[Alternative] = []
    if c.check(
        isinstance(data["alternatives"], list),
        f"{path}.alternatives",
        "must be a list",
        data["alternatives"],
    ):
        for i, raw in enumerate(data["alternatives"]):
            a = _alternative(c, raw, f"{path}.alternatives[{i}]", names)
            if a is not None:
                alts.append(a)
    acc = data["accuracy"]
    windows, paper = 0, {}
    recipes: tuple[str, ...] = ()
    if c.check_keys(
        acc,
        f"{path}.accuracy",
        allowed=("windows", "recipes", "paper"),
        required=("windows", "recipes", "paper"),
    ):
        windows = acc["windows"]
        c.check(
            isinstance(windows, int) and windows >= 0,
            f"{path}.accuracy.windows",
            "must be an int >= 0",
            windows,
        )
        recipes = _list(c, acc["recipes"], f"{path}.accuracy.recipes", str)
        for i, r in enumerate(recipes):
            try:
                load_recipe(r, f"{path}.accuracy.recipes[{i}]")
            except InputError as exc:
                c.extend(exc)
        paper = dict(acc["paper"] or {})
    c.raise_if_any()
    designs.sort(key=lambda d: d.name != subject)
    return ReproduceConfig(
        name=str(data["name"]),
        subject=subject,
        area_budget_um2=float(budget),
        iso_area_tolerance=float(tol),
        mean=data["mean"],
        designs=tuple(designs),
        scopes=tuple(scopes),
        alternatives=tuple(alts),
        accuracy_windows=int(windows),
        accuracy_recipes=tuple(recipes),
        accuracy_paper={str(k): float(v) for k, v in paper.items()},
        assumptions=str(assumptions),
        pe_constants=str(constants),
        settings=base_settings,
        title=str(data.get("title", "M-ANT reproduction")),
    )


def shipped_config_text(assumptions: str = "physical", comparison: str = "mant") -> str:
    """The text of the shipped config of a named comparison (:data:`COMPARISONS`) and, for
    ``mant``, a named assumption set (:data:`ASSUMPTION_SETS`)."""
    if comparison not in COMPARISONS:
        raise InputError.single(
            "comparison", f"must be one of {', '.join(COMPARISONS)}", comparison
        )
    own = COMPARISONS[comparison]
    if own is not None:
        return resources.files("dse.reproduce").joinpath(own).read_text(encoding="utf-8")
    if assumptions not in ASSUMPTION_SETS:
        raise InputError.single(
            "--assumptions", f"must be one of {', '.join(ASSUMPTION_SETS)}", assumptions
        )
    name = ASSUMPTION_SETS[assumptions]
    return resources.files("dse.reproduce").joinpath(name).read_text(encoding="utf-8")


def load_config(
    path: str | Path | None = None, assumptions: str = "physical", comparison: str = "mant"
) -> ReproduceConfig:
    """Load a reproduce config from a YAML file, or the shipped one of a named comparison
    (``mant``, the default, under a named assumption set, ``physical`` or ``paper``; or
    ``bitmod``) when ``path`` is None.

    Raises:
        InputError: missing file, invalid YAML or invalid content, unknown assumption set.
    """
    from mant.yaml_input import load_yaml_file, load_yaml_text

    if path is None:
        text = shipped_config_text(assumptions, comparison)
        where = COMPARISONS.get(comparison) or ASSUMPTION_SETS.get(assumptions, assumptions)
        data = load_yaml_text(text, where=where)
    else:
        p = Path(path)
        if not p.is_file():
            raise InputError.single("config", "file not found", str(path))
        data = load_yaml_file(p, what="reproduce config")
    return parse_config(data)
