"""The asset cache: idempotent fetch, sha256 checks, corruption repaired, bad names."""

from __future__ import annotations

import dataclasses
import os

import pytest

from llmrun import assets
from llmrun.assets import AssetError, AssetState, asset_path, fetch, get_asset, status
from mant.errors import InputError


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MANT_DSE_CACHE", str(tmp_path / "a"))
    assert assets.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("MANT_DSE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert assets.cache_dir() == tmp_path / "xdg" / "mant-dse"


def test_fetch_is_idempotent_on_the_real_cache():
    first = fetch(log=None)  # CI fetched everything before pytest; this only verifies
    stamps = {f: os.stat(st.folder / f.name).st_mtime_ns for st in first for f in st.asset.files}
    second = fetch(log=None)
    assert [st.state for st in second] == [AssetState.OK] * len(assets.ASSETS)
    again = {f: os.stat(st.folder / f.name).st_mtime_ns for st in second for f in st.asset.files}
    assert again == stamps  # nothing re-downloaded or rewritten


def test_corrupted_file_is_detected_and_fetched_again(monkeypatch, tmp_path):
    monkeypatch.setenv("MANT_DSE_CACHE", str(tmp_path))
    fetch(["janeaustenr"], log=None)  # 1.6 MB Debian package
    rdb = asset_path("janeaustenr", "Rdata.rdb")
    assert rdb.is_relative_to(tmp_path)
    data = bytearray(rdb.read_bytes())
    data[1000] ^= 0xFF  # same size, one byte flipped: only the hash can tell
    rdb.write_bytes(bytes(data))
    (st,) = status(["janeaustenr"])
    assert st.state is AssetState.CORRUPT and st.bad_files == ("Rdata.rdb",)
    log: list[str] = []
    (st,) = fetch(["janeaustenr"], log=log.append)
    assert st.state is AssetState.OK
    assert any("corrupt" in line for line in log)
    assert rdb.read_bytes() != bytes(data)


def test_missing_file_is_reported(monkeypatch, tmp_path):
    monkeypatch.setenv("MANT_DSE_CACHE", str(tmp_path))
    (st,) = status(["minilm-l6-v2"])
    assert st.state is AssetState.MISSING
    assert set(st.bad_files) == {"model.safetensors", "config.json", "tokenizer.json"}


def test_a_download_with_the_wrong_hash_is_rejected(monkeypatch, tmp_path):
    monkeypatch.setenv("MANT_DSE_CACHE", str(tmp_path))
    real = get_asset("janeaustenr")
    bad_file = dataclasses.replace(real.files[1], sha256="0" * 64)
    monkeypatch.setitem(
        assets.ASSETS, "janeaustenr", dataclasses.replace(real, files=(real.files[0], bad_file))
    )
    with pytest.raises(AssetError, match="does not match"):
        fetch(["janeaustenr"], log=None)
    assert not (tmp_path / "assets" / "janeaustenr" / "Rdata.rdx").exists()


def test_unknown_asset_names_are_input_errors():
    with pytest.raises(InputError, match="asset: must be one of"):
        fetch(["gpt2"], log=None)
    with pytest.raises(InputError, match="file"):
        asset_path("janeaustenr", "README")


def test_minilm_weights_are_fp32():
    w = assets.minilm_weights()
    # 104 tensors, 22,713,728 parameters (real_models.md §4.3)
    assert len(w) == 104
    assert sum(a.size for a in w.values()) == 22_713_728
    assert w["encoder.layer.0.intermediate.dense.weight"].shape == (1536, 384)
    floats = {k for k, a in w.items() if a.dtype.kind == "f"}
    assert floats == set(w) - {"embeddings.position_ids"}  # an int64 buffer, not a weight
    assert all(w[k].dtype.name == "float32" for k in floats)
