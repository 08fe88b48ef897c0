"""Hadamard rotations of a linear layer's input dimension (QuaRot, SpinQuant, MR-GPTQ).

A linear layer computes ``X Wᵀ``. For an orthogonal ``R``, ``(X R)(W R)ᵀ = X Wᵀ``: rotating the
input dimension of both the weight and the activations leaves the output unchanged while it
spreads outliers across the rotated block, so a group quantizer sees flatter groups. The
normalised Sylvester-Hadamard matrix ``H_b`` (size ``b`` a power of two) is symmetric and
orthogonal, ``H_b H_b = I``, so the same function rotates and rotates back.

``block`` is the size of the block-diagonal rotation along the last axis: the group size (each
quantization group is rotated on its own, as MR-GPTQ does for MXFP4/NVFP4) or the whole row
(QuaRot's online rotation, where the row length is a power of two).

The transform is the fast Walsh-Hadamard transform (``b log2 b`` additions per block, float64).

Example:
    >>> x = np.arange(8, dtype=np.float64).reshape(1, 8)
    >>> y = hadamard(x, block=4)
    >>> np.allclose(hadamard(y, block=4), x), np.allclose((y**2).sum(), (x**2).sum())
    (True, True)
"""

from __future__ import annotations

import numpy as np

from mant.errors import InputError

__all__ = ["check_block", "hadamard"]


def check_block(block: int, n: int, path: str = "rotation.block") -> None:
    """Raises :class:`InputError` unless ``block`` is a power of two that divides ``n``."""
    if isinstance(block, bool) or not isinstance(block, int | np.integer) or block < 1:
        raise InputError.single(path, "must be a positive integer", block)
    if block & (block - 1):
        raise InputError.single(path, "must be a power of two (a Sylvester-Hadamard size)", block)
    if n % block:
        raise InputError.single(
            path, f"must divide the rotated dimension ({n} values per row)", block
        )


def hadamard(x: np.ndarray, *, block: int) -> np.ndarray:
    """``x`` times the block-diagonal normalised Hadamard matrix along its last axis (float64).

    Args:
        x: array whose last axis has a multiple of ``block`` values.
        block: the rotation block, a power of two.

    Returns:
        A new float64 array of ``x``'s shape; applying it twice gives ``x`` back.
    """
    arr = np.asarray(x, dtype=np.float64)
    n = arr.shape[-1]
    check_block(int(block), n)
    out = arr.reshape(-1, n // block, block).copy()
    h = 1
    while h < block:
        # butterflies of span h: (a, b) -> (a + b, a - b) over pairs h apart
        v = out.reshape(out.shape[0], out.shape[1], block // (2 * h), 2, h)
        a = v[:, :, :, 0, :].copy()
        b = v[:, :, :, 1, :]
        v[:, :, :, 0, :] += b
        v[:, :, :, 1, :] = a - b
        h *= 2
    out *= 1.0 / np.sqrt(block)
    return out.reshape(arr.shape)
