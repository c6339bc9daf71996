"""Datasets: where images come from, how they are split, and how they reach the model."""

from edgemb.data.imageset import ImageSet
from edgemb.data.source import load_source

__all__ = ["ImageSet", "load_source"]
