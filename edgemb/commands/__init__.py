"""One module per `edgemb` command (train, quantize, inspect, build, flash, verify,
demo): each runs what its command does, and edgemb.cli only parses arguments and
prints. The work itself is done by the libraries beside this package: data/,
model/, tflite/, export/, link/, targets/, report/, and run.py, reference.py."""
