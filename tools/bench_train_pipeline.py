#!/usr/bin/env python3
"""What edgemb's input pipeline costs: images/s of training through `make_dataset`
(resize, cache, shuffle, augmentation, prefetch) against a bare `model.fit` on
in-memory float arrays of the same model and batch size, measured in the same run.

    .venv/bin/python tools/bench_train_pipeline.py [--images 4096] [--batch-size 64]

Goal: the pipeline costs at most 10 % (ratio >= 0.90).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from edgemb.data.fashion_mnist import load_fashion_mnist  # noqa: E402
from edgemb.data.pipeline import make_dataset, normalize, pixels_numpy  # noqa: E402
from edgemb.model import training  # noqa: E402
from edgemb.model.builders import build_model  # noqa: E402


def images_per_second(model, fit_args: dict, count: int, epochs: int) -> float:
    model.fit(**fit_args, epochs=1, verbose=0)  # warm-up: tracing, cache fill
    started = time.perf_counter()
    model.fit(**fit_args, epochs=epochs, verbose=0)
    return count * epochs / (time.perf_counter() - started)


def fresh_model(args, steps):
    model = build_model("mobilenet_v1", 10, 0.25, args.size)
    training.compile_model(model, training.FitPlan(args.epochs + 1, steps, None, None))
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()

    data = load_fashion_mnist()
    images, labels = data.images[:args.images], data.labels[:args.images]
    steps = -(-args.images // args.batch_size)

    arrays = normalize(pixels_numpy(images, args.size)).numpy()
    bare = images_per_second(fresh_model(args, steps), dict(
        x=arrays, y=labels, batch_size=args.batch_size, shuffle=True), args.images, args.epochs)
    del arrays
    dataset = make_dataset(images, labels, args.size, args.batch_size, training=True)
    piped = images_per_second(fresh_model(args, steps), dict(x=dataset, shuffle=False),
                              args.images, args.epochs)

    print(f"bare model.fit on in-memory arrays: {bare:8.1f} images/s")
    print(f"edgemb train input pipeline:        {piped:8.1f} images/s")
    print(f"ratio (pipeline / bare):            {piped / bare:8.3f}  (goal >= 0.90)")


if __name__ == "__main__":
    np.random.seed(0)
    main()
