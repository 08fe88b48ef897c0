"""Stationary-operand preload: ``serial`` (SCALE-Sim v3) versus ``overlapped`` (double-buffered).

The closed form (``hwmodel.systolic.fold_cycles``) is checked against an independent
register-level simulation of a stationary-operand array that moves real values cycle by cycle
and must also produce the right GEMM result.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dse.cli import main
from hwmodel import (
    Gemm,
    accelerator_from_dict,
    evaluate,
    evaluate_many,
    llm_workload,
    load_accelerator,
    systolic_gemm,
)
from hwmodel.systolic import cdiv, systolic_terms
from mant.errors import InputError

with open(Path(__file__).parent / "data" / "scalesim_v3_golden.csv", newline="") as _fh:
    GOLDEN = list(csv.DictReader(_fh))


def simulate(x: np.ndarray, w: np.ndarray, rows: int, cols: int, preload: str):
    """Cycle-by-cycle run of ``y = x @ w`` with ``w`` stationary on a rows x cols array.

    Each PE holds an active and (for ``overlapped``) a shadow stationary register. A load
    shifts one tile row per cycle down the column chain (bottom row first). Streamed values
    enter row r from the left with an r-cycle skew and move one column per cycle; partial sums
    move one row down per cycle and leave the bottom row. Partial folds run on zero-padded
    tiles (the hardware executes the whole array). The controller starts a fold's stream when
    the array has emitted every output of the previous fold and the fold's tile is loaded;
    ``overlapped`` loads the next tile into the shadow registers from the cycle the current
    one becomes active.

    Returns:
        (cycles, y): cycles until the last output of the last fold leaves the array.
    """
    t_len, s_r = x.shape
    s_c = w.shape[1]
    tiles = []
    for i in range(cdiv(s_r, rows)):
        for j in range(cdiv(s_c, cols)):
            wt = np.zeros((rows, cols))
            part = w[i * rows : (i + 1) * rows, j * cols : (j + 1) * cols]
            wt[: part.shape[0], : part.shape[1]] = part
            xt = np.zeros((t_len, rows))
            xp = x[:, i * rows : (i + 1) * rows]
            xt[:, : xp.shape[1]] = xp
            tiles.append((wt, xt, j))
    y = np.zeros((t_len, cdiv(s_c, cols) * cols))
    active = np.zeros((rows, cols))
    shadow = np.zeros((rows, cols))
    a_val = np.zeros((rows, cols))
    a_tag = np.full((rows, cols), -1)
    p_val = np.zeros((rows, cols))
    p_tag = np.full((rows, cols), -1)
    cycle = 0
    loaded = 0  # rows of the pending tile already shifted into the load chain
    pending = 0  # index of the tile being loaded
    streaming = None  # (tile index, stream-local cycle, outputs emitted)
    done = 0
    while done < len(tiles):
        # the controller: start the next stream when drained and the tile is in place
        if streaming is None and loaded == rows and pending == done:
            if preload == "overlapped":
                active = shadow.copy()
            streaming = (done, 0, 0)
            pending, loaded = done + 1, 0
        # the load chain: serial loads only while idle, overlapped whenever a tile is pending
        can_load = pending < len(tiles) and loaded < rows
        if preload == "serial":
            can_load = can_load and streaming is None
        if can_load:
            chain = active if preload == "serial" else shadow
            chain[1:] = chain[:-1].copy()
            chain[0] = tiles[pending][0][rows - 1 - loaded]
            loaded += 1
        # the array: one step of streamed values and partial sums
        a_val[:, 1:], a_tag[:, 1:] = a_val[:, :-1].copy(), a_tag[:, :-1].copy()
        a_val[:, 0], a_tag[:, 0] = 0.0, -1
        if streaming is not None:
            idx, tau, emitted = streaming
            xt = tiles[idx][1]
            for r in range(rows):
                m = tau - r
                if 0 <= m < t_len:
                    a_val[r, 0], a_tag[r, 0] = xt[m, r], m
        above_val = np.vstack([np.zeros((1, cols)), p_val[:-1]])
        above_tag = np.vstack([np.full((1, cols), -1), p_tag[:-1]])
        valid = a_tag >= 0
        assert np.all(~valid[1:] | (above_tag[1:] == a_tag[1:])), "skew misaligned"
        p_val = np.where(valid, above_val + a_val * active, 0.0)
        p_tag = np.where(valid, a_tag, -1)
        cycle += 1
        if streaming is not None:
            idx, tau, emitted = streaming
            j = tiles[idx][2]
            for c in np.flatnonzero(p_tag[-1] >= 0):
                y[p_tag[-1, c], j * cols + c] += p_val[-1, c]
                emitted += 1
            streaming = (idx, tau + 1, emitted)
            if emitted == t_len * cols:
                streaming = None
                done += 1
    return cycle, y[:, :s_c]


SHAPES = [(3, 5, 7), (1, 4, 9), (6, 2, 3), (4, 4, 4), (2, 7, 1)]
ARRAYS = [(2, 3), (3, 2), (4, 4), (1, 1)]


@pytest.mark.parametrize("preload", ["serial", "overlapped"])
@pytest.mark.parametrize("dataflow", ["ws", "is"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("array", ARRAYS)
def test_closed_form_equals_cycle_by_cycle_simulation(preload, dataflow, shape, array):
    m, n, k = shape
    rows, cols = array
    rng = np.random.default_rng(m * 100 + n * 10 + k)
    a = rng.integers(-3, 4, size=(m, k)).astype(float)
    b = rng.integers(-3, 4, size=(k, n)).astype(float)
    if dataflow == "ws":  # B stationary (K x N), A streamed
        cycles, y = simulate(a, b, rows, cols, preload)
        np.testing.assert_array_equal(y, a @ b)
    else:  # A stationary (K x M), B streamed
        cycles, y = simulate(b.T, a.T, rows, cols, preload)
        np.testing.assert_array_equal(y, (a @ b).T)
    want = systolic_terms(m, n, k, rows, cols, dataflow, preload=preload)[1]
    assert cycles == want, f"{shape} on {array} {dataflow} {preload}"


def test_simulation_serial_reproduces_a_golden_run():
    """The simulator itself matches SCALE-Sim on the smallest golden shape (64^3 on 32x32 WS)."""
    row = next(
        r for r in GOLDEN if (r["M"], r["rows"], r["dataflow"]) == ("64", "32", "ws")
    )  # data/scalesim_v3_golden.csv, SCALE-Sim 3.0.0
    a = np.ones((64, 64))
    cycles, y = simulate(a, np.ones((64, 64)), 32, 32, "serial")
    assert cycles == int(row["total_cycles"]) + 1  # SCALE-Sim prints the last cycle index
    assert np.all(y == 64)


@pytest.mark.parametrize("row", GOLDEN, ids=lambda r: f"{r['M']}x{r['N']}x{r['K']}")
def test_serial_is_the_default_and_overlapped_saves_one_load_per_later_fold(row):
    m, n, k, r, c = (int(row[x]) for x in ("M", "N", "K", "rows", "cols"))
    df = row["dataflow"]
    serial = systolic_gemm(m, n, k, r, c, df, preload="serial")
    assert serial == systolic_gemm(m, n, k, r, c, df)
    assert serial.scalesim_total_cycles == int(row["total_cycles"])
    over = systolic_gemm(m, n, k, r, c, df, preload="overlapped")
    saved = 0 if df == "os" else (serial.folds - 1) * r
    assert over.compute_cycles == serial.compute_cycles - saved
    # only time changes: the SRAM traffic is the same
    assert (over.sram_ifmap_reads, over.sram_filter_reads, over.sram_ofmap_writes) == (
        serial.sram_ifmap_reads,
        serial.sram_filter_reads,
        serial.sram_ofmap_writes,
    )


dims = st.integers(1, 300)
sides = st.integers(1, 80)


@settings(max_examples=300, deadline=None)
@given(dims, dims, dims, sides, sides, st.sampled_from(["os", "ws", "is"]))
def test_overlapped_bounds(m, n, k, rows, cols, dataflow):
    folds, serial, *_ = systolic_terms(m, n, k, rows, cols, dataflow)
    _, over, *_ = systolic_terms(m, n, k, rows, cols, dataflow, preload="overlapped")
    assert over <= serial
    if folds == 1:
        assert over == serial
    assert over * rows * cols >= m * n * k  # cycles >= MACs / PEs


@settings(max_examples=60, deadline=None)
@given(dims, dims, dims, st.integers(1, 96), st.integers(1, 64))
def test_evaluate_overlapped_never_slower_and_utilization_at_most_one(m, n, k, rows, cols):
    base = load_accelerator("mant").with_array(rows=rows, cols=cols)
    serial = evaluate(base, Gemm(m=m, n=n, k=k))
    over = evaluate(base.with_array(preload="overlapped"), Gemm(m=m, n=n, k=k))
    assert over.compute_cycles <= serial.compute_cycles
    assert over.cycles <= serial.cycles
    assert 0 < over.utilization <= 1


def test_evaluate_many_matches_evaluate_with_overlapped_preload():
    # preload is a rule of the SCALE-Sim path
    acc = load_accelerator("tender").with_array(preload="overlapped", gemv_path="scalesim")
    wl = llm_workload("llama-2-7b", phase="decode", seq_len=512, batch=1)
    rows, cols = np.array([16, 64, 90]), np.array([64, 32, 64])
    out = evaluate_many(acc, wl, rows=rows, cols=cols)
    serial_acc = acc.with_array(preload="serial")
    plain = evaluate_many(serial_acc, wl, rows=rows, cols=cols)
    override = evaluate_many(serial_acc, wl, rows=rows, cols=cols, preload="overlapped")
    for i, (r, c) in enumerate(zip(rows, cols, strict=True)):
        cost = evaluate(acc.with_array(rows=int(r), cols=int(c)), wl)
        assert out["cycles"][i] == cost.cycles
        assert out["energy_pj"][i] == pytest.approx(cost.energy_pj)
        assert override["cycles"][i] == cost.cycles
        assert out["cycles"][i] < plain["cycles"][i]  # decode: many folds per layer
    with pytest.raises(InputError, match="preload: must be one of serial, overlapped"):
        evaluate_many(acc, wl, rows=rows, cols=cols, preload="pipelined")


def test_os_ignores_preload():
    acc = load_accelerator("int8").with_array(dataflow="os")
    wl = llm_workload("llama-2-7b", phase="decode", seq_len=512, batch=1)
    assert evaluate(acc.with_array(preload="overlapped"), wl).cycles == evaluate(acc, wl).cycles


def test_yaml_round_trip_default_and_errors(tmp_path):
    acc = load_accelerator("mant")
    assert acc.array.preload == "serial"
    over = acc.with_array(preload="overlapped")
    path = tmp_path / "acc.yaml"
    path.write_text(over.to_yaml())
    again = load_accelerator(path)
    assert again == over and again.array.preload == "overlapped"
    assert again.to_yaml() == path.read_text()
    data = acc.to_dict()
    del data["array"]["preload"]  # files written before the option load as serial
    assert accelerator_from_dict(data) == acc
    data["array"]["preload"] = "double"
    with pytest.raises(InputError) as info:
        accelerator_from_dict(data)
    assert str(info.value) == (
        "accelerator.array.preload: must be one of serial, overlapped, got 'double'"
    )
    with pytest.raises(InputError, match="must be one of serial, overlapped"):
        acc.with_array(preload="double")


def test_cli_preload_flag(capsys):
    args = ["hw", "llm", "--accelerator", "mant", "--model", "llama-2-7b", "--phase", "decode"]
    args += ["--gemv-path", "scalesim"]  # preload is a rule of the SCALE-Sim path
    assert main([*args, "--json"]) == 0
    serial = json.loads(capsys.readouterr().out)
    assert main([*args, "--preload", "overlapped", "--json"]) == 0
    over = json.loads(capsys.readouterr().out)
    assert (serial["preload"], over["preload"]) == ("serial", "overlapped")
    wl = llm_workload("llama-2-7b", phase="decode", seq_len=2048, batch=1)
    want = evaluate(
        load_accelerator("mant").with_array(preload="overlapped", gemv_path="scalesim"), wl
    )
    assert over["cycles"] == want.cycles < serial["cycles"]
    with pytest.raises(SystemExit) as info:
        main([*args, "--preload", "double"])
    assert info.value.code == 2
