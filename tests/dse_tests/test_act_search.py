"""Activation width and format searchable per projection kind (issue 21 point 1).

``act_bits.<kind>`` / ``act_format`` / ``act_format.<kind>`` / ``act_group_size`` flow into the
recipe (``Recipe.act_kinds``), the output error (each layer's input by its own kind's spec), the
hardware (each GEMM's A operand at its kind's width: ``Precision.act_of``), the results frame and
the export.
"""

from __future__ import annotations

import copy

import pytest

from dse.study.design import Design, design_from_values, ignored_params
from dse.study.spec import parse_spec
from hwmodel import Precision
from mant.errors import InputError
from mant.recipe import Recipe

# real MiniLM weights of every projection kind on their own activations (as test_act_error.py)
_STUDY = {
    "version": 1,
    "name": "acts-down",
    "seed": 0,
    "n_trials": 4,
    "sampler": {"name": "grid"},
    "workload": {"model": "smollm2-135m", "phase": "decode", "seq_len": 128, "batch": 1},
    "accuracy": {"source": "tensors", "n_tensors": 1},
    "space": {
        "pe_type": ["mant"],
        "weight_format": ["int{bits}"],
        "weight_bits": [4],
        "group_size": [64],
        "kv_bits": [4],
        "kv_format": ["int{bits}"],
        "act_bits": [8],
        "act_bits.down": [4, 8],
        "act_format": ["int{bits}", "mxfp4"],
        "rows": [8],
        "cols": [8],
    },
    "objectives": ["output_rel_mse", "latency_s"],
}


def _design(**per_kind):
    return Design(
        pe_type="mant",
        group_size=64,
        weight_bits=4,
        weight_format="int{bits}",
        kv_bits=4,
        kv_format="int{bits}",
        act_bits=8,
        rows=8,
        cols=8,
        dataflow="ws",
        per_kind=per_kind or None,
    )


@pytest.fixture(scope="module")
def down_study(tmp_path_factory):
    from dse.results.frame import load_frame
    from dse.run.runner import run_study

    out = tmp_path_factory.mktemp("acts") / "out"
    run_study(parse_spec(copy.deepcopy(_STUDY)), out_dir=out, progress=False, report=False)
    frame = load_frame(out)
    return out, frame[frame["state"] == "COMPLETE"]


def test_a4_down_designs_have_a_larger_output_error_than_their_a8_twins(down_study):
    _, frame = down_study
    # mxfp4 has its own width: act_bits.down 4 and 8 are one design (the second a duplicate)
    assert sorted(frame["param.act_format"]) == ["int{bits}", "int{bits}", "mxfp4"]
    ints = frame[frame["param.act_format"] == "int{bits}"]
    by = {int(r["param.act_bits.down"]): r for _, r in ints.iterrows()}
    assert sorted(by) == [4, 8]
    e4, e8 = (float(by[b]["metric.output_rel_mse"]) for b in (4, 8))
    assert e4 > e8, (e4, e8)
    # the weights are the same: only the output error sees the activations
    assert by[4]["metric.weight_rel_mse"] == by[8]["metric.weight_rel_mse"]
    print(
        f"output_rel_mse (MiniLM by kind, W4 INT g64, A8 elsewhere): A4-down {e4:.4g}, "
        f"A8-down {e8:.4g}"
    )


def test_the_down_input_width_changes_the_down_projection_cost_only():
    from hwmodel import evaluate_gemm, llm_workload, load_accelerator

    acc = load_accelerator("mant")
    wl = llm_workload("smollm2-135m", phase="decode", seq_len=128, batch=1)
    p8, p4 = (Precision.from_recipe(_design(**{"act_bits.down": b}).recipe) for b in (8, 4))
    assert p4.act_of(next(g for g in wl.gemms if g.name == "down_proj")) == (4, 4.25)
    changed = set()
    for g in wl.gemms:
        c8, c4 = evaluate_gemm(acc, g, p8), evaluate_gemm(acc, g, p4)
        if (c8.cycles, c8.energy_pj) != (c4.cycles, c4.energy_pj):
            changed.add(g.name)
    assert changed == {"down_proj"}


def test_the_results_frame_and_the_export_round_trip(down_study, tmp_path):
    import yaml

    from dse.cli import main
    from dse.export import evaluate_exported
    from dse.study.recipe_io import load_recipe
    from hwmodel.workload import Gemm

    out, frame = down_study
    to = tmp_path / "designs"
    trials = [str(int(t)) for t in frame["trial"]]
    assert main(["export", "--out", str(out), "--trial", *trials, "--to", str(to)]) == 0
    for folder in sorted(p for p in to.iterdir() if p.is_dir()):
        meta = yaml.safe_load((folder / "design.yaml").read_text())
        recipe = load_recipe(str(folder / "recipe.yaml"))
        bits = meta["design"]["per_kind"]["act_bits.down"]
        if meta["design"].get("act_format", "int{bits}") == "int{bits}":
            assert str(recipe.activation("down")) == f"int{bits}:g64"
            assert str(recipe.activation("q")) == "int8:g64"
        else:  # mxfp4 everywhere: one activation quantizer
            assert recipe.act_kinds == () and str(recipe.activations).startswith("mxfp4")
        down = Gemm(m=1, n=8, k=8, name="down_proj")
        assert Precision.from_recipe(recipe).act_of(down)[0] == bits
        again = evaluate_exported(folder)
        for metric, value in meta["recorded"].items():
            assert again[metric] == pytest.approx(value, rel=1e-12), (folder.name, metric)


def test_a_uniform_recipe_is_written_as_before_and_per_kind_inputs_round_trip():
    from mant.recipes import named_recipe

    r = named_recipe("mant-hpca25")
    assert r.act_kinds == () and "default" not in str(r.to_dict()["activations"])
    d = _design(**{"act_bits.down": 4, "act_format.up": "mxfp4"}).recipe
    out = d.to_dict()["activations"]
    assert set(out) == {"default", "down", "up"}
    assert Recipe.from_dict(d.to_dict()) == d
    assert str(d.activation("up")) == "mxfp4:g32:scale=e8m0"
    p = Precision.from_recipe(d)
    assert Precision.from_dict(p.to_dict()) == p
    # a kind whose input equals the default has no entry (one recipe, one cache key)
    same = _design(**{"act_bits.down": 8}).recipe
    assert same == _design().recipe and "act_kinds" not in str(same.to_dict())


def test_a_format_with_its_own_width_makes_act_bits_one_design():
    spec = parse_spec(
        {
            **copy.deepcopy(_STUDY),
            "space": {**_STUDY["space"], "act_bits": [4, 8, 16], "act_format": ["nvfp4"]},
        }
    )
    values = {"act_bits.down": 8, "act_format": "nvfp4"}
    designs = {design_from_values(spec.space, {**values, "act_bits": b}).key for b in (4, 8)}
    assert len(designs) == 1
    fp = design_from_values(spec.space, {**values, "act_bits": 16, "act_bits.down": 16})
    assert fp.recipe.activations is None
    # baseline PEs run their own activation format: act_format is not theirs to vary
    assert "act_format" in ignored_params({"pe_type": "int8", "act_bits": 8}, spec.space)
    assert "act_format" not in ignored_params({"pe_type": "mant", "act_bits": 8}, spec.space)


def test_a_pe_without_a_mode_for_one_kinds_input_width_names_the_gemm():
    from dse.evaluate.hardware import HardwareModel

    spec = parse_spec(copy.deepcopy(_STUDY))
    design = _design(**{"act_bits.down": 4}).with_param("pe_type", "int8")
    hw = HardwareModel(spec.workload)
    with pytest.raises(InputError) as err:
        hw.check_modes(design, Precision.from_recipe(design.recipe))
    text = str(err.value)
    assert text.startswith("act_bits.down: ") and "down_proj" in text and "A4" in text


@pytest.mark.parametrize(
    ("space", "expected"),
    [
        ({"act_bits.head": [4]}, "space.act_bits.head: unknown key"),
        ({"act_bits.down": [1]}, "space.act_bits.down[0]: must be an int in [2, 16]"),
        ({"act_format": ["bogus{bits}"]}, "space.act_format[0]: "),
        ({"act_format": ["mant-unicore16"]}, "space.act_format[0]: must be one format, not a set"),
        (
            {"act_format.down": ["bitmod_fp4"]},
            "space.act_format.down[0]: cannot quantize activations in real time (BitMoD",
        ),
        ({"act_format": ["m2xfp4_w"]}, "space.act_format[0]: cannot quantize activations"),
        ({"act_group_size": [0]}, "space.act_group_size[0]: must be an int in [1, 4096] or null"),
    ],
)
def test_bad_values_give_one_line_naming_the_field(space, expected):
    data = copy.deepcopy(_STUDY)
    data["space"].update(space)
    with pytest.raises(InputError) as err:
        parse_spec(data)
    lines = str(err.value).splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), lines


def test_the_perplexity_source_refuses_per_kind_activations():
    data = copy.deepcopy(_STUDY)
    data["accuracy"] = {"source": "perplexity", "ppl_windows": 1}
    data["objectives"] = ["ppl", "latency_s"]
    with pytest.raises(InputError) as err:
        parse_spec(data)
    assert str(err.value).startswith("space.act_bits.down: the perplexity source runs one")


def test_the_cli_reports_a_bad_act_format_in_one_line_with_exit_2(tmp_path, capsys):
    import yaml

    from dse.cli import main

    data = copy.deepcopy(_STUDY)
    data["space"]["act_format"] = ["razer_nvfp4"]
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["run", str(path), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [err[0]] and "space.act_format[0]: cannot quantize" in err[0], err
    assert not any("Traceback" in line for line in err)


def test_the_forward_pass_refuses_per_kind_inputs_instead_of_dropping_them():
    from llmrun.quantizers import act_hooks

    r = Recipe.from_dict({"name": "a", "activations": {"default": "int8:g64", "down": "int4"}})
    with pytest.raises(InputError) as err:
        act_hooks(r)
    assert str(err.value).startswith("recipe.activations: the forward pass runs one quantizer")
    assert act_hooks(Recipe.from_dict({"name": "b", "activations": "int8:g64"})) is not None
