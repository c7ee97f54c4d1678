"""Overlay videos (H.264 MP4 through PyAV) and a live window (Tk), for people to watch."""

from __future__ import annotations

import logging
import math
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from acnet._io import AtomicOutput
from acnet.errors import BackendUnavailableError, ConfigError

log = logging.getLogger(__name__)

#: Frame rates an MP4 can carry here: the rate is a fraction with a denominator up to 1001 and an int32 numerator.
MIN_FPS, MAX_FPS = 0.001, float(2**31 - 1)


def check_fps(fps: object, name: str = "fps") -> float:
    """``fps`` as a float a video can play at, or a ConfigError naming ``name``.

    Otherwise a negative or NaN rate fails inside the encoder (a libavcodec
    traceback, after the first frame), and zero or a tiny rate rounds to 0.
    """
    try:
        rate = float(fps) if not isinstance(fps, bool) else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        rate = None
    if rate is None:
        raise ConfigError(f"{name} must be a number of frames per second, got {fps!r}")
    if not (math.isfinite(rate) and MIN_FPS <= rate <= MAX_FPS):
        raise ConfigError(f"{name} must be a finite frame rate in [{MIN_FPS:g}, {MAX_FPS:.0f}] frames per second, got {rate:g}")
    return rate


class VideoWriter:
    """Frames (HxWx3 uint8) to an H.264 MP4 (yuv420p, plays everywhere), written beside and then renamed.

    Odd sizes are padded by one black row/column (yuv420p needs even ones).
    """

    def __init__(self, path: str | os.PathLike, fps: float = 30.0, crf: int = 20) -> None:
        fps = check_fps(fps)
        try:
            import av  # optional (acnet[stream]): only video output loads it
        except ImportError as exc:
            raise BackendUnavailableError(f"writing a video needs PyAV (pip install 'acnet[stream]'): {exc}") from None
        self.av = av
        self.path = Path(path)
        self.container = None
        self.output = AtomicOutput(self.path, suffix=".mp4")  # a full disk names overlay.mp4, not the hidden file
        self.tmp = self.output.tmp
        with self.output.guard():
            self.container = av.open(str(self.tmp), mode="w", format="mp4")
        self.fps = Fraction(fps).limit_denominator(1001)
        self.crf = crf
        self.stream = None
        self.count = 0

    def write(self, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        if h % 2 or w % 2:
            image = np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)))
        if self.stream is None:
            self.stream = self.container.add_stream("libx264", rate=self.fps)
            self.stream.width, self.stream.height = image.shape[1], image.shape[0]
            self.stream.pix_fmt = "yuv420p"
            self.stream.options = {"crf": str(self.crf), "preset": "veryfast"}
            self.size = image.shape[:2]
        elif image.shape[:2] != self.size:
            raise ConfigError(f"video frames must keep one size: {self.size[1]}x{self.size[0]}, then {image.shape[1]}x{image.shape[0]}")
        frame = self.av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        with self.output.guard(drop=self._drop):
            for packet in self.stream.encode(frame):
                self.container.mux(packet)
        self.count += 1

    def _drop(self) -> None:
        container, self.container = self.container, None
        container.close()

    def close(self, keep: bool = True) -> None:
        """Finish the video and move it to ``path`` (``keep``, at least one frame), or drop it."""
        if self.container is None:
            return
        container, self.container = self.container, None

        def finish() -> None:
            if self.stream is not None:
                for packet in self.stream.encode():
                    container.mux(packet)
            container.close()

        self.output.finish(finish, keep=keep and self.count > 0)


def display_available() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class Window:
    """A Tk window showing the newest overlay; closing it stops the stream."""

    def __init__(self, title: str = "acnet stream") -> None:
        if not display_available():
            raise ConfigError("--show needs a display, and none is set here (no DISPLAY or WAYLAND_DISPLAY); write a video with -o instead")
        try:
            import tkinter  # only a live window loads it

            from PIL import ImageTk  # noqa: F401
        except ImportError as exc:
            raise BackendUnavailableError(f"--show needs tkinter and Pillow's ImageTk: {exc}") from None
        try:
            self.root = tkinter.Tk()
        except tkinter.TclError as exc:
            raise ConfigError(f"--show cannot open a window on this display: {exc}") from None
        self.root.title(title)
        self.label = tkinter.Label(self.root)
        self.label.pack()
        self.open = True
        self.root.protocol("WM_DELETE_WINDOW", self.close)

    def show(self, image: np.ndarray) -> bool:
        """Draw one image; False once the user has closed the window."""
        if not self.open:
            return False
        from PIL import Image, ImageTk  # only a live window loads it

        self.photo = ImageTk.PhotoImage(Image.fromarray(image))
        self.label.configure(image=self.photo)
        self.root.update()
        return self.open

    def close(self) -> None:
        if self.open:
            self.open = False
            self.root.destroy()
