"""Groups from a reshape: move the quantization axis last, split it into groups of ``g``.

Granularity ``group`` splits each row (all other axes flattened) into groups of ``g`` consecutive
values along ``axis``; ``channel`` makes each row one group; ``tensor`` makes the whole tensor one
group. **Padding rule:** when the axis length is not a multiple of ``g`` the last group of each row
is zero-padded to ``g``; padded slots do not count in the scale (zeros never raise the absmax),
in the group error (``lengths`` holds the valid count per group) or in the output (stripped).

Example:
    >>> x = np.arange(10, dtype=np.float32).reshape(2, 5)
    >>> g, n, lay = make_groups(x, axis=-1, group_size=4)
    >>> g.shape, n.tolist()
    ((4, 4), [4, 1, 4, 1])
    >>> bool(np.array_equal(ungroup(g, lay), x))
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mant.errors import InputError
from mant.vocab import Granularity

__all__ = ["Granularity", "GroupLayout", "make_groups", "ungroup", "check_finite"]


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupLayout:
    """How a tensor was cut into groups (enough to put the groups back)."""

    shape: tuple[int, ...]
    axis: int
    group_size: int
    n_rows: int
    n_cols: int
    groups_per_row: int

    @property
    def n_groups(self) -> int:
        return self.n_rows * self.groups_per_row

    @property
    def pad(self) -> int:
        """Zero slots appended to each row."""
        return self.groups_per_row * self.group_size - self.n_cols


def check_finite(x: np.ndarray, path: str = "x") -> None:
    """Raise :class:`InputError` naming the count and first index of NaN/Inf values."""
    finite = np.isfinite(x)
    if finite.all():
        return
    bad = ~finite
    n_nan = int(np.isnan(x).sum())
    n_inf = int(bad.sum()) - n_nan
    first = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), x.shape))
    raise InputError.single(
        path, "must be finite", f"{n_nan} NaN and {n_inf} Inf values, first at index {first}"
    )


def _check_axis(axis: object, ndim: int) -> int:
    if isinstance(axis, bool) or not isinstance(axis, int | np.integer):
        raise InputError.single("axis", "must be an int", axis)
    if not -ndim <= int(axis) < ndim:
        raise InputError.single(
            "axis", f"must be in {-ndim}..{ndim - 1} for a {ndim}-d tensor", axis
        )
    return int(axis) % ndim


def make_groups(
    x: np.ndarray,
    *,
    axis: int = -1,
    group_size: int | None = 64,
    granularity: Granularity | str = Granularity.GROUP,
) -> tuple[np.ndarray, np.ndarray, GroupLayout]:
    """Cut ``x`` into float32 groups.

    Args:
        x: real tensor with at least one element.
        axis: the axis groups run along (ignored for ``tensor``).
        group_size: values per group for ``group`` granularity (>= 1).
        granularity: ``group``, ``channel`` or ``tensor``.

    Returns:
        ``(groups (n_groups, g) float32, lengths (n_groups,) int64, layout)``.

    Raises:
        InputError: empty or non-finite tensor, bad axis or group size.
    """
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiu" or arr.dtype == np.bool_:
        raise InputError.single("x", "must be a real numeric array", str(arr.dtype))
    if arr.size == 0:
        raise InputError.single("x", "must have at least one element", arr.shape)
    arr = arr.astype(np.float32, copy=False)
    check_finite(arr)
    gran = Granularity(granularity)
    if gran is Granularity.TENSOR:
        arr2 = arr.reshape(1, -1)
        ax = arr.ndim - 1 if arr.ndim else 0
        g = arr2.shape[1]
    else:
        if arr.ndim == 0:
            arr = arr.reshape(1)
        ax = _check_axis(axis, arr.ndim)
        moved = np.moveaxis(arr, ax, -1)
        arr2 = moved.reshape(-1, moved.shape[-1])
        if gran is Granularity.CHANNEL:
            g = arr2.shape[1]
        else:
            if isinstance(group_size, bool) or not isinstance(group_size, int | np.integer):
                raise InputError.single("group_size", "must be an int >= 1", group_size)
            if group_size < 1:
                raise InputError.single("group_size", "must be an int >= 1", group_size)
            g = int(group_size)
    n_rows, n_cols = arr2.shape
    gpr = -(-n_cols // g)
    pad = gpr * g - n_cols
    if pad:
        arr2 = np.concatenate([arr2, np.zeros((n_rows, pad), dtype=np.float32)], axis=1)
    groups = np.ascontiguousarray(arr2).reshape(n_rows * gpr, g)
    lengths = np.full((n_rows, gpr), g, dtype=np.int64)
    lengths[:, -1] = g - pad
    layout = GroupLayout(
        shape=tuple(np.shape(x)),
        axis=ax,
        group_size=g,
        n_rows=n_rows,
        n_cols=n_cols,
        groups_per_row=gpr,
    )
    return groups, lengths.reshape(-1), layout


def ungroup(values: np.ndarray, layout: GroupLayout) -> np.ndarray:
    """Inverse of :func:`make_groups`: strip padding, restore the axis order and shape."""
    rows = values.reshape(layout.n_rows, layout.groups_per_row * layout.group_size)
    if layout.pad:
        rows = rows[:, : layout.n_cols]
    shape = layout.shape if layout.shape else (1,)
    if len(shape) <= 1 or layout.n_rows == 1 and layout.n_cols == int(np.prod(shape)):
        return rows.reshape(layout.shape)
    moved_shape = [s for i, s in enumerate(shape) if i != layout.axis] + [shape[layout.axis]]
    return np.moveaxis(rows.reshape(moved_shape), -1, layout.axis)
