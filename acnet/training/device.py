"""The one device resolver: a name from the command line or a config to a :class:`Device`.

``Device.parse`` (:mod:`acnet.runtime.backends.base`) is the spelling
(``cpu``, ``cuda``, ``cuda:N``) and needs no torch; this adds ``auto`` and,
for code that must run there, whether torch sees that GPU. torch is imported
only to answer those two questions, so ``acnet bench`` resolves ``auto`` on a
runtime-only install (as cpu).
"""

from __future__ import annotations

from acnet.errors import ConfigError
from acnet.runtime.backends.base import Device


def cuda_visible() -> bool:
    """Whether torch sees a CUDA GPU (False without torch)."""
    try:
        import torch  # not at the top: the benchmarks resolve "auto" without torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def resolve_device(name: str | Device, *, check: bool = True) -> Device:
    """``auto`` (CUDA when torch sees a GPU), ``cpu``, ``cuda`` or ``cuda:N``.

    With ``check``, a CUDA device torch cannot see is a ConfigError (training,
    evaluation, the parity reference need it); without, callers that report
    per backend what cannot run here (``acnet bench``) get the device as named.
    """
    if not isinstance(name, Device) and str(name).strip().lower() == "auto":
        return Device("cuda" if cuda_visible() else "cpu")
    try:
        device = Device.parse(name)
    except ConfigError:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if check and device.is_cuda:
        import torch  # not at the top: see cuda_visible

        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} asked for, but torch sees no CUDA device here; use cpu")
        if device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r} asked for, but torch sees {torch.cuda.device_count()} CUDA device(s)")
    return device
