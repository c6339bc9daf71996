"""Every target edgemb knows, by name."""

from __future__ import annotations

from edgemb.targets.base import Target, TargetError
from edgemb.targets.esp32 import ESP_TARGETS
from edgemb.targets.make_targets import HostTarget, Mps2An386Target, Riscv32VirtTarget

_TARGETS: dict[str, type[Target]] = {
    HostTarget.name: HostTarget,
    Mps2An386Target.name: Mps2An386Target,
    Riscv32VirtTarget.name: Riscv32VirtTarget,
    **ESP_TARGETS,
}


def target_names() -> list[str]:
    return list(_TARGETS)


def get_target(name: str) -> Target:
    if name not in _TARGETS:
        raise TargetError(f"unknown target {name!r}; choose one of {', '.join(_TARGETS)}")
    return _TARGETS[name]()
