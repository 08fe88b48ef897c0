"""Bring your own: a study with the user's tensors, model file, accelerator and PE files runs
from the CLI, exports, and re-evaluates; bad files are one clear message (exit 2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from dse.cli import main
from dse.study.model_source import load_model_config
from dse.study.spec import load_spec
from hwmodel import load_model
from mant.errors import InputError

_DATA = Path(__file__).resolve().parents[2] / "hwmodel"


def _inputs(tmp: Path) -> Path:
    """A study folder with every kind of own file; returns the study path."""
    rng = np.random.default_rng(0)
    w1 = (0.02 * rng.standard_normal((16, 128))).astype(np.float32)
    w2 = (0.02 * rng.standard_t(3, (8, 128))).astype(np.float32)
    np.savez(tmp / "weights.npz", q=w1, down=w2, bias=np.zeros(8, np.float32))
    np.save(tmp / "up.npy", w2[:4])
    model = {
        "name": "tiny-gqa",
        "layers": 2,
        "hidden": 256,
        "heads": 8,
        "kv_heads": 2,
        "head_dim": 32,
        "ffn": 512,
        "vocab": 1000,
        "ffn_kind": "gated",
    }
    (tmp / "model.yaml").write_text(yaml.safe_dump(model))
    pe = yaml.safe_load((_DATA / "data" / "pes" / "int8.yaml").read_text())
    pe.update(pe.pop("constants")["unicore"])  # one constant set, written at top level
    pe["name"] = "my-int4"
    del pe["native_recipe"]  # a user PE without a native recipe
    pe["modes"] = [
        {"weight_bits": 4, "act_bits": 8, "macs_per_cycle": 1.0, "energy_pj_per_mac": 0.3},
        {"weight_bits": 8, "act_bits": 8, "macs_per_cycle": 0.5, "energy_pj_per_mac": 0.6},
    ]
    (tmp / "my-pe.yaml").write_text(yaml.safe_dump(pe))
    acc = yaml.safe_load((_DATA / "presets" / "int8.yaml").read_text())
    acc["name"] = "my-base"
    (tmp / "base.yaml").write_text(yaml.safe_dump(acc))
    study = {
        "version": 1,
        "name": "byo",
        "seed": 0,
        "n_trials": 8,
        "sampler": {"name": "random"},
        "accelerator": "base.yaml",
        "workload": {"model": "model.yaml", "phase": "decode", "seq_len": 64, "batch": 2},
        "accuracy": {
            "source": "files",
            "paths": ["weights.npz", "up.npy"],
            "tensors": ["q", "up"],
        },
        "space": {
            "pe_type": ["int8", "my-pe.yaml"],
            "weight_bits": [4],
            "weight_format": ["int{bits}", "mant-unicore16"],
            "kv_bits": [8],
            "kv_format": ["int{bits}"],
            "rows": [8, 16],
            "cols": [8, 16],
            "clock_mhz": [500, 1000],
            "dram_bw_bytes_per_cycle": [32, 64.0],
            "dram_energy_scale": [0.5, 1.0],
        },
        "objectives": ["weight_rel_mse", "energy_pj", "latency_s"],
    }
    path = tmp / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def test_a_custom_study_runs_exports_and_re_evaluates(tmp_path, capsys):
    study = _inputs(tmp_path)
    out, to = tmp_path / "run", tmp_path / "designs"
    assert main(["run", str(study), "--out", str(out), "--no-report", "--no-progress"]) == 0
    assert main(["export", "--out", str(out), "--pareto", "--to", str(to)]) == 0
    folders = sorted(to.iterdir())
    assert folders
    seen_pes = set()
    for folder in folders:
        meta = yaml.safe_load((folder / "design.yaml").read_text())
        recorded, design = meta["recorded"], meta["design"]
        seen_pes.add(Path(design["pe_type"]).name)
        acc = yaml.safe_load((folder / "accelerator.yaml").read_text())
        assert acc["clock_hz"] == design["clock_mhz"] * 1e6
        assert acc["dram"]["bw_bytes_per_cycle"] == design["dram_bw_bytes_per_cycle"]
        capsys.readouterr()
        args = ["hw", "llm", "--accelerator", str(folder / "accelerator.yaml"), "--json"]
        args += ["--model", str(tmp_path / "model.yaml"), "--phase", "decode"]
        assert main([*args, "--seq-len", "64", "--batch", "2"]) == 0
        hw = json.loads(capsys.readouterr().out)
        assert hw["energy_pj"] == recorded["energy_pj"]
        assert hw["latency_s"] == recorded["latency_s"]
        assert main(["evaluate", str(folder), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["metrics"] == recorded
        # the weight error of the recorded design is the mean over the named tensors
        assert main(["quantize", str(tmp_path / "up.npy"), "--json", *_quantize_args(folder)]) == 0
        up = json.loads(capsys.readouterr().out)["rel_mse"]
        args = [str(tmp_path / "weights.npz"), "--tensor", "q", "--json", *_quantize_args(folder)]
        assert main(["quantize", *args]) == 0
        q = json.loads(capsys.readouterr().out)["rel_mse"]
        assert recorded["weight_rel_mse"] == pytest.approx((up + q) / 2, rel=1e-12)
    assert len(list((out / "cache").rglob("*"))) > 0


def _quantize_args(folder: Path) -> list[str]:
    w = yaml.safe_load((folder / "weights.yaml").read_text())
    cands = w["candidates"]
    out = ["--candidates", cands if isinstance(cands, str) else json.dumps(cands)]
    out += ["--scale-format", str(w["scale_format"]), "--granularity", str(w["granularity"])]
    if w.get("group_size"):
        out += ["--group-size", str(w["group_size"])]
    return out


def test_model_shapes_from_yaml_config_json_and_gguf(tmp_path):
    cfg = {
        "model_type": "llama",
        "num_hidden_layers": 32,
        "hidden_size": 4096,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "intermediate_size": 14336,
        "vocab_size": 128256,
    }
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    m = load_model_config(str(tmp_path / "config.json"))
    assert (m.kv_heads, m.head_dim, m.ffn, m.ffn_kind) == (8, 128, 14336, "gated")
    assert (m.layers, m.hidden, m.vocab) == (32, 4096, 128256)
    ref = load_model("llama-3-8b")
    assert (m.heads, m.kv_heads, m.head_dim, m.ffn) == (
        ref.heads,
        ref.kv_heads,
        ref.head_dim,
        ref.ffn,
    )
    shipped = load_model_config(str(_DATA / "data" / "models" / "smollm2-135m.yaml"))
    assert shipped == load_model("smollm2-135m")


def test_gguf_header_gives_the_shipped_smollm2_shape():
    from llmrun.assets import asset_path

    g = load_model_config(str(asset_path("smollm2-135m")))
    ref = load_model("smollm2-135m")
    fields = ("layers", "hidden", "heads", "kv_heads", "head_dim", "ffn", "vocab")
    assert [getattr(g, f) for f in fields] == [getattr(ref, f) for f in fields]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s, t: s["accuracy"].update(paths=["missing.npz"]), "must be an existing tensor"),
        (lambda s, t: s["accuracy"].update(tensors=["nope"]), "tensors[0]: must name a 2-D+"),
        (lambda s, t: s["workload"].update(model="gone.yaml"), "must be an existing model file"),
        (lambda s, t: s.update(accelerator="nobase.yaml"), "accelerator"),
        (lambda s, t: s["space"].update(pe_type=["nope.yaml"]), "space.pe_type[0]"),
        (lambda s, t: _bad_model(s, t), "heads: must be an int in 1..65536"),
        (lambda s, t: _arch(s, t), "must be a decoder-only transformer"),
    ],
)
def test_bad_own_files_are_one_clear_message(tmp_path, capsys, change, message):
    study = _inputs(tmp_path)
    data = yaml.safe_load(study.read_text())
    change(data, tmp_path)
    study.write_text(yaml.safe_dump(data))
    assert main(["run", str(study), "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def _bad_model(study: dict, tmp: Path) -> None:
    m = yaml.safe_load((tmp / "model.yaml").read_text())
    m["heads"] = -8
    (tmp / "bad.yaml").write_text(yaml.safe_dump(m))
    study["workload"]["model"] = "bad.yaml"


def _arch(study: dict, tmp: Path) -> None:
    (tmp / "config.json").write_text(
        json.dumps({"model_type": "t5-encoder", "is_encoder_decoder": True})
    )
    study["workload"]["model"] = "config.json"


def test_hw_llm_takes_a_model_file(tmp_path, capsys):
    shutil.copy(_DATA / "data" / "models" / "llama-2-7b.yaml", tmp_path / "mine.yaml")
    args = ["hw", "llm", "--accelerator", "mant", "--phase", "decode", "--json"]
    assert main([*args, "--model", str(tmp_path / "mine.yaml")]) == 0
    mine = json.loads(capsys.readouterr().out)
    assert main([*args, "--model", "llama-2-7b"]) == 0
    preset = json.loads(capsys.readouterr().out)
    assert mine["energy_pj"] == preset["energy_pj"] and mine["cycles"] == preset["cycles"]
    assert main([*args, "--model", str(tmp_path / "missing.yaml")]) == 2
    assert "--model: must be an existing model file" in capsys.readouterr().err


def test_relative_paths_are_relative_to_the_study_file(tmp_path):
    spec = load_spec(_inputs(tmp_path))
    assert spec.workload.model == str(tmp_path / "model.yaml")
    assert spec.accuracy.paths == (str(tmp_path / "weights.npz"), str(tmp_path / "up.npy"))
    with pytest.raises(InputError):
        load_model_config("no-such-model")
