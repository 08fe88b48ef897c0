"""Loading .npy / .npz / .safetensors / .gguf with clear errors."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from safetensors.numpy import save_file

from mant.errors import InputError
from mant.tensor_io import (
    LoadedTensor,
    TensorInfo,
    iter_tensors,
    load_tensor,
    tensor_info,
    tensor_names,
)


def test_npy_npz_safetensors_round_trip(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.save(tmp_path / "w.npy", a)
    np.savez(tmp_path / "m.npz", first=a, second=a * 2)
    save_file({"layer.weight": a, "layer.bias": a[0]}, str(tmp_path / "m.safetensors"))
    w = load_tensor(tmp_path / "w.npy")
    assert isinstance(w, LoadedTensor) and (w.name, w.stored) == ("w", "float32")
    assert w.source == str(tmp_path / "w.npy")
    np.testing.assert_array_equal(w.array, a)
    np.testing.assert_array_equal(load_tensor(tmp_path / "m.npz", "second").array, a * 2)
    t = load_tensor(tmp_path / "m.safetensors", "layer.weight")
    assert (t.name, t.stored) == ("layer.weight", "F32")
    np.testing.assert_array_equal(t.array, a)
    assert sorted(tensor_names(tmp_path / "m.safetensors")) == ["layer.bias", "layer.weight"]
    info = tensor_info(tmp_path / "m.safetensors")
    assert info["layer.weight"] == TensorInfo(shape=(3, 4), stored="F32", floating=True)
    assert tensor_info(tmp_path / "w.npy")["w"].shape == (3, 4)
    got = [(x.name, x.array.sum()) for x in iter_tensors(tmp_path / "m.npz")]
    assert got == [("first", a.sum()), ("second", 2 * a.sum())]


def test_gguf_tensors_are_dequantized_and_keep_their_stored_type(tmp_path):
    import gguf  # a core dependency (pyproject)
    from gguf.quants import quantize

    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 64)).astype(np.float32)
    writer = gguf.GGUFWriter(str(tmp_path / "m.gguf"), "llama")
    writer.add_tensor("plain", w)
    q = quantize(w, gguf.GGMLQuantizationType.Q8_0)
    writer.add_tensor("q8", q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert tensor_names(tmp_path / "m.gguf") == ["plain", "q8"]
    assert tensor_info(tmp_path / "m.gguf")["q8"] == TensorInfo(
        shape=(4, 64), stored="Q8_0", floating=True
    )
    plain, q8 = iter_tensors(tmp_path / "m.gguf")
    assert plain.stored == "F32" and q8.stored == "Q8_0"
    np.testing.assert_array_equal(plain.array, w)
    assert q8.array.shape == (4, 64) and q8.array.dtype == np.float32
    err = np.abs(q8.array - w).max()
    assert 0 < err < np.abs(w).max() / 100  # 8-bit blocks: close to, but not, the original


def test_bf16_safetensors_loads_as_float32(tmp_path):
    values = np.array([1.0, -2.5, 0.15625], dtype=np.float32)  # exactly representable in bf16
    payload = (values.view(np.uint32) >> 16).astype("<u2").tobytes()
    header = json.dumps({"w": {"dtype": "BF16", "shape": [3], "data_offsets": [0, len(payload)]}})
    hb = header.encode()
    (tmp_path / "b.safetensors").write_bytes(struct.pack("<Q", len(hb)) + hb + payload)
    t = load_tensor(tmp_path / "b.safetensors")
    assert t.name == "w" and t.array.dtype == np.float32 and t.stored == "BF16"
    np.testing.assert_array_equal(t.array, values)


def test_missing_name_lists_the_available_tensors(tmp_path):
    np.savez(tmp_path / "m.npz", alpha=np.ones(2), beta=np.ones(2))
    with pytest.raises(InputError, match="tensor: must name one of the tensors: alpha, beta"):
        load_tensor(tmp_path / "m.npz")
    with pytest.raises(InputError, match="tensor: must be one of: alpha, beta, got 'gamma'"):
        load_tensor(tmp_path / "m.npz", "gamma")


def test_non_float_nan_and_bad_files(tmp_path):
    np.save(tmp_path / "i.npy", np.arange(4))
    with pytest.raises(InputError, match="must hold floating-point values, got 'int64'"):
        load_tensor(tmp_path / "i.npy")
    np.save(tmp_path / "n.npy", np.array([1.0, np.inf, np.nan]))
    with pytest.raises(InputError, match="must be finite, got '1 NaN and 1 Inf values"):
        load_tensor(tmp_path / "n.npy")
    with pytest.raises(InputError, match="must be an existing file"):
        load_tensor(tmp_path / "missing.npy")
    (tmp_path / "w.txt").write_text("1 2 3")
    with pytest.raises(InputError, match=r"must end in \.npy, \.npz, \.safetensors, \.gguf"):
        load_tensor(tmp_path / "w.txt")
    (tmp_path / "broken.npy").write_bytes(b"not a numpy file")
    with pytest.raises(InputError, match="must be a readable tensor file"):
        load_tensor(tmp_path / "broken.npy")


def test_integer_safetensors_is_rejected(tmp_path):
    save_file({"ids": np.arange(4, dtype=np.int32)}, str(tmp_path / "i.safetensors"))
    with pytest.raises(InputError, match="must hold floating-point values, got 'I32'"):
        load_tensor(tmp_path / "i.safetensors")
