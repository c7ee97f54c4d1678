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


class ClosedError(AcnetError, ValueError):
    """An object was used after ``close()`` (a Segmenter, a source): open a new one."""


class OutputError(AcnetError, OSError):
    """A result cannot be written: the path is unwritable, under a file, on a full or read-only disk."""


def first_line(what: BaseException | str, empty: str | None = None) -> str:
    """The first line of an exception's message (or of a text), for one-line errors and reasons.

    Libraries' messages run to tracebacks and hints over many lines; a user's
    error line quotes only the first. ``empty`` stands in for a blank message
    (default: an exception's type name).
    """
    text = str(what).strip()
    if text:
        return text.splitlines()[0].strip()
    if empty is not None:
        return empty
    return type(what).__name__ if isinstance(what, BaseException) else ""


def original_message(exc: BaseException) -> str:
    """The message of ``exc`` as raised, without torch's DataLoader-worker wrapping.

    torch re-raises a worker's exception as the same type with the text
    ``Caught X in DataLoader worker process N.\\nOriginal Traceback ...``
    ending in ``module.X: message``; the user needs only that message.
    """
    text = str(exc)
    if not text.startswith("Caught ") or "\nOriginal Traceback" not in text:
        return text
    kind = type(exc)
    for prefix in (f"{kind.__module__}.{kind.__qualname__}: ", f"{kind.__qualname__}: "):
        at = text.rfind("\n" + prefix)
        if at >= 0:
            return text[at + 1 + len(prefix):].strip()
    return text.splitlines()[-1].strip()


def unwrap_worker_errors(iterable):
    """Iterate ``iterable`` (a DataLoader), re-raising a worker's AcnetError with its own message."""
    iterator = iter(iterable)
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except AcnetError as exc:
            message = original_message(exc)
            if message == str(exc):
                raise
            raise type(exc)(message) from None
        yield item
