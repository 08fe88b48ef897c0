"""One GEMM layer: A (m x k, activations) times B (k x n, weights or the KV cache).

``operand`` says whether B is a weight matrix or the KV cache, which decides its precision.
``count`` repeats the GEMM (identical layers, heads, batch entries) without repeating objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hwmodel._validate import require_int
from mant.errors import IssueCollector

__all__ = ["Gemm", "Operand"]


class Operand(StrEnum):
    """What the B operand of a GEMM is: a weight matrix or the KV cache (attention)."""

    WEIGHT = "weight"
    KV = "kv"


@dataclass(frozen=True, slots=True, kw_only=True)
class Gemm:
    """One GEMM layer: A (m x k, activations) times B (k x n, weights or KV cache).

    Attributes:
        m: Rows of A and of the output (tokens).
        n: Columns of B and of the output.
        k: Reduction length (the dimension quantization groups run along).
        name: Label in per-layer reports.
        operand: ``"weight"`` or ``"kv"``: which precision the B operand uses.
        count: How many identical instances the workload holds.
        reads: Expected number of distinct B matrices the step reads when that is not
            ``count`` (routed experts: the expected experts touched, a fraction); None: ``count``.
            Used by the step's ``weight_bytes``; :func:`hwmodel.evaluate` runs ``count``.

    Example:
        >>> Gemm(m=1, n=4096, k=4096, name="q_proj").macs
        16777216
    """

    m: int
    n: int
    k: int
    name: str = "gemm"
    operand: Operand = Operand.WEIGHT
    count: int = 1
    reads: float | None = None

    def __post_init__(self) -> None:
        c = IssueCollector()
        for key in ("m", "n", "k", "count"):
            require_int(c, getattr(self, key), f"gemm.{key}")
        if c.check(
            self.operand in tuple(Operand), "gemm.operand", "must be weight or kv", self.operand
        ):
            object.__setattr__(self, "operand", Operand(self.operand))
        if self.reads is not None:
            c.check(self.reads >= 0, "gemm.reads", "must be a number >= 0", self.reads)
        c.raise_if_any()

    @property
    def is_attention(self) -> bool:
        """Whether B is the KV cache (QK^T or PV), i.e. outside the linear-layer scope."""
        return self.operand is Operand.KV

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one instance."""
        return self.m * self.n * self.k

    @property
    def b_reads(self) -> float:
        """Distinct B matrices the step reads (``reads``, else ``count``)."""
        return float(self.count) if self.reads is None else float(self.reads)
