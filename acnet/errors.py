"""Typed exceptions shared by every part of acnet.

The library raises these; the CLI turns any :class:`AcnetError` into a single
line on stderr and exit code 2, never a traceback. Each subclass names a kind
of bad input so callers can catch exactly what they can handle.
"""

from __future__ import annotations


class AcnetError(Exception):
    """Base class for every error acnet reports to a user."""

    exit_code = 2


class ConfigError(AcnetError, ValueError):
    """A configuration value is invalid (unknown backbone, bad size, ...)."""


class InputError(AcnetError, ValueError):
    """An array handed to the model or runtime has the wrong shape, dtype or values."""


class CheckpointError(AcnetError):
    """A checkpoint is missing, truncated, foreign or does not fit the model."""


class ModelFileError(AcnetError):
    """An ONNX model, engine or other artefact is missing, corrupt or foreign."""


class DataError(AcnetError):
    """A dataset file is missing, unreadable or inconsistent."""


class BackendUnavailableError(AcnetError):
    """A requested backend (TensorRT, CUDA, ...) is not installed or usable here."""


class ParityError(AcnetError):
    """An exported model disagrees with the PyTorch reference beyond tolerance."""


class TrainingError(AcnetError):
    """Training cannot continue (NaN loss, ...); the last good checkpoint is kept."""
