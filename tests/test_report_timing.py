"""Inference times are named for what they are: µs of a board's clock, or, under
QEMU -icount, instructions first and virtual µs."""

from edgemb.report.timing import timing_rows

BENCH = {"count": 10, "min_us": 35651, "mean_us": 35652, "max_us": 35653,
         "min_ticks": 356510, "mean_ticks": 356515, "max_ticks": 356520}
LATENCY = {"min": 35646.0, "median": 35656.0, "p95": 35660.0, "max": 35660.0}


def test_a_board_clock_gives_microseconds():
    summary = {"invoke_us": LATENCY, "boards": [{"port": "/dev/ttyUSB0", "bench": BENCH}]}
    assert timing_rows(summary) == [
        ("inference µs min / median / p95 / max", "35,646 / 35,656 / 35,660 / 35,660"),
        ("on-board repeat ×10 (/dev/ttyUSB0) µs min / mean / max", "35,651 / 35,652 / 35,653"),
    ]


def test_under_icount_instructions_come_first_and_microseconds_are_virtual():
    summary = {"invoke_us": LATENCY, "instructions_per_tick": 100,
               "invoke_instructions": {"min": 35_646_500, "median": 35_656_250,
                                       "p95": 35_660_005, "max": 35_660_800},
               "boards": [{"port": "socket://127.0.0.1:4000", "bench": BENCH},
                          {"port": "socket://127.0.0.1:4001", "bench": None}]}
    assert timing_rows(summary) == [
        ("emulator instructions per inference min / median / p95 / max",
         "35,646,500 / 35,656,250 / 35,660,005 / 35,660,800"),
        ("virtual µs (QEMU -icount clock) min / median / p95 / max",
         "35,646 / 35,656 / 35,660 / 35,660"),
        ("on-board repeat ×10 (socket://127.0.0.1:4000) instructions min / mean / max",
         "35,651,000 / 35,651,500 / 35,652,000"),
    ]
