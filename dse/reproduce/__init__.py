"""Reproduce the M-ANT paper's headline: M-ANT against ANT, OliVe, Tender and INT8 at iso-area."""
