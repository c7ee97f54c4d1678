"""Quieting libraries' loggers for a block (exporters, compilers and quantizers report every pass)."""

from __future__ import annotations

import contextlib
import logging


@contextlib.contextmanager
def quiet_loggers(*names: str, level: int = logging.WARNING):
    """Raise these loggers to ``level`` for the block (exporters and compilers report every pass below it)."""
    loggers = [logging.getLogger(n) for n in names]
    before = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(level, lg.getEffectiveLevel()))
    try:
        yield
    finally:
        for lg, lvl in zip(loggers, before):
            lg.setLevel(lvl)
