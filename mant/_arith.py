"""Arithmetic modes of the level-list kernel (:mod:`mant._levels_kernels`), in a module of their
own so that format resolution (:mod:`mant.levels`, :mod:`mant.formats2026`) loads no numba."""

ARITH_F64, ARITH_F32, ARITH_F16 = 0, 1, 2
