"""The reproduce configuration's frozen values: designs, scopes, alternatives, the config.

A leaf module: :mod:`dse.reproduce.config` parses YAML into these, and every other module of the
package imports them from there (or here); this module imports none of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mant.recipe import Recipe

__all__ = ["Alternative", "DesignSpec", "ReproduceConfig", "Scope"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DesignSpec:
    """One accelerator: its hwmodel preset, the array side the iso-area rule keeps, its recipe.

    Attributes:
        name: Label (``mant``, ``tender`` ...).
        preset: hwmodel preset (PE, array, buffers, DRAM, clock).
        keep: ``rows`` or ``cols``.
        recipe: The quantization recipe (sets the PE mode and the traffic).
        recipe_name: The recipe as written in the config (with its overrides).
        rows, cols: A fixed array (both set: the design is not resized; the iso-area table
            shows its share of the budget), or None.
        decode_recipe: The recipe of decode steps, if not ``recipe`` (BitMoD's generative
            task runs W3 where its prefill runs W4).
        model_recipes: Model -> the recipe the design runs on that model instead (BitMoD's
            simulator hard-codes ANT's and OliVe's weight widths per model).
    """

    name: str
    preset: str
    keep: str
    recipe: Recipe
    recipe_name: str
    rows: int | None = None
    cols: int | None = None
    decode_recipe: Recipe | None = None
    model_recipes: Mapping[str, Recipe] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    """One table: a case grid, the baselines compared and the paper's figures for each.

    Attributes:
        name: ``linear_layers``, ``whole_model`` or ``grid``.
        title: One line for the report.
        models, phases, seq_lens, batches: The case grid.
        layers: ``linear`` (projections only) or ``all`` (attention and LM head too).
        baselines: Designs M-ANT is compared with.
        paper: Baseline -> published figure name (``speedup_avg`` ...) -> value.
        generate_tokens: Decode steps of a ``generate`` case (0: the scope has none).
    """

    name: str
    title: str
    models: tuple[str, ...]
    phases: tuple[str, ...]
    seq_lens: tuple[int, ...]
    batches: tuple[int, ...]
    layers: str
    baselines: tuple[str, ...]
    paper: Mapping[str, Mapping[str, float]]
    generate_tokens: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Alternative:
    """A named alternative to the default assumptions.

    Attributes:
        name: Dotted name (``tender_kv.unicore_int4``).
        description: What changes.
        source: Why the alternative is plausible.
        settings: Global settings (``preload`` ...), as plain values.
        designs: Design name -> changed fields (``recipe``, ``acts``, ``kv``, ``pe_area_um2``,
            ``pe_energy_scale``).
    """

    name: str
    description: str
    source: str
    settings: Mapping[str, Any]
    designs: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReproduceConfig:
    """A validated reproduce configuration (see ``paper.yaml`` for every key).

    Attributes:
        name, subject, area_budget_um2, iso_area_tolerance, mean: As in the YAML.
        designs: Every design, subject first.
        scopes: The tables, in file order.
        alternatives: The named alternatives.
        accuracy_windows: SmolLM2 perplexity windows per recipe (0 skips).
        accuracy_recipes: Recipe names of the accuracy table.
        accuracy_paper: Recipe name -> the paper's LLaMA-7B perplexity.
        assumptions: The named assumption set (``physical``, ``paper`` or a file's own name).
        pe_constants: The PE constant set every design takes (``unicore``, ``paper`` or
            ``bitmod``).
        settings: Global settings every design takes before any alternative (the keys of an
            alternative's ``set``: ``dram_bw_bytes_per_cycle``, ``dram_pj_per_bit`` ...).
        title: One line naming the comparison (report heading).
    """

    name: str
    subject: str
    area_budget_um2: float
    iso_area_tolerance: float
    mean: str
    designs: tuple[DesignSpec, ...]
    scopes: tuple[Scope, ...]
    alternatives: tuple[Alternative, ...]
    accuracy_windows: int
    accuracy_recipes: tuple[str, ...]
    accuracy_paper: Mapping[str, float]
    assumptions: str = "physical"
    pe_constants: str = "unicore"
    settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    title: str = "M-ANT reproduction"

    def design(self, name: str) -> DesignSpec:
        return next(d for d in self.designs if d.name == name)

    def scope(self, name: str) -> Scope:
        return next(s for s in self.scopes if s.name == name)
