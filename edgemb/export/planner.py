"""Static memory plan for the native runtime's activation arena.

Every buffer has a size and a lifetime [first, last] in operator steps (inclusive).
Buffers are placed greedily from the largest down, each at the lowest aligned
offset where it overlaps no already-placed buffer that is alive at the same time
(the strategy of TFLite Micro's GreedyMemoryPlanner). The arena's size is the
highest end offset.

Overlap rules relax that for one pair of buffers: an operator whose kernel reads its
input strictly ahead of where it writes its output (a 1x1 convolution walking pixels
in order, a depthwise convolution copying input rows into a ring before it writes the
output row) declares `Overlap(out, inp, max_shift)`: the output may overlap the input
as long as offset(out) - offset(inp) <= max_shift. The input must die at the step
where the output is born, so no other step sees the two overlap. The kernel-specific
arithmetic that gives max_shift lives with the generator (edgemb/export/native.py);
the planner only places and checks.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Buffer:
    name: str
    size: int
    first: int
    last: int


@dataclass(frozen=True)
class Overlap:
    """Buffer `out` may share bytes with buffer `inp` when
    offset(out) - offset(inp) <= max_shift (negative: the output starts before)."""
    out: str
    inp: str
    max_shift: int


@dataclass(frozen=True)
class Plan:
    offsets: dict[str, int]
    arena_bytes: int
    alignment: int

    def end(self, buf: Buffer) -> int:
        return self.offsets[buf.name] + buf.size


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def _rules(buffers: list[Buffer], overlaps) -> dict[tuple[str, str], int]:
    """(out, inp) -> max_shift, after checking each rule's lifetimes."""
    by_name = {b.name: b for b in buffers}
    rules: dict[tuple[str, str], int] = {}
    for r in overlaps:
        o, i = by_name.get(r.out), by_name.get(r.inp)
        if o is None or i is None or o is i:
            raise ValueError(f"overlap rule {r} names unknown or identical buffers")
        if i.last != o.first:
            raise ValueError(f"overlap rule {r}: the input must die where the output is born "
                             f"(input last {i.last}, output first {o.first})")
        rules[(r.out, r.inp)] = min(r.max_shift, rules.get((r.out, r.inp), r.max_shift))
    return rules


def _forbidden(b: Buffer, o: Buffer, off_o: int, rules) -> tuple[int, int]:
    """Offsets x with lo < x < hi would make b collide with o placed at off_o; every
    other offset is fine (disjoint, or an overlap a rule allows)."""
    lo, hi = off_o - b.size, off_o + o.size
    if (b.name, o.name) in rules:  # b is the output: x - off_o <= shift
        lo = max(lo, off_o + rules[(b.name, o.name)])
    if (o.name, b.name) in rules:  # b is the input: off_o - x <= shift
        hi = min(hi, off_o - rules[(o.name, b.name)])
    return lo, hi


# Placement orders tried; the smallest arena wins. Largest first is TFLM's; latest
# first suits overlap chains, where each input is placed against its output (an
# expanding 1x1 convolution's input must sit at its output's end, and that output in
# turn near the start of the next depthwise convolution's input).
_ORDERS = {
    "largest first": lambda b: (-b.size, b.first, b.name),
    "latest first": lambda b: (-b.last, b.first, -b.size, b.name),
}


def plan(buffers: list[Buffer], alignment: int = 16, overlaps=()) -> Plan:
    """Offsets for the buffers; buffers alive at the same step never overlap, except
    as the overlap rules allow."""
    names = [b.name for b in buffers]
    if len(set(names)) != len(names):
        raise ValueError("buffer names must be unique")
    rules = _rules(buffers, overlaps)
    plans = [_first_fit(sorted(buffers, key=key), alignment, rules) for key in _ORDERS.values()]
    return min(plans, key=lambda p: p.arena_bytes)


def _first_fit(order: list[Buffer], alignment: int, rules) -> Plan:
    placed: list[tuple[int, Buffer]] = []
    offsets: dict[str, int] = {}
    for b in order:
        if b.size == 0:
            offsets[b.name] = 0
            continue
        bans = [_forbidden(b, o, off, rules) for off, o in placed
                if not (o.last < b.first or b.last < o.first)]
        bans = [(lo, hi) for lo, hi in bans if lo + 1 < hi]
        # the lowest fit is 0 or the aligned upper edge of some forbidden range
        for x in sorted({0, *(_align(max(hi, 0), alignment) for _, hi in bans)}):
            if all(x <= lo or x >= hi for lo, hi in bans):
                break
        offsets[b.name] = x
        placed.append((x, b))
    arena = max((off + b.size for off, b in placed), default=0)
    return Plan(offsets=offsets, arena_bytes=_align(arena, alignment), alignment=alignment)


def check(buffers: list[Buffer], p: Plan, overlaps=()) -> None:
    """Raises AssertionError if two buffers alive at the same step overlap where no
    rule allows it, or a rule's shift is exceeded."""
    rules = _rules(buffers, overlaps)
    for i, a in enumerate(buffers):
        for b in buffers[i + 1:]:
            if a.size == 0 or b.size == 0 or a.last < b.first or b.last < a.first:
                continue
            oa, ob = p.offsets[a.name], p.offsets[b.name]
            if oa + a.size <= ob or ob + b.size <= oa:
                continue
            if (a.name, b.name) in rules:
                assert oa - ob <= rules[(a.name, b.name)], f"{a.name} overlaps {b.name} too far"
            elif (b.name, a.name) in rules:
                assert ob - oa <= rules[(b.name, a.name)], f"{b.name} overlaps {a.name} too far"
            else:
                raise AssertionError(f"{a.name} overlaps {b.name}")
        assert p.offsets[a.name] % p.alignment == 0 or a.size == 0
        assert p.offsets[a.name] + a.size <= p.arena_bytes
