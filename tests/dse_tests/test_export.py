"""Export round trip: exported files load in hwmodel / mant and re-evaluate to the same values."""

from __future__ import annotations

import pytest
import yaml

from dse.cli import main
from dse.export import evaluate_exported
from dse.runner import run_study
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
