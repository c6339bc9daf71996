"""The generated runner: the model's steps in order over one static arena whose
offsets come from the memory planner, the model_native.c / model_native.h
templates, and the entry points generate_native, native_summary, write_native."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgemb.export import planner
from edgemb.export.native.errors import _unsupported
from edgemb.export.native.operators import OperatorEmitter
from edgemb.tflite.reader import Model, op_macs, read_tflite

ALIGN = 16  # every tensor in the arena, and the arena, start on 16 bytes


@dataclass
class NativeCode:
    c_source: str
    h_source: str
    summary: dict[str, Any]

    def write(self, out_dir: str | Path, stem: str = "model_native") -> tuple[Path, Path]:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        c, h = out / f"{stem}.c", out / f"{stem}.h"
        c.write_text(self.c_source)
        h.write_text(self.h_source)
        return c, h


class _Generator(OperatorEmitter):
    """The whole model: the operators in order, the memory plan, the C source."""

    # -- whole model --------------------------------------------------------
    def generate(self, prefix: str = "em_native") -> NativeCode:
        m = self.m
        if len(m.subgraphs) != 1:
            raise _unsupported(f"a model with {len(m.subgraphs)} subgraphs")
        if len(m.inputs) != 1:
            raise _unsupported(f"a model with {len(m.inputs)} inputs")
        in_t = m.input_tensors[0]
        # uint8 and float32 edges are converted by the graph's own QUANTIZE / DEQUANTIZE;
        # any other operator that meets them refuses them by name
        for t, role in [(in_t, "input")] + [(t, "output") for t in m.output_tensors]:
            if t.dtype not in ("int8", "uint8", "float32"):
                raise _unsupported(f"a {t.dtype} graph {role} ({t.name!r})")
        out_bytes = sum(t.nbytes for t in m.output_tensors)
        ops = self.live_ops()
        nodes = [self.node(op, k) for k, op in enumerate(ops)]
        nsteps = len(nodes)

        # storage roots: aliases and in-place outputs share their input's storage
        root: dict[int, int] = {}

        def find(ti: int) -> int:
            while root.get(ti, ti) != ti:
                ti = root[ti]
            return ti

        for nd in nodes:
            if nd.alias:
                root[nd.alias[0]] = find(nd.alias[1])
        # lifetimes per root
        first: dict[int, int] = {}
        last: dict[int, int] = {}

        def touch(ti: int, k: int):
            r = find(ti)
            first[r] = min(first.get(r, k), k)
            last[r] = max(last.get(r, k), k)

        input_root = find(m.inputs[0])
        for k, nd in enumerate(nodes):
            for ti in nd.reads + nd.writes:
                touch(ti, k)
        for ti in m.outputs:
            touch(ti, nsteps)
        # in-place: an element-wise op may write over its first input when nothing else
        # reads that input later and it is not the caller's input buffer
        for k, nd in enumerate(nodes):
            if not nd.in_place:
                continue
            src, dst = find(nd.reads[0]), find(nd.writes[0])
            if (src != input_root and src != dst and last.get(src) == k
                    and all(find(r) != src for r in nd.reads[1:])
                    and self.t[nd.reads[0]].nbytes == self.t[nd.writes[0]].nbytes):
                root[dst] = src
                first[src] = min(first[src], first.pop(dst))
                last[src] = max(last[src], last.pop(dst))
        # overlaps: an output may run into its input's bytes as its kernel's rule allows
        # (only where the input dies at that step and is not the caller's buffer)
        overlaps: dict[int, planner.Overlap] = {}  # by step
        for k, nd in enumerate(nodes):
            if nd.overlap is None:
                continue
            src, dst = find(nd.reads[0]), find(nd.writes[0])
            if src != input_root and src != dst and last[src] == k and first[dst] == k:
                overlaps[k] = planner.Overlap(f"t{dst}", f"t{src}", nd.overlap)
        buffers = []
        for r in sorted(first):
            if r == input_root:
                continue
            buffers.append(planner.Buffer(f"t{r}", self.t[r].nbytes, first[r], last[r]))
        for k, nd in enumerate(nodes):
            if nd.scratch:
                buffers.append(planner.Buffer(f"s{k}", nd.scratch, k, k))
        plan = planner.plan(buffers, ALIGN, list(overlaps.values()))
        planner.check(buffers, plan, list(overlaps.values()))
        size = {b.name: b.size for b in buffers}
        overlapped = {k for k, o in overlaps.items()  # steps whose output shares input bytes
                      if plan.offsets[o.out] < plan.offsets[o.inp] + size[o.inp]
                      and plan.offsets[o.inp] < plan.offsets[o.out] + size[o.out]}

        def ptr(ti: int, const: bool) -> str:
            r = find(ti)
            if r == input_root:
                return "in" if const else "(int8_t *)in"
            return f"(arena + {plan.offsets[f't{r}']})"

        def arena_offset(ti: int) -> int:
            r = find(ti)
            return -1 if r == input_root else plan.offsets[f"t{r}"]

        decls, funcs, per_op = [], [], []
        weights = 0
        for k, nd in enumerate(nodes):
            decls.extend(nd.decls)
            weights += nd.weights_bytes
            fields = {"out": ptr(nd.writes[0], False),
                      "scratch": f"(arena + {plan.offsets.get(f's{k}', 0)})"}
            for j, ti in enumerate(nd.reads):
                fields[f"in{j}"] = ptr(ti, True)
            call = nd.call.format(**fields)
            funcs.append(f"static void op{k}(const int8_t *in) {{\n  (void)in;\n  {call}\n}}\n")
            out_tensor = self.t[nd.writes[0]]
            per_op.append({
                "index": k, "op": nd.op.name, "tflite_index": nd.op.index,
                "output_tensor": nd.writes[0], "arena_offset": arena_offset(nd.writes[0]),
                "macs": op_macs(m, nd.op), "output_shape": list(out_tensor.shape),
                "output_bytes": out_tensor.nbytes, "scratch_bytes": nd.scratch,
                "weights_bytes": nd.weights_bytes,
                "aliased": bool(nd.alias) or find(nd.writes[0]) == find(nd.reads[0]),
                "overlapped": k in overlapped,
                "fast": nd.fast,
            })
        copies, offset = [], 0  # several outputs go back to back, in the model's order
        for ti in m.outputs:
            copies.append(f"memcpy(out + {offset}, {ptr(ti, True)}, {self.t[ti].nbytes});")
            offset += self.t[ti].nbytes
        copy_out = "\n  ".join(copies)
        codes = ", ".join(str(nd.code) for nd in nodes) or "0"
        arena = max(plan.arena_bytes, ALIGN)
        summary = {
            "arena_bytes": plan.arena_bytes,
            "weights_bytes": weights,
            "input_bytes": in_t.nbytes,
            "output_bytes": out_bytes,
            "op_count": nsteps,
            "macs": sum(p["macs"] for p in per_op),
            "ops": per_op,
        }
        header = _HEADER.format(
            prefix=prefix, PREFIX=prefix.upper(), in_bytes=in_t.nbytes, out_bytes=out_bytes,
            arena=plan.arena_bytes, ops=nsteps)
        source = _SOURCE.format(
            prefix=prefix, PREFIX=prefix.upper(), arena=arena, decls="".join(decls),
            funcs="".join(funcs), codes=codes, ops=max(nsteps, 1),
            table=", ".join(f"op{k}" for k in range(nsteps)) or "0",
            nsteps=nsteps, copy_out=copy_out,
            step_offsets=", ".join(str(p["arena_offset"]) for p in per_op) or "0",
            step_bytes=", ".join(str(p["output_bytes"]) for p in per_op) or "0",
            summary_comment=_summary_comment(summary))
        return NativeCode(c_source=source, h_source=header, summary=summary)


def _summary_comment(s: dict) -> str:
    lines = [f" * arena {s['arena_bytes']} bytes, weights and parameters {s['weights_bytes']} "
             f"bytes, {s['macs']} MACs"]
    for p in s["ops"]:
        lines.append(f" *   op{p['index']:<3} {p['op']:<20} out {p['output_shape']} "
                     f"macs {p['macs']}")
    return "\n".join(lines)


_HEADER = """\
/* Generated by edgemb (edgemb/export/native/). Do not edit. */
#ifndef {PREFIX}_MODEL_H
#define {PREFIX}_MODEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

#define {PREFIX}_INPUT_BYTES {in_bytes}
#define {PREFIX}_OUTPUT_BYTES {out_bytes}
#define {PREFIX}_ARENA_BYTES {arena}
#define {PREFIX}_OP_COUNT {ops}

/* TFLite BuiltinOperator code of each step of invoke. */
extern const uint8_t {prefix}_op_codes[];

/* One inference from the {in_bytes} input bytes to the {out_bytes} output bytes (several
 * outputs back to back, in the model's order). 0 on success. */
int {prefix}_invoke(const int8_t *in, int8_t *out);

/* The same, storing now() differences around each step in op_ticks when both are given. */
int {prefix}_invoke_timed(const int8_t *in, int8_t *out, uint32_t *op_ticks,
                          uint32_t (*now)(void));

/* The same, calling after_step with each step's output tensor (for tests). */
int {prefix}_invoke_debug(const int8_t *in, int8_t *out,
                          void (*after_step)(int step, const int8_t *data, uint32_t bytes));

#ifdef __cplusplus
}}
#endif

#endif
"""

_SOURCE = """\
/* Generated by edgemb (edgemb/export/native/). Do not edit.
{summary_comment}
 */
#include <string.h>

#include "em_nn.h"
#include "model_native.h"

#if defined(__GNUC__)
#define EM_ALIGN(n) __attribute__((aligned(n)))
#else
#define EM_ALIGN(n)
#endif

static int8_t arena[{arena}] EM_ALIGN(16);

{decls}
{funcs}
const uint8_t {prefix}_op_codes[{ops}] = {{{codes}}};

typedef void (*em_step_t)(const int8_t *in);
static const em_step_t steps[{ops}] = {{{table}}};

int {prefix}_invoke_timed(const int8_t *in, int8_t *out, uint32_t *op_ticks,
                          uint32_t (*now)(void)) {{
  const int timed = op_ticks != 0 && now != 0;
  uint32_t t0 = timed ? now() : 0u;
  for (int i = 0; i < {nsteps}; ++i) {{
    steps[i](in);
    if (timed) {{
      const uint32_t t1 = now();
      op_ticks[i] = t1 - t0;
      t0 = t1;
    }}
  }}
  {copy_out}
  return 0;
}}

int {prefix}_invoke(const int8_t *in, int8_t *out) {{
  return {prefix}_invoke_timed(in, out, 0, 0);
}}

/* Where each step leaves its output (-1: the caller's input buffer), for tests. */
static const int32_t step_offsets[{ops}] = {{{step_offsets}}};
static const uint32_t step_bytes[{ops}] = {{{step_bytes}}};

int {prefix}_invoke_debug(const int8_t *in, int8_t *out,
                          void (*after_step)(int step, const int8_t *data, uint32_t bytes)) {{
  for (int i = 0; i < {nsteps}; ++i) {{
    steps[i](in);
    after_step(i, step_offsets[i] < 0 ? in : arena + step_offsets[i], step_bytes[i]);
  }}
  {copy_out}
  return 0;
}}
"""


def generate_native(model: Model | str | Path | bytes, prefix: str = "em_native",
                    fast: bool = True) -> NativeCode:
    """C code for one model; raises UnsupportedOperatorError for what it cannot run.
    fast=False keeps every layer on the general kernels (for tests and comparisons)."""
    if not isinstance(model, Model):
        model = read_tflite(model)
    return _Generator(model, fast=fast).generate(prefix)


def native_summary(model: Model | str | Path | bytes) -> dict[str, Any]:
    """arena_bytes, weights_bytes and the per-operator list of the generated code."""
    return generate_native(model).summary


def write_native(model: Model | str | Path | bytes, out_dir: str | Path) -> dict[str, Any]:
    """Writes model_native.c and model_native.h into out_dir; returns the summary."""
    code = generate_native(model)
    code.write(out_dir)
    return code.summary
