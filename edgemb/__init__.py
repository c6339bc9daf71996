"""edgemb: from a folder of images to a microcontroller that classifies them."""

__version__ = "0.1.0"
