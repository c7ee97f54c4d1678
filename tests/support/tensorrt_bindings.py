"""The real TensorRT Python bindings of 10.16 and 11.4, importable without a GPU.

NVIDIA publishes the bindings alone (``tensorrt-cu12-bindings``,
``tensorrt-cu13-bindings``, about 1.3 MB each) apart from the libraries that
need a GPU. ``tensorrt.so`` links against ``libnvinfer``,
``libnvinfer_plugin`` and ``libnvonnxparser`` for a handful of factory
functions only; three stub libraries that define those functions (returning
NULL) let the real module import. Then every class, enum member and method
signature of that release can be read, and a call that needs the real
library raises a Python error instead of crashing.

:func:`real_spec` downloads a wheel once (pip, exact version) into a cache
outside the repository, builds the stubs with ``cc``, imports the module in
a subprocess and returns what it found as plain data (a *spec*):
classes with their bases, methods (signatures parsed from the docstrings),
properties, enum members with their values, and the real ``nptype``
mapping. :mod:`trt_fake` builds fakes from a spec.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

#: TensorRT major -> (the bindings wheel, exact version).
WHEELS = {
    10: ("tensorrt-cu12-bindings", "10.16.1.11"),
    11: ("tensorrt-cu13-bindings", "11.4.0.106"),
}
#: Where wheels, stubs and specs live between runs (CI runs from fresh clones on this machine).
CACHE = Path(os.environ.get("ACNET_TEST_CACHE") or Path.home() / ".cache" / "acnet-tests") / "tensorrt"
#: Bumped when the dump below changes, so a cached spec is not reused.
SPEC_FORMAT = 3

_DUMP = r"""
import inspect, json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from support import tensorrt_bindings as trt

spec = {"version": trt.__version__, "classes": {}, "functions": {}, "constants": {}, "nptype": {}}
names = {}  # id(type) -> spec name

def is_enum(cls):
    return isinstance(cls, type) and "__members__" in dir(cls) and hasattr(cls, "name")

def first_doc(obj):
    return (getattr(obj, "__doc__", None) or "")

def collect(name, cls):
    if id(cls) in names:
        return
    names[id(cls)] = name
    for attr in dir(cls):
        value = getattr(cls, attr, None)
        if isinstance(value, type) and value.__module__.startswith("tensorrt") and not attr.startswith("_"):
            collect(f"{name}.{attr}", value)

for name in dir(trt):
    obj = getattr(trt, name)
    if isinstance(obj, type) and not name.startswith("_") and obj.__module__.startswith("tensorrt"):
        collect(name, obj)

for name in list(names.values()):
    obj = trt
    for part in name.split("."):
        obj = getattr(obj, part)
    entry = {
        "bases": [names[id(b)] for b in obj.__mro__[1:] if id(b) in names],
        "enum": {k: int(v) for k, v in obj.__members__.items()} if is_enum(obj) else None,
        "methods": {}, "properties": {}, "members": {}, "nested": [],
        "init": first_doc(obj.__init__) if "__init__" in obj.__dict__ else "",
    }
    for attr in dir(obj):
        if attr.startswith("__"):
            continue
        static = inspect.getattr_static(obj, attr)
        value = getattr(obj, attr, None)
        if isinstance(static, property):
            entry["properties"][attr] = {"settable": static.fset is not None, "doc": first_doc(static)[:300]}
        elif isinstance(value, type) and id(value) in names:
            entry["nested"].append(attr)
        elif id(type(value)) in names and is_enum(type(value)):
            entry["members"][attr] = [names[id(type(value))], value.name]
        elif callable(value):
            entry["methods"][attr] = first_doc(value)
    spec["classes"][name] = entry

for name in dir(trt):
    if name.startswith("_"):
        continue
    obj = getattr(trt, name)
    if isinstance(obj, type):
        continue
    if id(type(obj)) in names and is_enum(type(obj)):
        spec["constants"][name] = [names[id(type(obj))], obj.name]
    elif callable(obj) and getattr(obj, "__module__", "").startswith("tensorrt"):
        spec["functions"][name] = first_doc(obj)

for member in trt.DataType.__members__.values():
    try:
        spec["nptype"][member.name] = np.dtype(trt.nptype(member)).name
    except TypeError as exc:
        spec["nptype"][member.name] = None
        spec["nptype_error"] = str(exc)

print(json.dumps(spec))
"""


class BindingsUnavailable(Exception):
    """The wheel cannot be downloaded here (no index, no network): tests skip with this reason."""


def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "w")
    fcntl.flock(handle, fcntl.LOCK_EX)  # engineers and CI share the cache
    return handle


#: Why a download failed in this process (tried once, not once per test).
_UNAVAILABLE: dict[int, str] = {}


def bindings_dir(major: int) -> Path:
    """The unpacked wheel with its stub libraries; downloads and builds on first use."""
    if major in _UNAVAILABLE:
        raise BindingsUnavailable(_UNAVAILABLE[major])
    try:
        return _bindings_dir(major)
    except BindingsUnavailable as exc:
        _UNAVAILABLE[major] = str(exc)
        raise


def _bindings_dir(major: int) -> Path:
    package, version = WHEELS[major]
    root = CACHE / f"{package}-{version}-py{sys.version_info.major}{sys.version_info.minor}"
    ready = root / "READY"
    if ready.is_file():
        return root
    with _locked(CACHE / f".{package}.lock"):
        if ready.is_file():
            return root
        wheels = CACHE / "wheels"
        wheels.mkdir(parents=True, exist_ok=True)
        found = sorted(wheels.glob(f"{package.replace('-', '_')}-{version}-cp{sys.version_info.major}{sys.version_info.minor}-*.whl"))
        if not found:
            proc = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(wheels), f"{package}=={version}"],
                capture_output=True, text=True, timeout=300,
            )
            found = sorted(wheels.glob(f"{package.replace('-', '_')}-{version}-*.whl"))
            if proc.returncode != 0 or not found:
                last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                raise BindingsUnavailable(f"cannot download {package}=={version} for Python {sys.version_info.major}.{sys.version_info.minor}: {last}")
        tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=CACHE))
        try:
            with zipfile.ZipFile(found[-1]) as archive:
                archive.extractall(tmp)
            _build_stubs(tmp / "tensorrt_bindings")
            (tmp / "READY").write_text(found[-1].name + "\n")
            if root.exists():
                shutil.rmtree(root)
            os.replace(tmp, root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def undefined_symbols(so: Path) -> list[str]:
    """The functions ``tensorrt.so`` takes from the TensorRT libraries (``nm -D --undefined-only``)."""
    out = subprocess.run(["nm", "-D", "--undefined-only", str(so)], capture_output=True, text=True, check=True).stdout
    import ctypes

    process = ctypes.CDLL(None)  # libc, libdl, libpthread: what the system provides
    symbols = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 2 or parts[0] != "U" or "@" in parts[1] or parts[1].startswith(("Py", "_Py")):
            continue
        if not hasattr(process, parts[1]):
            symbols.append(parts[1])
    return symbols


def _library_of(symbol: str) -> str:
    if "OnnxParser" in symbol:
        return "nvonnxparser"
    if symbol == "initLibNvInferPlugins":
        return "nvinfer_plugin"
    return "nvinfer"


def _build_stubs(package: Path) -> None:
    so = package / "tensorrt.so"
    needed = subprocess.run(["readelf", "-d", str(so)], capture_output=True, text=True, check=True).stdout
    sonames = dict(re.findall(r"\[lib(nvinfer|nvinfer_plugin|nvonnxparser)\.so\.(\d+)\]", needed))
    if set(sonames) != {"nvinfer", "nvinfer_plugin", "nvonnxparser"}:
        raise AssertionError(f"{so} does not link the three TensorRT libraries: {sorted(sonames)}")
    by_lib: dict[str, list[str]] = {lib: [] for lib in sonames}
    for symbol in undefined_symbols(so):
        by_lib[_library_of(symbol)].append(symbol)
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise BindingsUnavailable("no C compiler (cc) to build the TensorRT stub libraries")
    for lib, symbols in by_lib.items():
        source = package / f"stub_{lib}.c"
        # Each factory returns NULL (or 0/false): the bindings turn that into a Python error.
        source.write_text("".join(f"void* {s}(void) {{ return 0; }}\n" for s in symbols))
        soname = f"lib{lib}.so.{sonames[lib]}"
        subprocess.run([cc, "-shared", "-fPIC", "-o", str(package / soname), f"-Wl,-soname,{soname}", str(source)], check=True)


def run_with_bindings(major: int, code: str, *args: str) -> subprocess.CompletedProcess:
    """Run Python ``code`` in a subprocess where ``import tensorrt_bindings`` is the real module."""
    root = bindings_dir(major)
    env = {**os.environ, "LD_LIBRARY_PATH": f"{root / 'tensorrt_bindings'}:{os.environ.get('LD_LIBRARY_PATH', '')}"}
    return subprocess.run([sys.executable, "-c", code, str(root), *args], capture_output=True, text=True, env=env, timeout=120)


@functools.lru_cache(maxsize=None)
def real_spec(major: int) -> dict:
    """What the real bindings of TensorRT ``major`` contain (see the module docstring)."""
    root = bindings_dir(major)
    cached = root / f"spec-v{SPEC_FORMAT}.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    proc = run_with_bindings(major, _DUMP)
    if proc.returncode != 0:
        raise AssertionError(f"the real TensorRT {major} bindings do not import:\n{proc.stderr}")
    spec = json.loads(proc.stdout)
    fd, tmp = tempfile.mkstemp(prefix=".spec-", dir=root)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(spec))
    os.replace(tmp, cached)
    return spec


def spec_or_skip(major: int) -> dict:
    try:
        return real_spec(major)
    except BindingsUnavailable as exc:
        pytest.skip(str(exc))


# --------------------------------------------------------------------------- signatures from docstrings


def _split_params(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch in "[(<":
            depth += 1
        elif ch in "])>":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current.strip())
    return parts


def _clean_type(text: str) -> str:
    return re.sub(r"\b(?:tensorrt_bindings\.tensorrt|tensorrt\.tensorrt|nvonnxparser|nvinfer1)(?:\.|::)", "", text.strip())


def signatures(doc: str, name: str) -> list[dict]:
    """The overloads of ``name`` in a pybind11 docstring: [{"params": [(name, type, has_default)], "returns": type}]."""
    found = []
    for match in re.finditer(rf"^(?:\d+\. )?{re.escape(name)}\((.*)\) -> (.+)$", doc, re.MULTILINE):
        params = []
        for part in _split_params(match.group(1)):
            pname, _, rest = part.partition(":")
            ptype, eq, _default = rest.partition("=")
            params.append((pname.strip(), _clean_type(ptype), bool(eq)))
        found.append({"params": params, "returns": _clean_type(match.group(2))})
    return found
