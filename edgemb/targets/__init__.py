"""Firmware targets: one module per board, each writing, building and running a
self-contained firmware project."""

from edgemb.targets.base import BuildResult, Target, TargetError
from edgemb.targets.registry import get_target, target_names

__all__ = ["BuildResult", "Target", "TargetError", "get_target", "target_names"]
