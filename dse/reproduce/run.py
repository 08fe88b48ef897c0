"""One call that runs the whole reproduction and returns the report's info."""

from __future__ import annotations

from dse.reproduce.accuracy import run_accuracy
from dse.reproduce.cases import ReproduceConfig
from dse.reproduce.compute import run_hardware
from dse.reproduce.info import ReproduceInfo, reproduce_info
from dse.reproduce.sensitivity import run_sensitivity

__all__ = ["run_reproduce"]


def run_reproduce(cfg: ReproduceConfig, *, accuracy: bool = True) -> ReproduceInfo:
    """Hardware side, sensitivity and (unless ``accuracy=False``) the accuracy side.

    Args:
        cfg: The configuration (:func:`dse.reproduce.cases.load_config`).
        accuracy: Measure each design's quantization error too.
    """
    hw = run_hardware(cfg)
    sens = run_sensitivity(cfg)
    acc = run_accuracy(cfg) if accuracy else None
    return reproduce_info(cfg, hw, sens, acc)
