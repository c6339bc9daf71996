"""A child process that tells whether TFLite Micro can allocate a model in N bytes.

TFLite Micro does not always fail cleanly on a too small arena: at some sizes a
kernel's Prepare dereferences a tensor the allocator could not create and the
process dies (seen at 32 KiB for MobileNet V1). Probing in a child keeps such a
crash out of the caller. Protocol: the model's path as argv[1]; one arena size per
line on stdin; "ok" or "fail" per line on stdout.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    from tflite_micro.python.tflite_micro import runtime

    model = open(sys.argv[1], "rb").read()
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # failed allocations print pages to fd 2
    for line in sys.stdin:
        try:
            runtime.Interpreter.from_bytes(model, arena_size=int(line))
            answer = "ok"
        except RuntimeError:
            answer = "fail"
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
