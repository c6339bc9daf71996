"""How far an operator's output may overlap its input in the arena: the limits
the memory planner (edgemb/export/planner.py) is given for each layer."""

from __future__ import annotations

# Overlap rules: how far an operator's output may run into its input's bytes
# (planner.Overlap: offset(out) - offset(in) <= max_shift). Each follows the exact
# order of reads and writes of the kernels the generator may pick for the layer;
# tests/test_native_planner.py replays those orders byte by byte.

NO_LIMIT = 1 << 40  # every input byte is read before the first output byte is written


def pointwise_max_shift(pixels: int, in_c: int, out_c: int) -> int:
    """A 1x1 stride-1 unpadded CONV_2D (em_conv_s8 and em_conv_fast_s8, C and assembly)
    takes output pixels in pairs: it copies both pixels' inputs (pixel i at bytes
    [i * in_c, (i + 1) * in_c), read directly or through the gather row) into the
    scratch column, and only then writes both pixels' out_c outputs; a lone last pixel
    is read, then written. So after the pair that ends at pixel n (n even, n < pixels)
    writes bytes up to shift + n * out_c, the bytes still to be read start at
    n * in_c: shift <= n * (in_c - out_c) for every such n. With out_c <= in_c that
    is shift <= 2 * (in_c - out_c) (the output may start where the input starts);
    with out_c > in_c the last such n binds, and an output that ends where the input
    ends (shift = pixels * (in_c - out_c)) always fits."""
    ends = range(2, pixels, 2)
    if not ends:
        return NO_LIMIT
    n = ends[0] if out_c <= in_c else ends[-1]
    return n * (in_c - out_c)


def dw_ring_max_shift(in_h: int, in_row: int, out_h: int, out_row: int, stride: int,
                      pad_h: int) -> int:
    """em_dwconv3x3_fast_s8 (batch 1) copies each input row once into its three-row
    ring of pair rows and writes output row oy (bytes [oy, oy + 1) * out_row) only
    after the ring holds all three of its kernel rows, oy * stride - pad_h + 0..2; rows
    already in the ring are never read again (stride 1 and 2 build each row once). So
    writing row oy must leave input rows from y = oy * stride - pad_h + 3 on intact:
    shift + (oy + 1) * out_row <= y * in_row whenever y < in_h. At stride 1 with
    padding 1 that is one input row of slack: the output may start where the input
    starts."""
    shifts = [(oy * stride - pad_h + 3) * in_row - (oy + 1) * out_row
              for oy in range(out_h) if oy * stride - pad_h + 3 < in_h]
    return min(shifts, default=NO_LIMIT)
