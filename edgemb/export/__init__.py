"""C sources for the firmware: the model as a C array, its settings, its op resolver,
and (runtime native) the ahead-of-time model code."""
