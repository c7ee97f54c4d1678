"""What each of acnet's data-loader worker processes runs first."""

from __future__ import annotations

import sys
from types import TracebackType


def init_worker(worker_id: int) -> None:
    """Keep a worker quiet when the main process stops taking its batches (Ctrl-C).

    Workers hand tensors over by file descriptor through multiprocessing's
    resource sharer. When the main process is interrupted in the middle of
    a hand-over, the worker's sharer thread meets ConnectionResetError or
    BrokenPipeError and prints its traceback under ``acnet: interrupted``.
    Those two errors, from that thread only, are dropped; anything else is
    reported as before.
    """
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, (ConnectionResetError, BrokenPipeError)) and _in_resource_sharer(tb):
            return
        previous(kind, value, tb)

    sys.excepthook = hook


def _in_resource_sharer(tb: TracebackType | None) -> bool:
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.replace("\\", "/").endswith("multiprocessing/resource_sharer.py"):
            return True
        tb = tb.tb_next
    return False
