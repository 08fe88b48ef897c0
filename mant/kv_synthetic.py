"""The synthetic KV group mixture of ``mant.md`` §7.1 (calibration and statistic studies)."""

from __future__ import annotations

import numpy as np

from mant.errors import IssueCollector

__all__ = ["synthetic_groups"]


def synthetic_groups(n_groups: int = 3000, group_size: int = 64, *, seed: int = 0) -> np.ndarray:
    """The synthetic group mixture of ``mant.md`` §7.1, float32 (n_groups, group_size).

    Four families in equal shares (round-robin): Student-t with df log-uniform in [1.5, 30],
    uniform, Laplace, and Gaussian with 5% outliers. The outlier magnitude (a factor
    uniform in [3, 10] times the Gaussian value) and the df spacing are choices made here;
    ``mant.md`` does not give them. Each group gets a random log-uniform overall scale.

    Example:
        >>> synthetic_groups(8, 16).shape
        (8, 16)
    """
    c = IssueCollector()
    c.check(n_groups >= 1, "n_groups", "must be >= 1", n_groups)
    c.check(group_size >= 2, "group_size", "must be >= 2", group_size)
    c.raise_if_any()
    rng = np.random.default_rng(seed)
    shape = (n_groups, group_size)
    df = np.exp(rng.uniform(np.log(1.5), np.log(30.0), n_groups))[:, None]
    families = [
        rng.standard_t(np.broadcast_to(df, shape)),
        rng.uniform(-1.0, 1.0, shape),
        rng.laplace(0.0, 1.0, shape),
        rng.standard_normal(shape)
        * np.where(rng.random(shape) < 0.05, rng.uniform(3.0, 10.0, shape), 1.0),
    ]
    kind = np.arange(n_groups) % len(families)
    out = np.choose(kind[:, None], families)
    scale = np.exp(rng.uniform(np.log(1e-2), np.log(1e2), n_groups))[:, None]
    return (out * scale).astype(np.float32)
