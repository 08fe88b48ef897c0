"""Reproduce the M-ANT paper's headline: M-ANT against ANT, OliVe, Tender and INT8 at iso-area.

Modules: :mod:`~dse.reproduce.cases` (the config), :mod:`~dse.reproduce.defaults` (the shipped
config), :mod:`~dse.reproduce.compute` (hardware side), :mod:`~dse.reproduce.sensitivity`,
:mod:`~dse.reproduce.accuracy`, :mod:`~dse.reproduce.assumptions`, :mod:`~dse.reproduce.info`
(the report's numbers, pure) and :mod:`~dse.reproduce.render` (HTML and Markdown).

Example:
    >>> from dse.reproduce import load_config, run_reproduce
    >>> info = run_reproduce(load_config(), accuracy=False)
    >>> info.headline[0].metric
    'speedup_avg'
"""

from __future__ import annotations

from dse.reproduce.cases import DEFAULT_CONFIG, ReproduceConfig, load_config, parse_config
from dse.reproduce.info import ReproduceInfo, summary_json
from dse.reproduce.run import run_reproduce

__all__ = [
    "DEFAULT_CONFIG",
    "ReproduceConfig",
    "ReproduceInfo",
    "load_config",
    "parse_config",
    "run_reproduce",
    "summary_json",
]
