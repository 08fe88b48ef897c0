"""Report: the info step on known inputs, and the HTML rendered by a real headless browser."""

from __future__ import annotations

import re
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from dse.report.info import history, hypervolume_over_trials, pareto_table, report_info, staircase
from dse.results.frame import TrialRecord, build_frame
from dse.run.runner import run_study


def _frame(spec, points, feasible=None):
    recs = []
    for i, (err, lat, area) in enumerate(points):
        ok = feasible is None or feasible[i]
        recs.append(
            TrialRecord(
                trial=i,
                state="COMPLETE",
                params={
                    "pe_type": "mant",
                    "group_size": 64,
                    "weight_format": "int{bits}",
                    "rows": 8 * (i + 1),  # a distinct design per point
                    "cols": 8,
                },
                metrics={
                    "weight_rel_mse": err,
                    "latency_s": lat,
                    "area_um2": area,
                    "weight_bits_per_element": 4.0 if ok else 9.0,
                },
                constraints={"weight_bits_per_element_max": -2.0 if ok else 3.0},
            )
        )
    recs.append(TrialRecord(trial=len(points), state="FAIL", params={"rows": 8}))
    return build_frame(recs, spec)


def test_staircase_is_the_2d_front_sorted_by_x():
    x = np.array([3.0, 1.0, 2.0, 2.5, 4.0])
    y = np.array([1.0, 3.0, 2.0, 2.5, 0.5])
    assert staircase(x, y) == ([1.0, 2.0, 3.0, 4.0], [3.0, 2.0, 1.0, 0.5])


def test_info_on_a_known_study(small_spec):
    pts = [(0.3, 1.0, 5.0), (0.1, 2.0, 5.0), (0.2, 0.5, 5.0), (0.05, 0.1, 1.0), (0.5, 3.0, 9.0)]
    df = _frame(small_spec, pts, feasible=[True, True, True, False, True])
    info = report_info(df, small_spec)
    assert info.counts == {"trials": 6, "complete": 5, "failed": 1, "feasible": 4, "pareto": 2}
    assert len(info.projections) == 3 and info.front3d is not None
    proj = info.projections[0]  # weight_rel_mse vs latency_s; the infeasible best is excluded
    assert proj.front_x == [0.1, 0.2] and proj.front_y == [2.0, 0.5]
    assert proj.classes == ("feasible", "pareto", "pareto", "infeasible", "feasible")
    err = history(df, small_spec)[0]
    assert err.best.tolist() == [0.3, 0.1, 0.1, 0.1, 0.1]  # trial 3 is infeasible
    hv = hypervolume_over_trials(df, small_spec).hypervolume
    assert np.all(np.diff(hv) >= 0) and hv[0] > 0
    assert pareto_table(df, small_spec)["trial"].tolist() == [1, 2]
    assert info.parallel.labels[-3:] == ("weight_rel_mse", "latency_s", "area_um2")
    assert info.parallel.tick_text[0] == ("mant", "int8")


def test_empty_study_still_renders_info(small_spec):
    df = build_frame([], small_spec)
    info = report_info(df, small_spec)
    assert info.counts["trials"] == 0 and info.table.empty
    assert info.projections[0].front_x == []


def _unfilter(raw: np.ndarray, height: int, stride: int, ch: int) -> np.ndarray:
    """Undoes the PNG row filters (None, Sub, Up, Average, Paeth); compiled with numba."""
    import numba

    @numba.njit(cache=False)
    def run(raw, height, stride, ch):
        img = np.zeros((height, stride), dtype=np.int64)
        prev = np.zeros(stride, dtype=np.int64)
        for r in range(height):
            f = raw[r * (stride + 1)]
            base = r * (stride + 1) + 1
            for i in range(stride):
                a = img[r, i - ch] if i >= ch else 0
                b = prev[i]
                c = prev[i - ch] if i >= ch else 0
                if f == 0:
                    pred = 0
                elif f == 1:
                    pred = a
                elif f == 2:
                    pred = b
                elif f == 3:
                    pred = (a + b) // 2
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if (pa <= pb and pa <= pc) else (b if pb <= pc else c)
                img[r, i] = (raw[base + i] + pred) & 0xFF
            prev = img[r]
        return img

    return run(raw, height, stride, ch)


def _png_rgb(path: Path) -> np.ndarray:
    """(height, width, 3) pixels of an 8-bit RGB(A) PNG, decoded without an image library."""
    data = path.read_bytes()
    pos, chunks, header = 8, [], b""
    while pos < len(data):
        n = int.from_bytes(data[pos : pos + 4], "big")
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + n
    width, height = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:8], "big")
    bit_depth, colour_type = header[8], header[9]
    assert bit_depth == 8 and colour_type in (2, 6), (bit_depth, colour_type)
    ch = 3 if colour_type == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), dtype=np.uint8).astype(np.int64)
    img = _unfilter(raw, height, width * ch, ch)
    return img.reshape(height, width, ch)[:, :, :3]


def _png_stats(path: Path) -> tuple[int, float]:
    """(distinct colours, pixel std) of a PNG."""
    rgb = _png_rgb(path)
    colours = len(np.unique(rgb.reshape(-1, 3), axis=0))
    return colours, float(rgb.std())


def _pixels_of(rgb: np.ndarray, hex_colour: str, tol: int = 8) -> int:
    """How many pixels are within ``tol`` of a colour in every channel."""
    target = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int(np.all(np.abs(rgb - target) <= tol, axis=2).sum())


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium is not installed: tests/run.sh installs it (Debian chromium)")
    return path


def _browser(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=8000",
    ]
    return subprocess.run(
        [_chromium(), *flags, *args], capture_output=True, text=True, timeout=120, check=False
    )


# Appended to a copy of the report: measures the designs table at the window's width, drives
# its filter and sort, and writes what it saw into the DOM (read back with --dump-dom).
_LAYOUT_CHECK = """<script>
window.addEventListener('load', () => setTimeout(() => {
  const out = {};
  const box = document.querySelector('#designs .scroll');
  const table = document.getElementById('designs-table');
  const b = box.getBoundingClientRect(), t = table.getBoundingClientRect();
  out.page_overflow = document.documentElement.scrollWidth > window.innerWidth;
  out.table_fits = t.right <= b.right + 1;
  out.scrollable = ['auto', 'scroll'].includes(getComputedStyle(box).overflowX);
  const heads = Array.from(table.tHead.rows[0].cells);
  out.headers = heads.map(h => h.textContent);
  out.rows = table.tBodies[0].rows.length;
  const inp = document.querySelector('#designs input.filter');
  inp.value = 'int8'; mdseFilter(inp);
  const shown = Array.from(table.tBodies[0].rows).filter(r => r.style.display !== 'none');
  out.int8_shown = shown.length;
  out.count_text = document.getElementById('designs-table-count').textContent;
  inp.value = ''; mdseFilter(inp);
  const lat = heads.findIndex(h => h.textContent.startsWith('latency'));
  mdseSort(heads[lat]); mdseSort(heads[lat]);
  out.latency_sorted = Array.from(table.tBodies[0].rows).map(r => +r.cells[lat].dataset.v);
  document.body.insertAdjacentHTML('beforeend',
    '<pre id="layout-check">' + JSON.stringify(out) + '</pre>');
}, 0));
</script>"""


def _section(dom: str, section_id: str) -> str:
    start = dom.index(f'<section id="{section_id}">')
    return dom[start : dom.index("</section>", start)]


@pytest.mark.browser
def test_report_renders_in_headless_chromium(small_spec_dict, tmp_path):
    import json

    from dse.report.html import PE_COLORS
    from dse.report.info import pareto_table
    from dse.results.frame import load_frame
    from dse.study.spec import parse_spec

    small_spec_dict["constraints"] = [{"metric": "weight_bits_per_element", "max": 9.0}]
    small_spec = parse_spec(small_spec_dict)  # int8 weights (8.25 bits) are feasible

    s = run_study(small_spec, out_dir=tmp_path / "run", progress=False, report=True)
    report = s.report
    text = report.read_text()
    assert "<script src=" not in text and len(text) > 1_000_000  # plotly.js inside: offline
    table = pareto_table(load_frame(tmp_path / "run"), small_spec)
    checked = tmp_path / "checked.html"
    checked.write_text(text.replace("</body>", _LAYOUT_CHECK + "</body>"), encoding="utf-8")
    dom = _browser(tmp_path, "--window-size=1400,1000", "--dump-dom", checked.as_uri()).stdout
    # pick bars, drill-down, 3 projections, 3-D, parallel coordinates, history: >= 8 plots drawn
    assert dom.count('class="main-svg"') >= 8, dom[-2000:]
    context = _section(dom, "context")
    assert "2 GEMMs" in context and "synthetic tensors" in context and "32 designs" in context
    assert "weight_bits_per_element ≤ 9 bit" in context
    pick = _section(dom, "pick")
    assert "<b>knee" in pick and "best latency_s" in pick and "speedup" in pick
    assert "reference (int8 PE)" in pick and "energy by component" in pick
    for pe in ("mant", "int8"):  # legend entries of the PE-type traces, drawn as SVG text
        assert f">{pe} PE</text>" in dom, pe
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", dom)  # every SVG label: ticks, legends
    assert len(texts) > 100
    si = [t for t in texts if re.fullmatch(r"[−-]?[\d.]+[kMGTPB]", t.strip())]
    assert not si, si  # no "800B" / "15M" tick labels
    assert any(t.endswith("[µs]") or t.endswith("[ms]") for t in texts)  # a readable unit
    # plotly writes the figure JSON with orjson when it is installed (raw "·") and with json.dumps
    # otherwise ("\\u00b7"): both are the same JSON string, so accept either spelling.
    hover = re.search(
        r"(?:·|\\u00b7) trial \d+\\u003cbr\\u003egroup_size=\d+, weight_format=int8 \(PE\)",
        text,
    )
    assert hover, "hover text carries the design's parameters"
    check = json.loads(dom.split('<pre id="layout-check">')[-1].split("</pre>")[0])
    assert not check["page_overflow"]  # nothing sticks out of the 1400 px page
    assert check["table_fits"] or check["scrollable"]  # every column visible or scrolled to
    assert check["headers"][-1] == "trials" and check["rows"] == len(table)
    n_int8 = int((table["p.pe_type"] == "int8").sum())
    assert check["int8_shown"] == n_int8 and check["count_text"] == str(n_int8)
    lat = check["latency_sorted"]
    assert lat == sorted(lat, reverse=True) and len(lat) == len(table)

    shot = tmp_path / "shot.png"
    _browser(tmp_path, f"--screenshot={shot}", "--window-size=1400,2600", report.as_uri())
    colours, std = _png_stats(shot)
    assert colours >= 8 and std > 10.0, (colours, std)
    rgb = _png_rgb(shot)
    for pe in ("mant", "int8"):  # markers, legend symbols and table swatches in the PE colour
        assert _pixels_of(rgb, PE_COLORS[pe]) >= 100, pe


def test_small_ratios_and_integer_ranges_read_in_the_report():
    from dse.report.info import _choices_text
    from dse.report.units import ratio_text
    from dse.study.space import Categorical, IntRange

    assert [ratio_text(v) for v in (1.234, 0.1, 0.0015, 0.0)] == ["1.23", "0.10", "0.0015", "0.00"]
    assert _choices_text(IntRange(name="rows", low=16, high=128)) == "16..128"
    assert _choices_text(IntRange(name="rows", low=16, high=64, step=16)) == "16..64 step 16"
    assert _choices_text(Categorical(name="dataflow", choices=("ws", "os"))) == "{ws, os}"


def test_report_figures_and_tables_read_cleanly(small_spec_dict, tmp_path):
    """Integer axes tick at their values; every drill-down category has its own colour; no
    column of dashes; the context names the base accelerator."""
    from dse.report.html import _parallel
    from dse.report.pick import drilldown
    from dse.report.sections import designs_html, drill_figure
    from dse.results.frame import load_frame
    from dse.study.spec import parse_spec

    d = {**small_spec_dict, "n_trials": 8}
    d["workload"] = {"model": "smollm2-135m", "phase": "decode", "seq_len": 64}
    spec = parse_spec(d)
    run_study(spec, out_dir=tmp_path / "r", progress=False, report=False)
    info = report_info(load_frame(tmp_path / "r"), spec)

    fig = drill_figure([drilldown(spec, r) for r in info.pick.picks])
    colours = {t.name: t.marker.color for t in fig.data}
    assert len(set(colours.values())) == len(colours), colours  # no reused colour

    dims = {dim.label: dim for dim in _parallel(info.parallel).data[0].dimensions}
    rows = dims["rows"]
    assert list(rows.tickvals) == sorted(set(rows.values)) and set(rows.ticktext) <= {"8", "16"}

    html_text = designs_html(info.table, spec)
    header = html_text[: html_text.index("</thead>")]
    for p in spec.space.searched:
        column = info.table[f"p.{p.name}"].astype(str)
        assert (f">{p.name}</th>" in header) == bool((column != "–").any()), p.name

    items = dict(info.context.items)
    assert items["base accelerator"].startswith("the preset named by each design's pe_type")


def test_context_names_the_stand_in_tensors(small_spec_dict):
    from dse.report.info import _accuracy_text
    from dse.study.spec import parse_spec

    d = {**small_spec_dict, "accuracy": {"source": "tensors", "n_tensors": 2}}
    text = _accuracy_text(parse_spec(d))
    assert "all-MiniLM-L6-v2" in text and "SmolLM2-135M" in text
