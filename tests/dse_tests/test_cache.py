"""The quantization cache: content keys, disk persistence, atomic writes across processes."""

from __future__ import annotations

import json
import multiprocessing

from dse.evaluate.cache import QuantCache, cache_key


def test_key_ignores_mapping_order_and_sees_every_value():
    a = cache_key({"tensor": "t", "config": {"g": 64, "c": "int4"}})
    assert a == cache_key({"config": {"c": "int4", "g": 64}, "tensor": "t"})
    assert a != cache_key({"tensor": "t", "config": {"g": 32, "c": "int4"}})
    assert a != cache_key({"tensor": "u", "config": {"g": 64, "c": "int4"}})


def test_memory_then_disk_then_new_process_state(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"rel_mse": 0.25}

    parts = {"tensor": "t", "config": {"g": 64}}
    first = QuantCache(tmp_path)
    assert first.get_or_compute(parts, compute) == {"rel_mse": 0.25}
    assert first.get_or_compute(parts, compute) == {"rel_mse": 0.25}
    assert (first.stats.misses, first.stats.memory_hits) == (1, 1)
    second = QuantCache(tmp_path)  # a later run: served from disk
    assert second.get_or_compute(parts, compute) == {"rel_mse": 0.25}
    assert second.stats.disk_hits == 1 and len(calls) == 1
    assert not list(tmp_path.rglob("*.tmp"))


def test_corrupt_entry_is_recomputed(tmp_path):
    parts = {"tensor": "t"}
    QuantCache(tmp_path).get_or_compute(parts, lambda: {"x": 1.0})
    (entry,) = tmp_path.rglob("*.json")
    entry.write_text("{not json")
    fresh = QuantCache(tmp_path)
    assert fresh.get_or_compute(parts, lambda: {"x": 2.0}) == {"x": 2.0}
    assert json.loads(entry.read_text())["value"] == {"x": 2.0}


def _stored(tmp_path, parts, value):
    QuantCache(tmp_path).get_or_compute(parts, lambda: value)
    (entry,) = tmp_path.rglob("*.json")
    return entry


def test_entry_proves_its_key_and_fields_or_is_recomputed(tmp_path):
    parts = {"tensor": "t"}
    entry = _stored(tmp_path, parts, {"rel_mse": 0.5, "sqnr_db": 3.0})
    good = json.loads(entry.read_text())
    bad_entries = [
        {},  # empty
        {"key": good["key"], "value": {}},  # no fields
        {"key": good["key"], "value": {"rel_mse": 0.5}},  # a field missing
        {"key": good["key"], "value": {"rel_mse": float("nan"), "sqnr_db": 3.0}},
        {"key": good["key"], "value": {"rel_mse": "0.5", "sqnr_db": 3.0}},
        {"key": cache_key({"tensor": "other"}), "value": good["value"]},  # another key's entry
        {"rel_mse": 0.5, "sqnr_db": 3.0},  # the old format, without its key
    ]
    for bad in bad_entries:
        entry.write_text(json.dumps(bad))
        fresh = QuantCache(tmp_path)
        fields = ("rel_mse", "sqnr_db")
        got = fresh.get_or_compute(parts, lambda: {"rel_mse": 9.0, "sqnr_db": 1.0}, fields)
        assert got == {"rel_mse": 9.0, "sqnr_db": 1.0}, bad
        assert (fresh.stats.misses, fresh.stats.disk_hits) == (1, 0)
    # a lossless result (infinite SQNR) is a valid entry
    entry.write_text(json.dumps({"key": good["key"], "value": {"rel_mse": 0.0, "sqnr_db": "x"}}))
    entry.write_text(entry.read_text().replace('"x"', "Infinity"))
    fresh = QuantCache(tmp_path)
    assert fresh.get_or_compute(parts, dict, ("rel_mse", "sqnr_db"))["sqnr_db"] == float("inf")


def test_a_cache_folder_that_is_a_file_is_bypassed_with_a_warning(tmp_path):
    import pytest

    folder = tmp_path / "cache"
    folder.write_text("not a folder")
    with pytest.warns(UserWarning, match="is a file"):
        cache = QuantCache(folder)
    assert cache.get_or_compute({"t": 1}, lambda: {"x": 1.0}) == {"x": 1.0}
    assert folder.read_text() == "not a folder"
    # a folder that becomes unwritable later: one warning, the run goes on in memory
    sub = tmp_path / "ro"
    cache = QuantCache(sub)
    sub.write_text("replaced by a file")
    with pytest.warns(UserWarning, match="cannot write"):
        assert cache.get_or_compute({"t": 2}, lambda: {"x": 2.0}) == {"x": 2.0}
    assert cache.get_or_compute({"t": 3}, lambda: {"x": 3.0}) == {"x": 3.0}


def _writer(folder: str, worker: int, n: int) -> None:
    cache = QuantCache(folder)
    for i in range(n):
        # every worker writes the same keys with the same values, as studies sharing a folder do
        cache.put(cache_key({"k": i % 5}), {"value": float(i % 5), "pad": "x" * 2000})


def test_processes_sharing_a_folder_never_leave_torn_files(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, 200)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    entries = list(tmp_path.rglob("*.json"))
    assert len(entries) == 5
    for e in entries:
        data = json.loads(e.read_text())
        assert data["key"] == e.stem and data["value"]["value"] in {0.0, 1.0, 2.0, 3.0, 4.0}
    assert not list(tmp_path.rglob("*.tmp"))
