"""The ``acnet`` command line.

Subcommands live beside the code they drive and are imported only when run,
so ``acnet infer`` works on a runtime-only install without torch. Any
:class:`acnet.errors.AcnetError` becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

import acnet
from acnet.errors import AcnetError

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
    "bench": ("acnet.benchmarks.cli:bench", "measure latency and throughput per backend"),
    "parity": ("acnet.benchmarks.cli:parity", "compare exported models with PyTorch (logits, agreement, mIoU)"),
    "capi": ("acnet.runtime.capi:capi", "build the C ABI library and example"),
}

#: Extras that provide the imports a command may miss.
_EXTRA_FOR = {"torch": "train", "torchvision": "train", "onnx": "train", "h5py": "train", "tensorrt": "tensorrt-cu12"}


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

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AcnetError as exc:
            click.echo(f"acnet: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("acnet: interrupted", err=True)
            sys.exit(130)


def _missing_dependency_command(name: str, help_text: str, exc: ImportError) -> click.Command:
    missing = (exc.name or "").split(".")[0]
    extra = _EXTRA_FOR.get(missing)
    hint = f"pip install 'acnet[{extra}]'" if extra else "reinstall acnet"

    @click.command(name, help=help_text, context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def unavailable(args):
        click.echo(f"acnet: error: `acnet {name}` needs {missing or 'a missing module'}, which is not installed; {hint}", err=True)
        sys.exit(2)

    return unavailable


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(acnet.__version__, prog_name="acnet")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """ACNet RGB-D semantic segmentation: train, export, deploy, benchmark."""
    level = logging.WARNING - 10 * min(verbose + 1, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


if __name__ == "__main__":  # pragma: no cover
    main()
