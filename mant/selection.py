"""How a group picks its type among candidate formats: :class:`Selection`.

Defined in :mod:`mant.vocab` (the one vocabulary); re-exported here for older imports.
"""

from __future__ import annotations

from mant.vocab import SELECTION_ALIASES, Selection

__all__ = ["SELECTION_ALIASES", "Selection"]
