"""Atomic file writing: nothing is half-written when a process is killed."""

from __future__ import annotations

import codecs
import contextlib
import errno
import hashlib
import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import Callable, Iterator

from acnet.errors import AcnetError, CheckpointError, OutputError, first_line


#: OS errors that mean "this cannot be written here", whichever file the OS names.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.ENOTDIR, errno.EISDIR}


def file_mode() -> int:
    """The mode a plain ``open(path, "w")`` gives a new file: 0o666 less the umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def output_error(path: str | os.PathLike, exc: OSError | str) -> OutputError:
    """One line naming ``path`` and why it cannot be written (from an OS error or a reason)."""
    reason = exc if isinstance(exc, str) else (exc.strerror or str(exc)).rstrip(".")
    return OutputError(f"cannot write {path}: {reason[0].lower() + reason[1:] if reason else 'failed'}")


def file_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not a regular file to read, in words for "MODEL {path} {problem}"; None when it is one.

    ``Path.exists()`` calls a symlink loop or an unreadable parent "missing";
    here each case is named: not found, a symlink loop, a folder, a device.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return "not found"
        if exc.errno == errno.ELOOP:
            return "cannot be resolved: a symlink loop"
        return f"cannot be read: {(exc.strerror or str(exc)).lower()}"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    kind = ("a character device" if stat.S_ISCHR(mode) else "a block device" if stat.S_ISBLK(mode)
            else "a named pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
    return f"is {kind}, not a file"


def make_dir(path: str | os.PathLike) -> Path:
    """``mkdir -p path``; a failure is an :class:`OutputError` naming the folder and the reason."""
    path = Path(path)
    if path.is_dir():
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"cannot create output directory {path}: a file of that name exists") from None
    except OSError as exc:
        reason = "a part of it is a file, not a folder" if exc.errno == errno.ENOTDIR else (exc.strerror or str(exc))
        raise OutputError(f"cannot create output directory {path}: {reason[0].lower() + reason[1:]}") from None
    return path


def _is_write_failure(exc: BaseException, *paths: Path) -> bool:
    if isinstance(exc, AcnetError):
        return False
    if getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL:  # sqlite's "database or disk is full" (a bag)
        return True
    if not isinstance(exc, OSError):
        return False
    named = exc.filename is None or any(str(exc.filename) == str(p) for p in paths)
    return named or exc.errno in _WRITE_ERRNOS


#: sqlite3.SQLITE_FULL, without importing sqlite3 here.
_SQLITE_FULL = 13


class AtomicOutput:
    """A file or folder written under a temporary name beside ``path``, renamed to ``path`` by :meth:`commit`.

    For writers that stay open across many calls (an overlay video, a label
    bag); :func:`atomic_path` is the same for one ``with`` block. ``tmp`` is
    where to write: a file made here (mode as ``open()`` gives, not mkstemp's
    0600), or with ``folder=True`` a path inside a private temporary folder that
    the writer creates itself (rosbags' writer wants a new folder). Run each
    step of the writer inside :meth:`guard`: on any failure the temporary file
    or folder is removed, and an OS failure to write (full disk, read-only,
    a folder under a file, no permission; sqlite's "database or disk is full")
    becomes an :class:`acnet.errors.OutputError` naming ``path``, never the
    hidden temporary name.
    """

    def __init__(self, path: str | os.PathLike, *, folder: bool = False, suffix: str = ".tmp") -> None:
        self.path = path = Path(path)
        self.folder = folder
        make_dir(path.parent)
        if path.is_dir() and not folder:
            raise OutputError(f"cannot write {path}: it is a directory")
        try:
            if folder:
                self._holder = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
                self.tmp = self._holder / path.name
            else:
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
                os.close(fd)
                self._holder = self.tmp = Path(tmp)
                os.chmod(self.tmp, file_mode())
        except OSError as exc:
            raise output_error(path, exc) from None
        self.done = False

    @contextlib.contextmanager
    def guard(self, drop: Callable[[], None] | None = None) -> Iterator[None]:
        """Run a step of the writer; a failure removes the temporary output, calls ``drop`` (to let the writer
        go, its own errors ignored) and is raised as :meth:`abandon` says."""
        try:
            yield
        except BaseException as exc:
            error = self.abandon(exc)
            if drop is not None:
                with contextlib.suppress(Exception):
                    drop()
            if error is exc:
                raise
            raise error from None

    def finish(self, close: Callable[[], None], keep: bool = True) -> None:
        """Close the writer (``close``), then :meth:`commit` with ``keep``, else :meth:`discard` (close's errors ignored)."""
        if not keep:
            with contextlib.suppress(Exception):
                close()
            self.discard()
            return
        with self.guard():
            close()
        self.commit()

    def commit(self) -> Path:
        """Flush the temporary output to disk and rename it to ``path``."""
        with self.guard():
            for file in (self.tmp.rglob("*") if self.folder else (self.tmp,)):
                if file.is_file():
                    with open(file, "rb+") as fh:
                        os.fsync(fh.fileno())
            if self.folder:
                os.rename(self.tmp, self.path)  # never over an existing folder
            else:
                os.replace(self.tmp, self.path)
            self._remove()
        return self.path

    def abandon(self, exc: BaseException) -> BaseException:
        """Remove the temporary output after ``exc``; the exception to raise: an OutputError naming ``path``
        for a failure to write, else ``exc`` itself."""
        full = _disk_full(self.path.parent)
        self._remove()
        if _is_write_failure(exc, self.tmp, self.path, self.path.parent):
            if full or getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL:
                return output_error(self.path, "no space left on device")
            return output_error(self.path, exc)
        if full and isinstance(exc, Exception) and not isinstance(exc, AcnetError):
            return output_error(self.path, "no space left on device")  # writers in C++ (torch's zip writer) say less
        return exc

    def discard(self) -> None:
        """Remove the temporary output; ``path`` is left as it was."""
        self._remove()

    def _remove(self) -> None:
        if self.done:
            return
        self.done = True
        if self.folder:
            shutil.rmtree(self._holder, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                self.tmp.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    The temporary file lives in the same directory so the final ``os.replace``
    is atomic on POSIX; it gets the mode ``open()`` would give (not
    mkstemp's 0600), so the artefact is readable where it is served. On
    failure the temporary file is removed and ``path`` is left untouched; an
    OS failure to write (full disk, read-only, a folder under a file, no
    permission) is an :class:`acnet.errors.OutputError` naming ``path``.
    """
    output = AtomicOutput(path)
    with output.guard():
        yield output.tmp
    output.commit()


def _disk_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free == 0
    except OSError:
        return False


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_with(path: str | os.PathLike, writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and then move the result to ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_writable(path: str | os.PathLike, *inputs: str | os.PathLike) -> Path:
    """Return ``path`` if its folder can be created and written, else raise :class:`OutputError`.

    Called before long work, so an export or evaluation does not spend
    minutes before failing to write its result. ``inputs`` are files the
    command reads: writing over one would destroy it, so that is refused too.
    """
    path = Path(path)
    for source in inputs:
        if Path(source).exists() and _same_file(path, Path(source)):
            raise OutputError(f"cannot write {path}: it is {source}, which this command reads; give another output path")
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a directory, expected a file path")
    make_dir(path.parent)
    if not os.access(path.parent, os.W_OK):
        reason = "read-only file system" if _read_only(path.parent) else "permission denied"
        raise OutputError(f"cannot write {path}: {reason}")
    return path


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and os.path.samefile(a, b)  # also through a symlink or a hard link
    except OSError:
        return a.resolve() == b.resolve()


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def sniff_artefact(path: str | os.PathLike) -> str | None:
    """What kind of acnet artefact a file is, from its first bytes: for messages like "X is an ONNX model".

    Returns "an ONNX model", "an AOTInductor package (.pt2)", "a TensorRT engine",
    "a PyTorch checkpoint" (a torch.save zip), a file a user may give by mistake
    ("an empty file", "a PNG image", "a JPEG image", "a NumPy array (.npy)",
    "an HDF5 file", "a text file") or None when it cannot tell.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
        if head.startswith(b"PK"):
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
            if any(n.rsplit("/", 1)[-1] == "archive_format" or "data/aotinductor/" in n for n in names):
                return "an AOTInductor package (.pt2)"
            if any(n.endswith("/data.pkl") for n in names):
                return "a PyTorch checkpoint"
            return None
    except (OSError, zipfile.BadZipFile):
        return None
    if head[:4] == b"ftrt" or path.suffix.lower() in (".engine", ".plan"):
        return "a TensorRT engine"
    # ONNX ModelProto: field 1 (ir_version, varint) then usually field 2 (producer_name) or 8 (opset_import)
    if len(head) > 3 and head[0] == 0x08 and head[1] < 0x80 and head[2] in (0x12, 0x1A, 0x22, 0x3A, 0x42):
        return "an ONNX model"
    for magic, kind in _OTHER_MAGIC:
        if head.startswith(magic):
            return kind
    if not head:
        return "an empty file"
    try:  # not final: a multi-byte character cut at byte 64 still reads as text
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return None
    if all(c.isprintable() or c in "\t\r\n" for c in text):
        return "a text file"
    return None


#: First bytes of files a user may give where an acnet artefact is expected.
_OTHER_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x93NUMPY", "a NumPy array (.npy)"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file"),
)


def unpickling_error(exc: Exception, path: str | os.PathLike, expected: str) -> CheckpointError:
    """What ``torch.load(weights_only=True)`` refused, in one line, without torch's advice to load unsafely.

    "Unsupported global" means the pickle names code (objects, not tensors);
    anything else the safe unpickler stopped at is a damaged or foreign file.
    """
    msg = str(exc)
    if "Unsupported global" in msg:
        return CheckpointError(f"{path} contains arbitrary Python objects; refusing to unpickle it (not {expected})")
    detail = msg.split("WeightsUnpickler error:", 1)[-1] if "WeightsUnpickler error:" in msg else msg
    return CheckpointError(f"{path} is damaged or not {expected} ({first_line(detail, 'corrupt')})")
