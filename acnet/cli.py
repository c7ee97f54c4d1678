"""The ``acnet`` command line.

Subcommands live beside the code they drive and are imported only when run,
so ``acnet infer`` works on a runtime-only install without torch. Any
:class:`acnet.errors.AcnetError`, OS error or click usage error becomes one
line ``acnet: error: ...`` on stderr and exit code 2 (progress bars cleared
first); Ctrl-C is ``acnet: interrupted`` and exit code 130, at once (see
:class:`_Interrupts`). Log lines
(warnings by default, ``-v`` for INFO) never glue to a progress bar. A warning,
from acnet or a library, is one line ``acnet: warning: ...``, the same form as
the error line.

A failing command prints its one error line and nothing else, so at the
default level warnings are held until the command ends: printed (on stderr,
after the command's output) when it succeeds, exits with its own code or is
interrupted; left out when it fails, where the error line says how many were
held back. Warnings then qualify a result the user has, instead of preceding
an error they do not explain. With ``-v`` every log line, warnings included,
is printed as it happens.
"""

from __future__ import annotations

import difflib
import errno
import importlib
import logging
import os
import signal
import sys
import threading
import warnings
from typing import NoReturn

import click

import acnet
from acnet.errors import AcnetError, original_message

#: command name -> "module:attribute" of its click command.
COMMANDS = {
    "quickstart": ("acnet.quickstart:quickstart", "train, evaluate, export, infer, check parity and benchmark on synthetic scenes"),
    "model": ("acnet.training.cli:model", "inspect the network (parameters, GMACs)"),
    "data": ("acnet.training.cli:data", "inspect datasets (normalisation statistics)"),
    "train": ("acnet.training.cli:train", "train ACNet"),
    "eval": ("acnet.training.cli:evaluate", "evaluate a checkpoint (mIoU, accuracies)"),
    "export": ("acnet.export.cli:export", "export a checkpoint to ONNX, TensorRT or AOTInductor"),
    "infer": ("acnet.runtime.cli:infer", "segment RGB-D images with an exported model"),
    "stream": ("acnet.runtime.stream_cli:stream", "segment a RealSense camera or recording, a ROS bag or a folder, pipelined"),
    "ros2": ("acnet.runtime.ros2.cli:ros2", "a live ROS 2 node: synced RGB-D image topics in, labels and confidence out"),
    "bench": ("acnet.benchmarks.cli:bench", "measure latency and throughput per backend"),
    "parity": ("acnet.benchmarks.cli:parity", "compare exported models with PyTorch (logits, agreement, mIoU)"),
    "capi": ("acnet.runtime.capi:capi", "build the C ABI library and example"),
}

#: How an error and a warning start, on stderr: the same form as the error line, so one pattern finds both.
WARNING_PREFIX = "acnet: warning: "
ERROR_PREFIX = "acnet: error: "

#: Extras that provide the imports a command may miss.
_EXTRA_FOR = {"torch": "train", "onnx": "train", "h5py": "train", "tensorrt": "tensorrt-cu12"}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use.

    ``commands`` maps a name to ``("module:attribute", one-line help)``.
    """

    def __init__(self, *args, commands: dict[str, tuple[str, str]] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = COMMANDS if commands is None else commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.lazy_commands)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.lazy_commands:
            return None
        target, help_text = self.lazy_commands[name]
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            return _missing_dependency_command(name, help_text, exc)
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help must not import torch just to print one-line summaries.
        with formatter.section("Commands"):
            formatter.write_dl([(name, self.lazy_commands[name][1]) for name in sorted(self.lazy_commands)])

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in self.lazy_commands:
            close = difflib.get_close_matches(name, list(self.lazy_commands), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; commands: {', '.join(sorted(self.lazy_commands))}"
            ctx.fail(f"no such command {name!r}{hint}")
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:  # before click turns it into "Aborted!"
            _interrupted()
        except ModuleNotFoundError as exc:
            missing = (exc.name or "").split(".")[0]
            if missing not in _EXTRA_FOR:
                raise
            name = ctx.invoked_subcommand or ctx.command_path
            _fail(_missing_message(name, missing), 2)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Run the command; every failure a user can cause ends as one ``acnet: error: ...`` line.

        click's own usage errors (a bad choice, a missing argument, a misspelt
        command) are reworded to that line too; ``--help`` is left as click prints it.
        """
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            with _Interrupts():
                self._main(args, prog_name, complete_var, **extra)
        finally:  # success, the command's own exit code, Ctrl-C, or a bug's traceback: the warnings are output
            print_held_warnings()

    def _main(self, args, prog_name, complete_var, **extra) -> NoReturn:
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()
            code = exc.exit_code
        except click.UsageError as exc:
            where = exc.ctx.command_path.partition(" ")[2] if exc.ctx is not None else ""
            helps = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
            _fail(f"{where + ': ' if where else ''}{_one_line(exc.format_message())}{helps}", 2)
        except click.ClickException as exc:
            _fail(_one_line(exc.format_message()), 2)
        except click.Abort:
            _interrupted()
        except AcnetError as exc:
            _fail(_one_line(original_message(exc)), exc.exit_code)
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # stdout closed early (`acnet ... | head`)
                sys.stderr.close()
                os._exit(1)
            if exc.errno is None:
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            _fail(f"{where}{exc.strerror or exc}", 2)
        sys.exit(code if isinstance(code, int) else 0)


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def close_progress_bars() -> None:
    """Clear the progress bars still open, so an error line starts on a line of its own."""
    tqdm_module = sys.modules.get("tqdm")
    if tqdm_module is None:
        return
    for bar in list(getattr(tqdm_module.tqdm, "_instances", ())):
        bar.leave = False
        bar.close()


def _fail(message: str, code: int, prefix: str = ERROR_PREFIX) -> NoReturn:
    """Print the one error line (the held warnings are left out, and counted) and exit."""
    close_progress_bars()
    sys.stdout.flush()
    handler = _handler()
    held = handler.drop_held() if handler is not None else 0
    if held:
        message += f" ({held} earlier warning{'s' if held > 1 else ''} not shown; -v shows {'them' if held > 1 else 'it'})"
    click.echo(f"{prefix}{message}", err=True)
    sys.exit(code)


def _interrupted() -> NoReturn:
    close_progress_bars()
    sys.stdout.flush()
    print_held_warnings()  # what was warned about before Ctrl-C stays true
    click.echo("acnet: interrupted", err=True)
    _exit_now(130)


def _exit_now(code: int) -> NoReturn:
    """Exit with ``code``, in a real process without the interpreter's shutdown.

    After Ctrl-C the shutdown is where things go wrong: data-loader workers
    are torn down while they hand tensors over (multiprocessing's resource
    sharer then prints a ConnectionResetError traceback after our line), or
    a join waits for a worker that will not come. The command's own
    ``finally`` blocks have run by now (checkpoints are written atomically,
    the run log is closed); the workers notice their parent is gone and exit.
    In-process (click's CliRunner, pytest capturing the streams) it raises
    SystemExit as usual.
    """
    if sys.stdout is sys.__stdout__ and sys.stderr is sys.__stderr__:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    sys.exit(code)


#: Seconds from Ctrl-C until the command ends even if its KeyboardInterrupt was lost.
INTERRUPT_GRACE_S = 10.0


class _Interrupts:
    """Ctrl-C while a command runs: KeyboardInterrupt as usual, and an exit that is sure to come.

    Python raises KeyboardInterrupt wherever the main thread is; raised in a
    destructor or a callback it is printed as "Exception ignored" and lost,
    and a training run would go on. So the first Ctrl-C also starts a timer
    that ends the process after :data:`INTERRUPT_GRACE_S` with the same line
    and exit code 130, and a second Ctrl-C ends it at once. Installed only
    from the main thread, and the previous handler is put back afterwards.
    """

    def __enter__(self) -> "_Interrupts":
        self.count = 0
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

    def _on_sigint(self, signum, frame) -> None:
        self.count += 1
        if self.count > 1:
            self._force()
        timer = threading.Timer(INTERRUPT_GRACE_S, self._force)
        timer.daemon = True
        timer.start()
        raise KeyboardInterrupt

    @staticmethod
    def _force() -> NoReturn:
        try:
            sys.stderr.write("acnet: interrupted\n")
        finally:
            _exit_now(130)


class _LogHandler(logging.Handler):
    """Log lines on stderr that print above open progress bars instead of gluing to them.

    With ``hold`` (the default level), lines wait in ``held`` until
    :meth:`print_held` prints them or :meth:`drop_held` drops them
    (not ``release``: :class:`logging.Handler` has one, for its lock).
    """

    def __init__(self, hold: bool = False) -> None:
        super().__init__()
        self.hold = hold
        self.held: list[str] = []
        self._pid = os.getpid()  # a data-loader worker (a fork) prints: it has no end of the command to wait for

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            if self.hold and os.getpid() == self._pid:
                self.held.append(line)
            else:
                _write_log_line(line)
        except Exception:  # logging must never raise
            self.handleError(record)

    def print_held(self) -> None:
        lines, self.held = self.held, []
        for line in lines:
            _write_log_line(line)

    def drop_held(self) -> int:
        count, self.held = len(self.held), []
        return count


class LineFormatter(logging.Formatter):
    """Each log record as one line: warnings (and worse) as ``acnet: warning: ...``; -v's info and debug
    lines as ``INFO logger: ...``. A message of several lines is joined into one, as the error line is."""

    def format(self, record: logging.LogRecord) -> str:
        message = _one_line(record.getMessage())
        if record.levelno >= logging.WARNING:
            return WARNING_PREFIX + message
        return f"{record.levelname} {record.name}: {message}"


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Python's ``warnings`` (a library's UserWarning, say) as one ``acnet: warning:`` line, held like the others."""
    where = f"{os.path.basename(filename)}:{lineno}" if filename else ""
    logging.getLogger("py.warnings").warning("%s (%s%s)", message, category.__name__, f" from {where}" if where else "")


def _write_log_line(line: str) -> None:
    tqdm_module = sys.modules.get("tqdm")
    if tqdm_module is not None and getattr(tqdm_module.tqdm, "_instances", None):
        tqdm_module.tqdm.write(line, file=sys.stderr)
    else:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _handler() -> _LogHandler | None:
    """The command line's log handler on the root logger (None in-process, where pytest or an app owns logging)."""
    return next((h for h in logging.getLogger().handlers if isinstance(h, _LogHandler)), None)


def print_held_warnings() -> None:
    """Print the warnings held so far (see the module docstring)."""
    handler = _handler()
    if handler is not None:
        sys.stdout.flush()
        handler.print_held()


def _missing_message(name: str, missing: str) -> str:
    extra = _EXTRA_FOR.get(missing)
    hint = f"pip install 'acnet[{extra}]'" if extra else "reinstall acnet"
    return f"`acnet {name}` needs {missing or 'a missing module'}, which is not installed; {hint}"


def _missing_dependency_command(name: str, help_text: str, exc: ImportError) -> click.Command:
    missing = (exc.name or "").split(".")[0]

    @click.command(name, help=help_text, context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def unavailable(args):
        _fail(_missing_message(name, missing), 2)

    return unavailable


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(acnet.__version__, prog_name="acnet")
@click.option("-v", "--verbose", count=True, help="More log output: -v what each step does, -vv also debug.")
def main(verbose: int) -> None:
    """ACNet RGB-D semantic segmentation: train, export, deploy, benchmark."""
    level = logging.WARNING - 10 * min(verbose, 2)
    handler = _handler()
    if handler is None:
        handler = _LogHandler()
        handler.setFormatter(LineFormatter())
        logging.basicConfig(level=level, handlers=[handler])  # a no-op where an app or pytest owns logging
        if _handler() is handler:  # ours: Python's warnings become our lines too
            warnings.showwarning = _show_warning
    else:  # a second command in one process
        logging.getLogger().setLevel(level)
    handler.hold = verbose == 0


if __name__ == "__main__":  # pragma: no cover
    main()
