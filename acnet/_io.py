"""Atomic file writing: nothing is half-written when a process is killed."""

from __future__ import annotations

import codecs
import contextlib
import errno
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from acnet.errors import AcnetError, OutputError


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
    if isinstance(exc, AcnetError) or not isinstance(exc, OSError):
        return False
    named = exc.filename is None or any(str(exc.filename) == str(p) for p in paths)
    return named or exc.errno in _WRITE_ERRNOS


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
    path = Path(path)
    make_dir(path.parent)
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise output_error(path, exc) from None
    tmp_path = Path(tmp)
    try:
        os.chmod(tmp_path, file_mode())
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except BaseException as exc:
        full = _disk_full(path.parent)
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        if _is_write_failure(exc, tmp_path, path, path.parent):
            raise output_error(path, exc) from None
        if full and isinstance(exc, RuntimeError):  # writers in C++ (torch's zip writer) say less
            raise output_error(path, "no space left on device") from None
        raise


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
    import zipfile

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

