"""Export round trip: exported files load in hwmodel / mant and re-evaluate to the same values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dse.cli import main
from dse.export import evaluate_exported
from dse.run.runner import run_study
from hwmodel import load_accelerator
from mant.quantize import QuantConfig


def test_pareto_designs_round_trip(small_spec, tmp_path):
    out, to = tmp_path / "run", tmp_path / "designs"
    run_study(small_spec, out_dir=out, progress=False, report=False)
    assert main(["export", "--out", str(out), "--pareto", "--to", str(to)]) == 0
    folders = sorted(p for p in to.iterdir() if p.is_dir())
    assert folders
    for folder in folders:
        acc = load_accelerator(folder / "accelerator.yaml")
        design = yaml.safe_load((folder / "design.yaml").read_text())
        assert (acc.array.rows, acc.array.cols) == (
            design["design"]["rows"],
            design["design"]["cols"],
        )
        cfg = QuantConfig.from_dict(yaml.safe_load((folder / "weights.yaml").read_text()))
        assert cfg.group_size == design["design"]["group_size"]
        again = evaluate_exported(folder)
        for metric, value in design["recorded"].items():
            assert again[metric] == pytest.approx(value, rel=1e-12), (folder.name, metric)


def test_export_single_trial_and_bad_trial_number(small_spec, tmp_path, capsys):
    out = tmp_path / "run"
    run_study(small_spec, out_dir=out, n_trials=3, progress=False, report=False)
    assert main(["export", "--out", str(out), "--trial", "1", "--to", str(tmp_path / "d")]) == 0
    assert (tmp_path / "d" / "trial-00001" / "accelerator.yaml").exists()
    assert main(["export", "--out", str(out), "--trial", "99", "--to", str(tmp_path / "d")]) == 2
    assert "error: --trial: must be a COMPLETE trial" in capsys.readouterr().err


def test_export_from_a_storage_url(small_spec, tmp_path):
    out = tmp_path / "run"
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    run_study(small_spec, out_dir=out, storage_url=url, n_trials=3, progress=False, report=False)
    to = tmp_path / "d"
    code = main(["export", "--storage", url, "--study", "small", "--trial", "0", "--to", str(to)])
    assert code == 0
    assert evaluate_exported(to / "trial-00000")["latency_s"] > 0


_LLM_STUDY = {
    "version": 1,
    "name": "tiny-llm",
    "seed": 0,
    "n_trials": 4,
    "sampler": {"name": "random"},
    "workload": {"model": "smollm2-135m", "phase": "decode", "seq_len": 128, "batch": 1},
    "accuracy": {"source": "synthetic", "n_tensors": 2, "tensor_rows": 16, "tensor_cols": 256},
    "space": {
        "pe_type": ["mant", "int8"],
        "kv_bits": [4, 8],
        "kv_format": ["int{bits}"],
        "rows": [8, 16],
        "cols": [8, 16],
    },
    "objectives": ["weight_rel_mse", "energy_pj"],
}


def test_an_export_is_the_design_for_every_standalone_command(tmp_path, capsys):
    import json

    import yaml

    from dse.study.recipe_io import load_recipe
    from hwmodel import Precision, load_accelerator

    study = tmp_path / "s.yaml"
    study.write_text(yaml.safe_dump(_LLM_STUDY))
    out, to = tmp_path / "run", tmp_path / "designs"
    assert main(["run", str(study), "--out", str(out), "--no-report", "--no-progress"]) == 0
    from dse.results.frame import load_frame

    done = load_frame(out).query("state == 'COMPLETE'")["trial"].tolist()
    assert len(done) >= 2
    for n in done:
        assert main(["export", "--out", str(out), "--trial", str(n), "--to", str(to)]) == 0
        folder = to / f"trial-{n:05d}"
        recorded = yaml.safe_load((folder / "design.yaml").read_text())["recorded"]
        acc = load_accelerator(folder / "accelerator.yaml")
        # the file carries the design's precision, which is the recipe's
        assert acc.default_precision == Precision.from_recipe(
            load_recipe(str(folder / "recipe.yaml"))
        )
        assert acc.default_precision.kv_bits_per_element == recorded["kv_bits_per_element"]
        capsys.readouterr()
        args = ["hw", "llm", "--accelerator", str(folder / "accelerator.yaml")]
        args += ["--model", "smollm2-135m", "--phase", "decode", "--seq-len", "128", "--json"]
        assert main(args) == 0
        hw = json.loads(capsys.readouterr().out)
        for m in ("energy_pj", "cycles", "latency_s", "area_um2", "utilization"):
            assert hw[m] == recorded[m], (n, m)
        assert main(["evaluate", str(folder), "--json"]) == 0
        again = json.loads(capsys.readouterr().out)
        assert again["metrics"] == recorded and again["recorded"] == recorded
    # on another workload: the same design, other costs
    assert main(["evaluate", str(folder), "--seq-len", "1024", "--json"]) == 0
    longer = json.loads(capsys.readouterr().out)["metrics"]
    assert (
        longer["energy_pj"] > recorded["energy_pj"] and longer["area_um2"] == recorded["area_um2"]
    )


def test_exported_design_stores_no_absolute_model_path_and_hw_llm_uses_it(
    small_spec_dict, tmp_path, capsys
):
    import shutil

    import yaml as _yaml

    from dse.report.info import context_info
    from dse.results.frame import load_frame
    from dse.study.spec import load_spec

    models = Path(__file__).resolve().parents[2] / "hwmodel" / "data" / "models"
    shutil.copy(models / "smollm2-135m.yaml", tmp_path / "mine.yaml")
    d = {**small_spec_dict, "n_trials": 2}
    d["workload"] = {"model": "mine.yaml", "phase": "decode", "seq_len": 64, "batch": 2}
    (tmp_path / "s.yaml").write_text(_yaml.safe_dump(d))
    run, to = tmp_path / "run", tmp_path / "designs"
    assert main(["run", str(tmp_path / "s.yaml"), "--out", str(run), "--no-progress"]) == 0
    assert main(["export", "--out", str(run), "--to", str(to), "--trial", "0"]) == 0
    folder = to / "trial-00000"
    exported = [p.resolve() for p in to.rglob("*")]
    assert exported and all(p.is_relative_to(to.resolve()) for p in exported)  # never outside
    meta = _yaml.safe_load((folder / "design.yaml").read_text())
    assert meta["workload"]["model"] == "../../mine.yaml"  # relative to the design folder
    assert str(tmp_path) not in (folder / "design.yaml").read_text()
    assert evaluate_exported(folder)  # resolves it again
    spec = load_spec(tmp_path / "s.yaml")
    workload = dict(context_info(load_frame(run), spec).items)["workload"]
    assert workload.startswith("mine.yaml (model file), decode") and str(tmp_path) not in workload
    capsys.readouterr()
    assert main(["hw", "llm", "--accelerator", str(folder / "accelerator.yaml"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["phase"], out["seq_len"], out["batch"]) == ("decode", 64, 2)
    assert out["model"].endswith("mine.yaml")
