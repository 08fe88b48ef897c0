"""The ``files`` accuracy source: the user's own weight tensors.

``accuracy: {source: files, paths: [FILE, ...], tensors: [NAME, ...]}`` scores each design by the
quantization error of those tensors (``weight_rel_mse``, ``weight_sqnr_db``: means over the
tensors), exactly as ``mant-dse quantize FILE --tensor NAME`` computes it for one tensor.

Files: ``.npy`` (one tensor, named after the file stem), ``.npz`` and ``.safetensors`` (named
tensors; bf16 reads as float32, :mod:`mant.tensor_io`) and ``.gguf`` (tensors dequantized with
the ``gguf`` package; ``blk.0.attn_q.weight`` style names). ``tensors`` picks tensors by name in
any of the files; without it every floating-point tensor of two or more dimensions is used. A
tensor is grouped along its last axis (the reduction dimension of a weight (out, in)); more than
two dimensions are folded into rows. The source has no K/V: objectives may use the weight
metrics only.

Reading and checking the files (at parse, :mod:`dse.study.user_files`) is separate from scoring
them (here).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dse.evaluate.tensor_suite import Activations, NamedTensor, TensorSuite, content_id
from dse.study.user_files import _calibration_entries, _selection, load_named
from mant.errors import InputError

if TYPE_CHECKING:
    from dse.study.spec_types import AccuracySpec

__all__ = ["files_suite"]


def files_suite(spec: AccuracySpec) -> TensorSuite:
    """A :class:`dse.evaluate.accuracy.TensorSuite` over the user's tensors (no K/V).

    Each tensor's projection kind comes from its name (:mod:`dse.study.tensor_kinds`); activations
    from ``accuracy.calibration`` (used for both output-MSE selection and ``output_rel_mse``).
    """
    from dse.study.tensor_kinds import projection_kind

    weights = []
    for path, name in _selection(spec):
        arr = load_named(path, name)
        weights.append(
            NamedTensor(
                id=content_id(f"file.{Path(path).name}:{name}", arr),
                data=arr,
                kind=projection_kind(name),
            )
        )
    entries = _calibration_entries(spec)
    by_name = dict(zip((n for _, n in _selection(spec)), weights, strict=True))

    def activations() -> dict[str, Activations]:
        from mant.output_select import check_calibration

        out = {}
        for weight, (path, tensor) in entries.items():
            t = by_name[weight]
            x = load_named(path, tensor)
            try:
                x = check_calibration(x, t.data.shape[1])
            except InputError as exc:
                rule = exc.issues[0].rule if exc.issues else str(exc)
                raise InputError.single(
                    f"accuracy.calibration.{weight}", rule, exc.issues[0].value
                ) from None
            out[t.id] = Activations(
                id=content_id(f"file.{Path(path).name}:{tensor}", x), calibration=x
            )
        return out

    return TensorSuite(
        tuple(weights),
        (),
        activations=activations if entries else None,
        by_kind=spec.by_kind,
        output_error=spec.output_error,
    )
