"""Static memory plan for the native runtime's activation arena.

Every buffer has a size and a lifetime [first, last] in operator steps (inclusive).
Buffers are placed greedily from the largest down, each at the lowest aligned
offset where it overlaps no already-placed buffer that is alive at the same time
(the strategy of TFLite Micro's GreedyMemoryPlanner). The arena's size is the
highest end offset.
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
class Plan:
    offsets: dict[str, int]
    arena_bytes: int
    alignment: int

    def end(self, buf: Buffer) -> int:
        return self.offsets[buf.name] + buf.size


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def plan(buffers: list[Buffer], alignment: int = 16) -> Plan:
    """Offsets for the buffers; buffers alive at the same step never overlap."""
    names = [b.name for b in buffers]
    if len(set(names)) != len(names):
        raise ValueError("buffer names must be unique")
    order = sorted(buffers, key=lambda b: (-b.size, b.first, b.name))
    placed: list[tuple[int, int, Buffer]] = []  # (offset, end, buffer)
    offsets: dict[str, int] = {}
    for b in order:
        if b.size == 0:
            offsets[b.name] = 0
            continue
        live = sorted(
            (off, end) for off, end, o in placed if not (o.last < b.first or b.last < o.first)
        )
        candidate = 0
        for off, end in live:
            if candidate + b.size <= off:
                break
            candidate = max(candidate, _align(end, alignment))
        offsets[b.name] = candidate
        placed.append((candidate, candidate + b.size, b))
    arena = max((end for _, end, _ in placed), default=0)
    return Plan(offsets=offsets, arena_bytes=_align(arena, alignment), alignment=alignment)


def check(buffers: list[Buffer], p: Plan) -> None:
    """Raises AssertionError if two buffers alive at the same step overlap."""
    for i, a in enumerate(buffers):
        for b in buffers[i + 1:]:
            if a.size == 0 or b.size == 0 or a.last < b.first or b.last < a.first:
                continue
            oa, ob = p.offsets[a.name], p.offsets[b.name]
            assert oa + a.size <= ob or ob + b.size <= oa, f"{a.name} overlaps {b.name}"
        assert p.offsets[a.name] % p.alignment == 0 or a.size == 0
        assert p.offsets[a.name] + a.size <= p.arena_bytes
