#!/usr/bin/env python3
"""Benchmark of the native runtime against TFLite Micro.

For each model (MobileNet V1 0.25 96x96x3, V2 0.35 96x96x3, V1 0.25 96x96x1, random
weights with calibrated batch-norm statistics, full int8):
  - activation arena: the native planner's peak vs TFLM's minimum arena (binary search
    on the tflite-micro interpreter, 64-bit host figures);
  - flash: arm-none-eabi-size (text + data) of the generated model and the kernels
    compiled for Cortex-M4 -O2, vs the .tflite size plus TFLM's code size, which is
    taken from the design brief's table (QEMU mps2-an386 build of TFLM, gcc 12.2);
  - instructions per inference in QEMU mps2-an386 (-icount shift=0: one 25 MHz SysTick
    tick = 40 instructions, verified by a calibration loop), and per MAC;
  - the same on RV32IMC, the ESP32-C3's instruction set, in QEMU riscv32 virt
    (-icount shift=0: minstret counts instructions exactly): the kernels' portable C
    path, which is what the C3 runs (ESP-NN has no C3 assembly either). TFLite Micro
    is not built for it: Debian's riscv64-unknown-elf toolchain has no C++ standard
    library, and TFLite Micro is C++17. For scale, the published ESP-NN person
    detection latency on the C3 (426 ms at 160 MHz, the same V1 0.25 96x96x1
    architecture with other weights) is printed as cycles beside it;
  - optionally (--verify N) bit-exactness on the host over N inputs.

    .venv/bin/python tools/bench_native.py [--verify 1000] [--ops] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "native_harness"))

import harness  # noqa: E402
import models  # noqa: E402
import numpy as np  # noqa: E402

from edgemb.export.native import generate_native  # noqa: E402
from edgemb.tflite import read_tflite, total_macs  # noqa: E402

# ESP-NN's published person detection invoke() on the ESP32-C3 (generic C kernels):
# 426 ms at 160 MHz, from the design brief. Cycles, not instructions.
ESP32C3_PERSON_DETECTION_CYCLES = 426e-3 * 160e6

# From the design brief (docs: TFLite Micro on QEMU mps2-an386, MLPerf Tiny VWW model).
TFLM_CODE = {"reference": (36.5 + 10.2) * 1024, "cmsis-nn": (80.6 + 12.2) * 1024}
TFLM_IPM = {"reference": 13.4, "cmsis-nn": 3.2}

MODELS = {
    "V1 0.25 96x96x3": models.V1_RECIPE,
    "V2 0.35 96x96x3": models.V2_RECIPE,
    "V1 0.25 96x96x1": models.V1_GREY_RECIPE,
}


def arm_flash(model: bytes, workdir: Path) -> dict:
    """text + data of the model and kernel objects compiled for Cortex-M4."""
    workdir.mkdir(parents=True, exist_ok=True)
    generate_native(model).write(workdir)
    sizes = {}
    for src in [workdir / "model_native.c", *harness.kernel_sources()]:
        obj = workdir / (src.stem + ".o")
        harness.arm_compile([src], workdir, obj, link=False)
        out = subprocess.run(["arm-none-eabi-size", str(obj)], capture_output=True, text=True,
                             check=True).stdout.splitlines()[1].split()
        sizes[src.name] = {"text": int(out[0]), "data": int(out[1]), "bss": int(out[2])}
    model_flash = sizes["model_native.c"]["text"] + sizes["model_native.c"]["data"]
    kernels = sum(v["text"] + v["data"] for k, v in sizes.items() if k != "model_native.c")
    return {"model": model_flash, "kernels": kernels, "total": model_flash + kernels}


def bench(name: str, recipe: dict, verify: int, workdir: Path) -> dict:
    b = models.tflite_model(recipe)
    m = read_tflite(b)
    shape = m.input_tensors[0].shape[1:]
    summary = generate_native(b).summary
    macs = total_macs(m)
    row = {"model": name, "tflite_bytes": len(b), "macs": macs,
           "native_arena": summary["arena_bytes"], "input_bytes": summary["input_bytes"],
           "tflm_arena": harness.tflm_min_arena(b)}
    row["flash"] = arm_flash(b, workdir / "size")
    x = np.concatenate([harness.structured_inputs(shape, 2, 1), harness.random_inputs(shape, 1, 1)])
    res = harness.run_qemu(harness.build_qemu(b, workdir / "qemu", x))
    if not np.array_equal(res["outputs"], harness.run_tflm(b, x)):
        raise SystemExit(f"{name}: QEMU outputs differ from TFLM")
    row["calib_ok"] = res["calib"] * harness.TICK_INSTRUCTIONS == 4_000_000
    row["instructions"] = int(np.median(res["ticks"])) * harness.TICK_INSTRUCTIONS
    row["ipm"] = row["instructions"] / macs
    row["ops"] = [
        {"op": p["op"], "macs": p["macs"], "instructions": t * harness.TICK_INSTRUCTIONS}
        for p, t in zip(summary["ops"], res["ops"], strict=True)]
    if harness.have_riscv():
        rv = harness.run_riscv(harness.build_riscv(b, workdir / "rv32"), x, icount=True)
        if not np.array_equal(rv["outputs"], harness.run_tflm(b, x)):
            raise SystemExit(f"{name}: RV32 outputs differ from TFLM")
        row["rv32_instructions"] = int(np.median(rv["instructions"]))
        row["rv32_ipm"] = row["rv32_instructions"] / macs
        for op, count in zip(row["ops"], rv["ops"], strict=True):
            op["rv32_instructions"] = count
    if verify:
        exe = harness.build_host(b, workdir / "host")
        half = verify // 2
        xs = np.concatenate([harness.random_inputs(shape, half, 3),
                             harness.structured_inputs(shape, verify - half, 4)])
        got, want = harness.run_host(exe, xs), harness.run_tflm(b, xs)
        row["verified"] = verify
        row["mismatches"] = int((got != want).any(axis=1).sum())
    return row


def table(rows: list[dict]) -> str:
    out = ["| model | native arena | TFLM min arena (host) | native flash (model + kernels) "
           "| .tflite + TFLM code (ref / CMSIS-NN) | instructions / inference | instr / MAC "
           "| RV32IMC instructions / inference | RV32 instr / MAC | host bit-exact |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        f = r["flash"]
        ref = r["tflite_bytes"] + TFLM_CODE["reference"]
        cm = r["tflite_bytes"] + TFLM_CODE["cmsis-nn"]
        exact = (f"{r['verified'] - r['mismatches']}/{r['verified']}" if "verified" in r
                 else "-")
        out.append(
            f"| {r['model']} | {r['native_arena']:,} B (+{r['input_bytes']:,} B input "
            f"in caller's buffer) | {r['tflm_arena']:,} B | {f['total']:,} B "
            f"({f['model']:,} + {f['kernels']:,}) | {ref:,.0f} / {cm:,.0f} B "
            f"| {r['instructions']:,} | {r['ipm']:.2f} (TFLM ref 13.4, CMSIS-NN 3.2) "
            f"| {r.get('rv32_instructions', 0):,} | {r.get('rv32_ipm', 0):.2f} | {exact} |")
    grey = [r for r in rows if r["model"].endswith("x1") and "rv32_instructions" in r]
    for r in grey:
        out.append(f"\n{r['model']} on RV32IMC: {r['rv32_instructions']:,} instructions; "
                   f"ESP-NN's published ESP32-C3 person detection: "
                   f"{ESP32C3_PERSON_DETECTION_CYCLES:,.0f} cycles (426 ms at 160 MHz), "
                   f"{ESP32C3_PERSON_DETECTION_CYCLES / r['rv32_instructions']:.1f} times as many "
                   "(cycles against instructions: an estimate, not a measurement on the chip)")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--verify", type=int, default=0, metavar="N",
                    help="also check N inputs bit-exact on the host")
    ap.add_argument("--ops", action="store_true", help="print per-operator instructions")
    ap.add_argument("--json", type=Path, help="write the results as JSON")
    ap.add_argument("--only", choices=sorted(MODELS), action="append")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgemb-bench-") as tmp:
        for i, (name, recipe) in enumerate(MODELS.items()):
            if args.only and name not in args.only:
                continue
            rows.append(bench(name, recipe, args.verify, Path(tmp) / str(i)))
    print(table(rows))
    if args.ops:
        for r in rows:
            print(f"\n{r['model']}")
            for k, op in enumerate(r["ops"]):
                ipm = op["instructions"] / op["macs"] if op["macs"] else 0
                rv = op.get("rv32_instructions", 0)
                rv_ipm = rv / op["macs"] if op["macs"] else 0
                print(f"  {k:3d} {op['op']:<20} {op['macs']:>9,} MACs "
                      f"{op['instructions']:>11,} instr  {ipm:6.2f}/MAC  "
                      f"RV32 {rv:>11,} instr  {rv_ipm:6.2f}/MAC")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
