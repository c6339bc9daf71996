"""The C text of the weights and parameters: constant arrays, dims and structs."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgemb.export.native.errors import _unsupported


def _chan_array(name: str, rows) -> str:
    body = ",\n  ".join("{" + ", ".join(str(int(v)) for v in r) + "}" for r in rows)
    return f"static const em_chan_t {name}[{len(rows)}] = {{\n  {body}\n}};\n"


def _c_array(ctype: str, name: str, values, per_line: int = 24, align: int = 4) -> str:
    vals = [str(int(v)) for v in np.asarray(values).ravel()]
    if not vals:
        vals = ["0"]
    lines = [", ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line)]
    body = ",\n  ".join(lines)
    return (f"static const {ctype} {name}[{len(vals)}] EM_ALIGN({align}) = {{\n  {body}\n}};\n")


def _dims(name: str, shape) -> str:
    n, h, w, c = shape
    return f"static const em_dims_t {name} = {{{n}, {h}, {w}, {c}}};\n"


def _struct(ctype: str, name: str, fields: dict[str, Any]) -> str:
    def fmt(v):
        if isinstance(v, (list, tuple)):
            return "{" + ", ".join(fmt(x) for x in v) + "}"
        return str(int(v)) if not isinstance(v, str) else v

    body = ", ".join(f".{k} = {fmt(v)}" for k, v in fields.items())
    return f"static const {ctype} {name} = {{{body}}};\n"


def _shape4(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    s = tuple(int(d) for d in shape)
    if len(s) > 4:
        raise _unsupported(f"a tensor of rank {len(s)}")
    return (1,) * (4 - len(s)) + s  # type: ignore[return-value]
