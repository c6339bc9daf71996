"""Build and run generated native models on the host, and the TFLM reference.

    exe = build_host(model_bytes, workdir)            # cc -O2 ... main.c model_native.c kernels
    outs = run_host(exe, inputs)                      # inputs: (N, *shape) int8
    refs = run_tflm(model_bytes, inputs)
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from edgemb.export.native import generate_native

ROOT = Path(__file__).resolve().parents[2]
KERNELS = ROOT / "firmware" / "runtime" / "native"
HARNESS = Path(__file__).resolve().parent

CFLAGS = ["-O2", "-std=c99", "-Wall", "-Wextra", "-Werror"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g"]


def kernel_sources() -> list[Path]:
    """The kernel library (not the runner, which needs the firmware's platform layer)."""
    return sorted(p for p in KERNELS.glob("em_*.c") if p.name != "em_runner_native.c")


def cc() -> str:
    return os.environ.get("CC", "cc")


def kernel_objects(workdir: Path, sanitize: bool = False) -> list[Path]:
    """The kernels compiled once into workdir (reused by every model built there)."""
    workdir.mkdir(parents=True, exist_ok=True)
    objs = []
    for src in kernel_sources():
        obj = workdir / (src.stem + (".asan.o" if sanitize else ".o"))
        if not obj.exists() or obj.stat().st_mtime < src.stat().st_mtime:
            _cc([*CFLAGS, *(SANITIZE if sanitize else []), f"-I{KERNELS}", "-c", str(src),
                 "-o", str(obj)])
        objs.append(obj)
    return objs


def _cc(args: list[str]) -> None:
    r = subprocess.run([cc(), *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{cc()} {' '.join(args)}\n{r.stderr[-4000:]}")


def build_host(model: bytes, workdir: Path, sanitize: bool = False,
               objects: list[Path] | None = None, dump: bool = False, fast: bool = True) -> Path:
    """Generates the model's C code into workdir and compiles the stdin/stdout harness
    (portable C path) with -Wall -Wextra -Werror, optionally with ASan and UBSan.
    fast=False keeps every layer on the general kernels."""
    workdir.mkdir(parents=True, exist_ok=True)
    code = generate_native(model, fast=fast)
    code.write(workdir)
    exe = workdir / ("harness" + ("_asan" if sanitize else "") + ("_dump" if dump else ""))
    objs = objects if objects is not None else kernel_objects(workdir, sanitize)
    _cc([*CFLAGS, *(SANITIZE if sanitize else []), *(["-DEM_HARNESS_DUMP"] if dump else []),
         f"-I{KERNELS}", f"-I{workdir}",
         str(HARNESS / "main.c"), str(workdir / "model_native.c"), *map(str, objs),
         "-o", str(exe)])
    return exe


def _tensor_data(inputs) -> np.ndarray:
    """Inputs as given when they are int8, uint8 or float32 tensors, else as int8."""
    data = np.ascontiguousarray(inputs)
    if data.dtype not in (np.int8, np.uint8, np.float32):
        data = data.astype(np.int8)
    return data


def run_host(exe: Path, inputs: np.ndarray, out_bytes: int | None = None) -> np.ndarray:
    """The harness's output bytes (all outputs back to back) per input, as int8."""
    data = _tensor_data(inputs)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0", UBSAN_OPTIONS="halt_on_error=1")
    r = subprocess.run([str(exe)], input=data.tobytes(), capture_output=True, env=env,
                       timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"{exe.name} exited {r.returncode}: {r.stderr.decode()[-3000:]}")
    out = np.frombuffer(r.stdout, dtype=np.int8)
    return out.reshape(len(data), -1)


def compare_steps(model: bytes, exe_dump: Path, inputs: np.ndarray) -> list[str]:
    """Runs the dump harness and TFLM (keeping all tensors) and compares the output of
    every step; returns a description of each difference (empty when bit-exact)."""
    from tflite_micro import runtime

    summary = generate_native(model).summary
    sizes = [p["output_bytes"] for p in summary["ops"]]
    data = np.ascontiguousarray(inputs, dtype=np.int8)
    raw = run_host(exe_dump, data).reshape(len(data), -1)
    interp = runtime.Interpreter.from_bytes(
        model, arena_size=8 * 1024 * 1024,
        intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    problems = []
    for n, x in enumerate(data):
        interp.set_input(x[None, ...], 0)
        interp.invoke()
        pos = 0
        for p, size in zip(summary["ops"], sizes, strict=True):
            got = raw[n, pos:pos + size]
            pos += size
            want = np.asarray(interp.GetTensor(p["output_tensor"], 0)["tensor_data"]).reshape(-1)
            want = want.view(np.int8) if want.dtype != np.int8 else want
            if not np.array_equal(got, want):
                diff = int(np.abs(got.astype(int) - want.astype(int)).max())
                problems.append(f"input {n} step {p['index']} {p['op']}: "
                                f"{int((got != want).sum())} of {size} differ, max {diff}")
    return problems


def tflm_interpreter(model: bytes, arena_size: int | None = None):
    from tflite_micro import runtime

    return runtime.Interpreter.from_bytes(model, arena_size=arena_size or 4 * 1024 * 1024)


def run_tflm(model: bytes, inputs: np.ndarray) -> np.ndarray:
    """TFLite Micro's output bytes (all outputs back to back) per input, as int8: for an
    int8 model, its int8 outputs."""
    from edgemb.tflite import read_tflite

    interp = tflm_interpreter(model)
    n_outputs = len(read_tflite(model).outputs)
    outs = []
    for x in _tensor_data(inputs):
        interp.set_input(x[None, ...], 0)
        interp.invoke()
        blob = b"".join(np.ascontiguousarray(interp.get_output(i)).tobytes()
                        for i in range(n_outputs))
        outs.append(np.frombuffer(blob, np.int8))
    return np.stack(outs)


def tflm_min_arena(model: bytes, lo: int = 1024, hi: int = 8 * 1024 * 1024) -> int:
    """Smallest arena the TFLM interpreter accepts (its constructor raises below it)."""
    from tflite_micro import runtime

    def ok(n: int) -> bool:
        try:
            runtime.Interpreter.from_bytes(model, arena_size=n)
            return True
        except RuntimeError:
            return False

    if not ok(hi):
        raise RuntimeError("model does not fit an 8 MiB arena")
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def random_inputs(shape, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, size=(n, *shape), dtype=np.int8)


def have_cc() -> bool:
    return shutil.which(cc()) is not None


def structured_inputs(shape, n: int, seed: int) -> np.ndarray:
    """Images with low-frequency content and per-image brightness and contrast, whose
    classifier outputs vary more than those of i.i.d. noise."""
    rng = np.random.default_rng(seed)
    h, w, c = shape
    out = np.empty((n, h, w, c), dtype=np.int8)
    for i in range(n):
        g = rng.normal(size=(4, 4, c))
        ys = np.linspace(0, 3, h)
        xs = np.linspace(0, 3, w)
        y0 = np.clip(ys.astype(int), 0, 2)
        x0 = np.clip(xs.astype(int), 0, 2)
        fy = (ys - y0)[:, None, None]
        fx = (xs - x0)[None, :, None]
        img = (g[y0][:, x0] * (1 - fy) * (1 - fx) + g[y0 + 1][:, x0] * fy * (1 - fx)
               + g[y0][:, x0 + 1] * (1 - fy) * fx + g[y0 + 1][:, x0 + 1] * fy * fx)
        img = rng.uniform(-100, 100) + rng.uniform(10, 120) * img
        img += rng.normal(scale=rng.uniform(0, 30), size=img.shape)
        out[i] = np.clip(np.rint(img), -128, 127).astype(np.int8)
    return out


# ---------------------------------------------------------------------------
# Cortex-M4 under QEMU (mps2-an386)

QEMU_DIR = HARNESS / "qemu"
ARM_CC = "arm-none-eabi-gcc"
ARM_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O2",
             "-std=c99", "-Wall", "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections"]
TICK_INSTRUCTIONS = 40  # one 25 MHz SysTick tick under -icount shift=0 (checked by calib)


def have_qemu() -> bool:
    return shutil.which(ARM_CC) is not None and shutil.which("qemu-system-arm") is not None


def write_vectors(workdir: Path, inputs: np.ndarray) -> None:
    data = np.ascontiguousarray(inputs, dtype=np.int8).reshape(len(inputs), -1)
    (workdir / "vectors.h").write_text(
        "#include <stdint.h>\n"
        f"#define EM_TEST_INPUTS {len(data)}\n"
        f"extern const int8_t em_test_inputs[{len(data)}][{data.shape[1]}];\n")
    rows = ",\n".join("{" + ",".join(map(str, r.tolist())) + "}" for r in data)
    (workdir / "vectors.c").write_text(
        '#include "vectors.h"\n'
        f"const int8_t em_test_inputs[{len(data)}][{data.shape[1]}] = {{\n{rows}\n}};\n")


def arm_compile(sources: list[Path], workdir: Path, out: Path, extra: list[str] | None = None,
                link: bool = True) -> Path:
    args = [ARM_CC, *ARM_FLAGS, *(extra or []), f"-I{KERNELS}", f"-I{workdir}"]
    if link:
        args += ["--specs=nano.specs", "--specs=rdimon.specs", "-nostartfiles",
                 f"-T{QEMU_DIR / 'mps2_an386.ld'}", "-Wl,--gc-sections"]
    else:
        args += ["-c"]
    r = subprocess.run([*args, *map(str, sources), "-o", str(out)], capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}\n{r.stderr[-4000:]}")
    return out


def build_qemu(model: bytes, workdir: Path, inputs: np.ndarray, extra: list[str] | None = None,
               fast: bool = True) -> Path:
    """Firmware for QEMU mps2-an386 running the model on the embedded inputs."""
    workdir.mkdir(parents=True, exist_ok=True)
    generate_native(model, fast=fast).write(workdir)
    write_vectors(workdir, inputs)
    srcs = [QEMU_DIR / "startup.c", QEMU_DIR / "main.c", workdir / "vectors.c",
            workdir / "model_native.c", *kernel_sources()]
    return arm_compile(srcs, workdir, workdir / "fw.elf", extra)


def run_qemu(elf: Path, timeout: float = 600) -> dict:
    cmd = ["qemu-system-arm", "-M", "mps2-an386", "-cpu", "cortex-m4", "-display", "none",
           "-monitor", "none", "-serial", "none", "-icount", "shift=0",
           "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0 or "done" not in r.stdout:
        raise RuntimeError(f"qemu exited {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    res: dict = {"outputs": [], "ticks": [], "ops": []}
    for line in r.stdout.splitlines():
        parts = line.split()
        if parts[:1] == ["calib"]:
            res["calib"] = int(parts[1])
        elif parts[:1] == ["out"]:
            res["ticks"].append(int(parts[2]))
            res["outputs"].append(np.frombuffer(bytes.fromhex(parts[3]), dtype=np.int8))
        elif parts[:1] == ["ops"]:
            res["ops"] = [int(v) for v in parts[1:]]
    res["outputs"] = np.stack(res["outputs"])
    return res


# ---------------------------------------------------------------------------
# RV32IMC (the ESP32-C3's instruction set) under QEMU riscv32 virt

RISCV_DIR = HARNESS / "riscv"
RISCV_TARGET = ROOT / "firmware" / "targets" / "riscv32-virt"
RISCV_CC = "riscv64-unknown-elf-gcc"
RISCV_FLAGS = ["--specs=picolibc.specs", "-march=rv32imc_zicsr_zifencei", "-mabi=ilp32", "-O2",
               "-std=c99", "-Wall", "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections"]
# Where the harness finds its inputs (riscv/main.c): past the firmware's 8 MiB.
RISCV_BLOB_ADDRESS = 0x81000000


def have_riscv() -> bool:
    return (shutil.which(RISCV_CC) is not None and shutil.which("qemu-system-riscv32") is not None
            and Path("/usr/lib/picolibc/riscv64-unknown-elf/picolibc.specs").exists())


def build_riscv(model: bytes, workdir: Path, fast: bool = True) -> Path:
    """The harness for QEMU riscv32 virt, linked with the firmware target's own startup
    and memory map; its inputs are given at run time (run_riscv)."""
    workdir.mkdir(parents=True, exist_ok=True)
    generate_native(model, fast=fast).write(workdir)
    srcs = [RISCV_TARGET / "startup.S", RISCV_DIR / "main.c", workdir / "model_native.c",
            *kernel_sources()]
    objs = []
    for src in srcs:
        obj = workdir / f"rv32-{src.stem}.o"
        _riscv_cc([*RISCV_FLAGS, f"-I{KERNELS}", f"-I{workdir}", "-c", str(src), "-o", str(obj)])
        objs.append(obj)
    out = workdir / "fw-rv32.elf"
    # Linked for rv32imc, which gcc's multilib list maps to rv32im/ilp32's libgcc and
    # picolibc (the compile flags' rv32imc_zicsr_zifencei maps to none).
    _riscv_cc(["--specs=picolibc.specs", "-march=rv32imc", "-mabi=ilp32", "-nostartfiles",
               "--oslib=semihost", f"-T{RISCV_TARGET / 'riscv32_virt.ld'}", "-Wl,--gc-sections",
               *map(str, objs), "-o", str(out)])
    return out


def _riscv_cc(args: list[str]) -> None:
    r = subprocess.run([RISCV_CC, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{RISCV_CC} {' '.join(args)}\n{r.stderr[-4000:]}")


def run_riscv(elf: Path, inputs: np.ndarray, icount: bool = False, timeout: float = 900) -> dict:
    """Runs the harness on the inputs; with icount, 'instructions' are exact counts."""
    data = np.ascontiguousarray(inputs, dtype=np.int8).reshape(len(inputs), -1)
    blob = elf.with_suffix(".inputs.bin")
    blob.write_bytes(np.uint32(len(data)).tobytes() + data.tobytes())
    cmd = ["qemu-system-riscv32", "-M", "virt", "-bios", "none", "-display", "none",
           "-monitor", "none", "-serial", "none",
           "-semihosting-config", "enable=on,target=native",
           "-device", f"loader,file={blob},addr={RISCV_BLOB_ADDRESS:#x},force-raw=on",
           "-kernel", str(elf)]
    if icount:
        cmd += ["-icount", "shift=0"]
    # picolibc opens its semihosted stdout in append mode, which QEMU maps to stderr.
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout)
    if r.returncode != 0 or "done" not in r.stdout:
        raise RuntimeError(f"qemu exited {r.returncode}\n{r.stdout[-3000:]}")
    res: dict = {"outputs": [], "instructions": [], "ops": []}
    for line in r.stdout.splitlines():
        parts = line.split()
        if parts[:1] == ["out"]:
            res["instructions"].append(int(parts[2]))
            res["outputs"].append(np.frombuffer(bytes.fromhex(parts[3]), dtype=np.int8))
        elif parts[:1] == ["ops"]:
            res["ops"] = [int(v) for v in parts[1:]]
    res["outputs"] = np.stack(res["outputs"])
    return res
