"""Compare hwmodel with ZigZag (``zigzag-dse``) on ZigZag's ``tpu_like`` preset.

By default the ZigZag figures are the measurements quoted in the project's ``hardware.md`` §4
(zigzag-dse 3.9.1, ``opt="latency"``, ``lpf_limit=6``). With ``--run`` the script runs ZigZag
itself; install it in its own virtual environment (``pip install zigzag-dse six``), never into
the main one.

hwmodel is configured to resemble ``tpu_like`` (KULeuven-MICAS/zigzag,
``zigzag/inputs/hardware/tpu_like.yaml``): a 32x32 weight-stationary INT8 array with
0.04 pJ per MAC, one 2 MB SRAM (split here into three buffers of 2/3 MiB) at 416.16 / 378.4 pJ
per 2048-bit access, and DRAM at 64 bits per cycle, 700 / 750 pJ per 64-bit access.

Usage: ``python scripts/crosscheck_zigzag.py [--run]``
"""

from __future__ import annotations

import argparse

from hwmodel import Gemm, accelerator_from_dict, evaluate
from hwmodel.pe import pe_from_dict

# hardware.md §4: ZigZag latency (cycles) and energy (pJ) on tpu_like
ZIGZAG_QUOTED = {
    (64, 64, 64): (1_343, 1.18e6),
    (1, 4096, 4096): (2_097_759, 1.47e9),
    (512, 4096, 4096): (8_969_277, 6.74e9),
    (2048, 2048, 128): (605_246, 5.78e8),
}


def tpu_like():
    pe = pe_from_dict(
        {
            "name": "tpu-like-int8",
            "description": "ZigZag tpu_like operational unit",
            "source": "KULeuven-MICAS/zigzag tpu_like.yaml operational_array.unit_energy 0.04 pJ",
            "technology_nm": 28,
            "clock_hz": 1_000_000_000,
            "area_um2": 1.0,
            "leakage_uw": 0.0,
            "modes": [
                {"weight_bits": 8, "act_bits": 8, "macs_per_cycle": 1.0, "energy_pj_per_mac": 0.04}
            ],
        }
    )
    third = (2 << 20) // 3
    return accelerator_from_dict(
        {
            "name": "tpu_like",
            "description": "hwmodel approximation of ZigZag's tpu_like",
            "source": "KULeuven-MICAS/zigzag zigzag/inputs/hardware/tpu_like.yaml",
            "pe": "tpu-like-int8.yaml",
            "clock_hz": 1_000_000_000,
            # SCALE-Sim's fold rule, as the figures in docs/hwmodel.md were measured
            "array": {"rows": 32, "cols": 32, "dataflow": "ws", "gemv_path": "scalesim"},
            "buffers": {
                "weight_bytes": third,
                "act_bytes": third,
                "out_bytes": third,
                "double_buffered": True,
                "read_pj_per_bit": 416.16 / 2048,
                "write_pj_per_bit": 378.4 / 2048,
                "area_um2_per_kib": 1734.0,  # not compared (the presets' [U] figure)
            },
            "dram": {
                "bw_bytes_per_cycle": 8.0,
                "read_pj_per_bit": 700 / 64,
                "write_pj_per_bit": 750 / 64,
                "background_mw": 0.0,  # ZigZag charges no DRAM background power
                "capacity_bytes": 8 << 30,
            },
            "overlap": "max",
            "default_precision": {
                "weight_bits": 8,
                "weight_bits_per_element": 8.0,
                "act_bits": 8,
                "kv_bits": 8,
                "kv_bits_per_element": 8.0,
                "group_size": 64,
            },
        },
        pe=pe,
    )


def zigzag_gemm_workload(m: int, n: int, k: int) -> list[dict]:
    """ZigZag dict workload for an (M, N, K) GEMM: ``O[b][k] += W[k][c] * I[b][c]``.

    The name and ``operator_type`` ("Gemm") match no named entry of ``tpu_like``'s mapping,
    so ZigZag uses its ``default`` entry (D1: K 32, D2: C 32; links O: O, W: I2, I: I1).
    Partial sums are 16-bit: ``tpu_like``'s output register file ``rf_2B`` holds 16 bits per
    MAC, so ``O: 32`` fits no memory level and LOMA raises
    ``NoValidLoopOrderingFoundException``. ``operand_source`` pointing at the layer itself marks
    I as a constant operand (no producer layer).
    """
    return [
        {
            "id": 0,
            "name": f"gemm_{m}x{n}x{k}",
            "operator_type": "Gemm",
            "equation": "O[b][k]+=W[k][c]*I[b][c]",
            "loop_dims": ["B", "K", "C"],
            "loop_sizes": [m, n, k],
            "operand_precision": {"W": 8, "I": 8, "O": 16, "O_final": 8},
            "operand_source": {"I": 0},
        }
    ]


def run_zigzag(m: int, n: int, k: int) -> tuple[float, float]:  # pragma: no cover - optional
    """Latency (cycles) and energy (pJ) from ZigZag itself (needs zigzag-dse and six)."""
    import importlib.resources as res
    import logging
    import tempfile

    try:
        from zigzag.api import get_hardware_performance_zigzag
    except ImportError as exc:
        raise SystemExit(
            f"ZigZag is not importable ({exc}): pip install zigzag-dse six (own venv)"
        ) from exc

    # ZigZag configures INFO logging on the root logger unless it is already configured
    logging.basicConfig(level=logging.WARNING)
    # "Operator Gemm not defined in mapping. Using default mapping instead." is expected here
    logging.getLogger("zigzag.parser.mapping_factory").setLevel(logging.ERROR)
    hw = str(res.files("zigzag") / "inputs" / "hardware" / "tpu_like.yaml")
    mapping = str(res.files("zigzag") / "inputs" / "mapping" / "tpu_like.yaml")
    # ZigZag writes JSON/pickle dumps; keep them out of the working directory
    with tempfile.TemporaryDirectory(prefix="zigzag-") as dump:
        try:
            energy, latency, _ = get_hardware_performance_zigzag(
                zigzag_gemm_workload(m, n, k),
                hw,
                mapping,
                opt="latency",
                lpf_limit=6,
                dump_folder=dump,
                loma_show_progress_bar=False,
            )
        except Exception as exc:  # noqa: BLE001 - report ZigZag failures in one line
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise SystemExit(
                f"ZigZag failed on GEMM {m}x{n}x{k}: {type(exc).__name__}: {first}"
            ) from exc
    return float(latency), float(energy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true", help="run ZigZag instead of quoting it")
    args = parser.parse_args()
    acc = tpu_like()
    print(
        f"{'GEMM':>16} {'ZZ cycles':>12} {'hw cycles':>12} {'ratio':>7} "
        f"{'ZZ pJ':>10} {'hw pJ':>10} {'ratio':>7}  hw bound"
    )
    for (m, n, k), quoted in ZIGZAG_QUOTED.items():
        zz_cycles, zz_pj = run_zigzag(m, n, k) if args.run else quoted
        cost = evaluate(acc, Gemm(m=m, n=n, k=k))
        print(
            f"{f'{m}x{n}x{k}':>16} {zz_cycles:>12,.0f} {cost.cycles:>12,} "
            f"{cost.cycles / zz_cycles:>7.3f} {zz_pj:>10.3g} {cost.energy_pj:>10.3g} "
            f"{cost.energy_pj / zz_pj:>7.3f}  {cost.bound}"
        )
        parts = ", ".join(
            f"{key} {v / cost.energy_pj:.0%}" for key, v in cost.energy_breakdown_pj.items() if v
        )
        print(f"{'':>16} energy split: {parts}")


if __name__ == "__main__":
    main()
