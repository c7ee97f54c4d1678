"""A fake ``tensorrt`` module built from the real bindings' spec, enforcing TensorRT's rules.

Everything the fake exposes comes from :func:`tensorrt_bindings.real_spec` of the
version it pretends to be: class names and bases, methods and properties
(an attribute the real class lacks raises ``AttributeError``, as the real
module does), enum members with their real values, the real ``nptype``
mapping. Every method call is bound against the real overloads read from the
docstrings (argument count, names and types); a call no overload accepts
raises ``TypeError`` like pybind11. Each call is recorded in ``trt.calls``.

Behaviour follows TensorRT's documented rules, not acnet's assumptions:

- ``build_serialized_network`` returns None when a dynamic input has no
  profile, when a profile breaks the rules of ``IOptimizationProfile::setDimensions``
  (same rank; 0 <= min <= opt <= max; fixed dimensions equal the network's),
  or when precision flags are set on a strongly typed network (trtexec 10.16:
  "setting fp16 mode is not allowed if graph is strongly typed"; TensorRT 11
  networks are always strongly typed);
- ``create_timing_cache`` returns None for a corrupt blob and
  ``set_timing_cache`` False for one from another TensorRT or GPU;
- ``deserialize_cuda_engine`` returns None for a foreign engine;
- ``set_input_shape`` returns False outside profile 0, and ``execute_async_v3``
  False unless every input shape and every I/O address was set;
- ``get_tensor_dtype`` returns ``DataType`` members, and ``nptype`` refuses
  the types numpy lacks;
- the parser refuses a network input or output of an ONNX type no
  ``DataType`` member of the release holds (UINT16 has none in 10.16 or
  11.4), and a ``Cast`` between UINT8 and anything but FLOAT or HALF (the
  real ``DataType.UINT8`` docstring: "uint8 conversions are only supported
  for {float32, float16}"; tests/test_camera_tensorrt.py checks that text).

The engine it serializes carries the ONNX model, so an execution context with
``device_memory`` (pointer -> uint8 array) runs it with ONNX Runtime.
"""

from __future__ import annotations

import json
import re

import numpy as np

from support.tensorrt_bindings import signatures

ENGINE_MAGIC = b"FAKE-TRT-ENGINE\n"
CACHE_MAGIC = b"FAKE-TRT-TIMING-CACHE\n"
#: Builder flags that choose precision (weak typing).
PRECISION_FLAGS = ("FP16", "BF16", "INT8", "FP8", "INT4", "FP4", "OBEY_PRECISION_CONSTRAINTS", "PREFER_PRECISION_CONSTRAINTS")
_ONNX_TO_TRT = {1: "FLOAT", 10: "HALF", 16: "BF16", 3: "INT8", 2: "UINT8", 6: "INT32", 7: "INT64", 9: "BOOL"}
#: What UINT8 converts to and from in a Cast (TensorRT's DataType.UINT8 documentation).
_UINT8_PARTNERS = ("FLOAT", "HALF")


class _Meta(type):
    """Class-level attributes (enum members, nested classes, ``Logger.WARNING``) come from the spec."""

    def __getattr__(cls, name):
        if cls._trt is None:
            raise AttributeError(name)
        if name == "__members__":
            enum = cls._trt._spec["classes"][cls._spec_name]["enum"] or {}
            return {member: cls._trt._member(cls._spec_name, member) for member in enum}
        if name.startswith("_"):
            raise AttributeError(name)
        return cls._trt._class_attribute(cls._spec_name, name)


class SpecObject(metaclass=_Meta):
    _trt = None
    _spec_name = ""

    def __init__(self, *args, **kwargs):
        bound = self._trt._bind(self._spec_name, "__init__", (self, *args), kwargs)
        self._trt._record(f"{self._spec_name}.__init__", bound)
        self._setup(**bound)

    def _setup(self, **kwargs):
        pass

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        trt = self._trt
        kind = trt._member_kind(self._spec_name, name)
        if kind is None:
            trt.missing.add(f"{self._spec_name}.{name}")
            raise AttributeError(f"'tensorrt.{self._spec_name}' object has no attribute '{name}'")
        trt.reached.add(f"{self._spec_name}.{name}")
        if kind == "property":
            getter = getattr(type(self), f"_get_{name}", None)
            if getter is None:
                raise NotImplementedError(f"the fake does not implement {self._spec_name}.{name}")
            trt._record(f"{self._spec_name}.{name}", {"get": True})
            return getter(self)
        impl = getattr(type(self), f"_impl_{name}", None)

        def method(*args, **kwargs):
            bound = trt._bind(self._spec_name, name, (self, *args), kwargs)
            trt._record(f"{self._spec_name}.{name}", bound)
            if impl is None:
                raise NotImplementedError(f"the fake does not implement {self._spec_name}.{name}")
            return impl(self, **bound)

        return method

    def __setattr__(self, name, value):
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        prop = self._trt._property(self._spec_name, name)
        if prop is None or not prop["settable"]:
            raise AttributeError(f"'tensorrt.{self._spec_name}' object has no settable attribute '{name}'")
        self._trt.reached.add(f"{self._spec_name}.{name}")
        self._trt._record(f"{self._spec_name}.{name}", {"set": _describe(value)})
        object.__setattr__(self, f"_prop_{name}", value)


class _Enum(SpecObject):
    def __init__(self, name, value):  # members are made by the fake only
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_value", value)

    name = property(lambda self: self._name)
    value = property(lambda self: self._value)

    def __int__(self):
        return self._value

    __index__ = __int__

    def __eq__(self, other):
        return isinstance(other, _Enum) and other._spec_name == self._spec_name and other._value == self._value

    def __hash__(self):
        return hash((self._spec_name, self._value))

    def __repr__(self):
        return f"<{self._spec_name.split('.')[-1]}.{self._name}: {self._value}>"

    __str__ = lambda self: f"{self._spec_name.split('.')[-1]}.{self._name}"  # noqa: E731


class Dims(tuple):
    """``trt.Dims``: iterable ints."""


class _HostMemory(bytes):
    """``IHostMemory``: supports the buffer protocol like the real one."""


# --------------------------------------------------------------------------- behaviour of the classes acnet uses


class _Logger(SpecObject):
    def _setup(self, min_severity=None):
        self._severity = min_severity


class _Builder(SpecObject):
    def _setup(self, logger):
        self._logger = logger

    def _impl_create_network(self, flags=0):
        known = {int(v) for v in self._trt._spec["classes"]["NetworkDefinitionCreationFlag"]["enum"].values()}
        if flags >> 31 or any(flags & (1 << bit) and bit not in known for bit in range(31)):
            return None
        return self._trt._new("INetworkDefinition", _flags=flags)

    def _impl_create_builder_config(self):
        return self._trt._new("IBuilderConfig", _flags=set(), _pools={}, _profiles=[], _cache=None, _prop_progress_monitor=None)

    def _impl_create_optimization_profile(self):
        return self._trt._new("IOptimizationProfile", _shapes={}, _valid=True)

    def _impl_build_serialized_network(self, network, config, kernel_text=None):
        trt = self._trt
        problems = trt.build_problems(network, config)
        trt.build_log.extend(problems)
        if problems:
            return None
        monitor = config._prop_progress_monitor
        if monitor is not None:
            trt._check_override(monitor, "IProgressMonitor")
            monitor.phase_start("Building engine", None, 2)
            for step in range(2):
                if monitor.step_complete("Building engine", step) is False:
                    return None
            monitor.phase_finish("Building engine")
        if config._cache is not None:
            config._cache._entries += 1
        record = {
            "trt": trt.__version__, "gpu": trt.gpu, "inputs": network._inputs, "outputs": network._outputs,
            "profiles": [p._shapes for p in config._profiles], "flags": sorted(config._flags),
            "strongly_typed": network._strongly_typed, "qdq": network._qdq, "onnx": network._onnx.hex(),
        }
        return _HostMemory(ENGINE_MAGIC + json.dumps(record).encode())


class _Network(SpecObject):
    _inputs = None

    @property
    def _strongly_typed(self):
        if self._trt.major >= 11:
            return True
        bit = self._trt._spec["classes"]["NetworkDefinitionCreationFlag"]["enum"]["STRONGLY_TYPED"]
        return bool(self._flags & (1 << bit))

    def _get_num_inputs(self):
        return len(self._inputs or {})


class _Parser(SpecObject):
    def _setup(self, network, logger):
        self._network = network
        self._errors = []

    def _get_num_errors(self):
        return len(self._errors)

    def _impl_get_error(self, index):
        return self._errors[index] if 0 <= index < len(self._errors) else None

    def _impl_clear_errors(self):
        self._errors = []

    def _impl_parse(self, model, path=None):
        import onnx
        from google.protobuf.message import DecodeError

        data = bytes(memoryview(model))
        try:
            proto = onnx.load_from_string(data)
        except (DecodeError, ValueError):
            self._errors.append(self._trt._parser_error(-1, "", "", "Failed to parse the ONNX model"))
            return False
        nodes = proto.graph.node
        for i, node in enumerate(nodes):
            if not onnx.defs.has(node.op_type, node.domain or ""):
                self._errors.append(self._trt._parser_error(i, node.name, node.op_type, f"No importer registered for op: {node.op_type}"))
        if self._trt.fail_node is not None:
            n = self._trt.fail_node
            self._errors.append(self._trt._parser_error(n, "", "", "Unsupported operator"))
            self._errors.append(self._trt._parser_error(n, "", "", "while parsing node"))
        if self._errors:
            return False
        initializers = {i.name for i in proto.graph.initializer}
        known = self._trt._spec["classes"]["DataType"]["enum"]

        def trt_type(elem_type: int) -> str | None:
            name = _ONNX_TO_TRT.get(elem_type)
            return name if name in known else None

        for v in (*proto.graph.input, *proto.graph.output):
            if v.name not in initializers and trt_type(v.type.tensor_type.elem_type) is None:
                name = onnx.TensorProto.DataType.Name(v.type.tensor_type.elem_type)
                self._errors.append(self._trt._parser_error(-1, v.name, "", f"Unsupported ONNX data type: {name} (tensor {v.name!r})"))
        try:
            typed = onnx.shape_inference.infer_shapes(proto)
        except Exception:  # noqa: BLE001 - untyped: nothing more to check
            typed = proto
        types = {v.name: v.type.tensor_type.elem_type for v in (*typed.graph.input, *typed.graph.value_info, *typed.graph.output)}
        types.update({i.name: i.data_type for i in typed.graph.initializer})
        for i, node in enumerate(nodes):
            if node.op_type != "Cast":
                continue
            to = next(a.i for a in node.attribute if a.name == "to")
            pair = (_ONNX_TO_TRT.get(types.get(node.input[0], 0)), _ONNX_TO_TRT.get(to))
            if "UINT8" in pair and pair != ("UINT8", "UINT8") and not set(pair) - {"UINT8"} <= set(_UINT8_PARTNERS):
                self._errors.append(self._trt._parser_error(
                    i, node.name, "Cast", f"Cast from {pair[0]} to {pair[1]}: uint8 converts to and from float32 and float16 only"))
        if self._errors:
            return False

        def tensors(values):
            out = {}
            for v in values:
                if v.name in initializers:
                    continue
                t = v.type.tensor_type
                dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim]
                out[v.name] = {"dtype": trt_type(t.elem_type), "dims": dims}
            return out

        net = self._network
        net._inputs, net._outputs = tensors(proto.graph.input), tensors(proto.graph.output)
        net._qdq = any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in nodes)
        net._onnx = data
        self._trt.parsed.append(data)
        return True


class _ParserError(SpecObject):
    def _impl_node(self):
        return self._node

    def _impl_node_name(self):
        return self._node_name

    def _impl_node_operator(self):
        return self._op

    def _impl_desc(self):
        return self._desc

    def _impl_code(self):
        return self._trt._class_attribute("ErrorCode", "UNSUPPORTED_NODE")


class _Config(SpecObject):
    def _impl_set_memory_pool_limit(self, pool, pool_size):
        self._pools[pool.name] = pool_size

    def _impl_set_flag(self, flag):
        self._flags.add(flag.name)

    def _impl_clear_flag(self, flag):
        self._flags.discard(flag.name)

    def _impl_get_flag(self, flag):
        return flag.name in self._flags

    def _impl_add_optimization_profile(self, profile):
        if not profile._valid:
            return -1  # NvInfer.h: -1 if the input is not valid
        self._profiles.append(profile)
        return len(self._profiles) - 1

    def _get_progress_monitor(self):
        return self._prop_progress_monitor

    def _impl_create_timing_cache(self, serialized_timing_cache):
        trt = self._trt
        blob = bytes(memoryview(serialized_timing_cache))
        if not blob:
            return trt._new("ITimingCache", _trt_version=trt.__version__, _gpu=trt.gpu, _entries=0)
        if not blob.startswith(CACHE_MAGIC):
            return None  # corrupt: no verification header
        try:
            header = json.loads(blob[len(CACHE_MAGIC):])
            return trt._new("ITimingCache", _trt_version=header["trt"], _gpu=header["gpu"], _entries=int(header["entries"]))
        except (ValueError, KeyError, TypeError):
            return None

    def _impl_set_timing_cache(self, cache, ignore_mismatch):
        trt = self._trt
        if cache._trt_version != trt.__version__ or (cache._gpu != trt.gpu and not ignore_mismatch):
            return False
        self._cache = cache
        return True

    def _impl_get_timing_cache(self):
        return self._cache


class _TimingCache(SpecObject):
    def _impl_serialize(self):
        header = {"trt": self._trt_version, "gpu": self._gpu, "entries": self._entries}
        return _HostMemory(CACHE_MAGIC + json.dumps(header).encode())


class _Profile(SpecObject):
    def _impl_set_shape(self, input, min, opt, max):
        shapes = [tuple(int(d) for d in s) for s in (min, opt, max)]
        if len({len(s) for s in shapes}) != 1 or not all(0 <= a <= b <= c for a, b, c in zip(*shapes)):
            self._valid = False  # setDimensions returns false; the profile is not valid
        self._shapes[input] = shapes


class _Runtime(SpecObject):
    def _setup(self, logger):
        self._logger = logger

    def _impl_deserialize_cuda_engine(self, serialized_engine):
        trt = self._trt
        blob = bytes(memoryview(serialized_engine))
        if not blob.startswith(ENGINE_MAGIC):
            return None
        record = json.loads(blob[len(ENGINE_MAGIC):])
        if record["trt"] != trt.__version__ or record["gpu"] != trt.gpu:
            return None  # engines run only with the TensorRT and GPU they were built with
        return trt._new("ICudaEngine", _record=record)


class _Engine(SpecObject):
    def _io(self):
        r = self._record
        return {**{k: ("INPUT", v) for k, v in r["inputs"].items()}, **{k: ("OUTPUT", v) for k, v in r["outputs"].items()}}

    def _get_num_io_tensors(self):
        return len(self._io())

    def _impl_get_tensor_name(self, index):
        names = list(self._io())
        return names[index] if 0 <= index < len(names) else None

    def _impl_get_tensor_mode(self, name):
        mode = self._io().get(name, ("NONE", None))[0]
        return self._trt._class_attribute("TensorIOMode", mode)

    def _impl_get_tensor_shape(self, name):
        info = self._io().get(name)
        if info is None:
            return Dims(())
        return Dims(d if isinstance(d, int) else -1 for d in info[1]["dims"])

    def _impl_get_tensor_dtype(self, name):
        info = self._io().get(name)
        return self._trt._class_attribute("DataType", info[1]["dtype"] if info else "FLOAT")

    def _impl_get_tensor_profile_shape(self, name, profile_index):
        profiles = self._record["profiles"]
        if not 0 <= profile_index < len(profiles) or name not in profiles[profile_index]:
            return []
        return [Dims(s) for s in profiles[profile_index][name]]

    def _impl_create_execution_context(self, strategy=None):
        return self._trt._new("IExecutionContext", _engine=self, _shapes={}, _addresses={})


class _Context(SpecObject):
    def _impl_set_tensor_address(self, name, memory):
        if name not in self._engine._io():
            return False
        self._addresses[name] = memory
        return True

    def _impl_set_input_shape(self, name, shape):
        engine = self._engine
        info = engine._io().get(name)
        if info is None or info[0] != "INPUT":
            return False
        shape = tuple(int(d) for d in shape)
        declared = tuple(engine._impl_get_tensor_shape(name))
        profile = engine._record["profiles"][0].get(name) if engine._record["profiles"] else None
        if len(shape) != len(declared) or any(d >= 0 and d != s for d, s in zip(declared, shape)):
            return False
        if profile is not None and not all(lo <= s <= hi for lo, s, hi in zip(profile[0], shape, profile[2])):
            return False
        self._shapes[name] = shape
        return True

    def _symbols(self):
        values = {}
        for name, (mode, info) in self._engine._io().items():
            if mode == "INPUT":
                shape = self._shapes.get(name, tuple(self._engine._impl_get_tensor_shape(name)))
                for d, s in zip(info["dims"], shape):
                    if isinstance(d, str):
                        values[d] = s
        return values

    def _impl_get_tensor_shape(self, name):
        info = self._engine._io().get(name)
        if info is None:
            return Dims(())
        if info[0] == "INPUT":
            return Dims(self._shapes.get(name, self._engine._impl_get_tensor_shape(name)))
        symbols = self._symbols()
        return Dims(d if isinstance(d, int) else symbols.get(d, -1) for d in info[1]["dims"])

    def _impl_execute_async_v3(self, stream_handle):
        engine = self._engine
        io = engine._io()
        if any(name not in self._addresses for name in io):
            return False
        for name, (mode, _) in io.items():
            if mode == "INPUT" and -1 in tuple(self._impl_get_tensor_shape(name)):
                return False
        memory = self._trt.device_memory
        if memory is None:
            return True
        import onnxruntime as ort

        session = ort.InferenceSession(bytes.fromhex(engine._record["onnx"]), providers=["CPUExecutionProvider"])
        feeds = {}
        for name, (mode, info) in io.items():
            if mode == "INPUT":
                dtype = np.dtype(self._trt.nptype(self._trt._class_attribute("DataType", info["dtype"])))
                shape = tuple(self._impl_get_tensor_shape(name))
                count = int(np.prod(shape))
                feeds[name] = memory[self._addresses[name]].view(dtype)[:count].reshape(shape)
        outputs = session.run(None, feeds)
        for (name, _), value in zip(((n, m) for n, (m, _) in io.items() if m == "OUTPUT"), outputs):
            raw = np.ascontiguousarray(value).view(np.uint8).ravel()
            memory[self._addresses[name]][: raw.size] = raw
        return True


_BEHAVIOUR = {
    "Logger": _Logger, "Builder": _Builder, "INetworkDefinition": _Network, "OnnxParser": _Parser,
    "ParserError": _ParserError, "IBuilderConfig": _Config, "ITimingCache": _TimingCache,
    "IOptimizationProfile": _Profile, "Runtime": _Runtime, "ICudaEngine": _Engine, "IExecutionContext": _Context,
}


def _describe(value):
    if isinstance(value, _Enum):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, SpecObject):
        return type(value).__name__
    if isinstance(value, (tuple, list)):
        return tuple(_describe(v) for v in value)
    return value


# --------------------------------------------------------------------------- the module


class FakeTensorRT:
    """``import tensorrt`` of the version ``spec`` describes; see the module docstring."""

    def __init__(self, spec: dict, *, gpu: str = "Fake GPU", fail_node: int | None = None, device_memory=None,
                 fail_build: str | None = None):
        self._spec = spec
        self.__version__ = spec["version"]
        self.major = int(spec["version"].split(".")[0])
        self.gpu = gpu
        self.fail_node = fail_node
        self.device_memory = device_memory
        #: (Class.method, bound arguments) of every call, in order.
        self.calls: list[tuple[str, dict]] = []
        #: Every spec name reached ("tensorrt.Builder", "BuilderFlag.FP16", "IBuilderConfig.set_flag").
        self.reached: set[str] = set()
        #: Names asked for that this release lacks.
        self.missing: set[str] = set()
        #: Why the last builds returned None.
        self.build_log: list[str] = []
        #: A reason every build fails for (out of GPU memory, say), or None.
        self.fail_build = fail_build
        #: The ONNX bytes each successful parse read.
        self.parsed: list[bytes] = []
        self._classes: dict[str, type] = {}
        self._members: dict[tuple[str, str], _Enum] = {}

    # ---- module attributes
    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        spec = self._spec
        if name in spec["classes"]:
            self.reached.add(f"tensorrt.{name}")
            return self._class(name)
        if name == "nptype":
            self.reached.add("tensorrt.nptype")
            return self._nptype
        if name in spec["constants"]:
            self.reached.add(f"tensorrt.{name}")
            return self._member(*spec["constants"][name])
        if name in spec["functions"]:
            raise NotImplementedError(f"the fake does not implement tensorrt.{name}")
        self.missing.add(f"tensorrt.{name}")
        raise AttributeError(f"module 'tensorrt' has no attribute '{name}'")

    def _nptype(self, trt_type):
        self._record("nptype", {"trt_type": _describe(trt_type)})
        if not (isinstance(trt_type, _Enum) and trt_type._spec_name == "DataType"):
            raise TypeError("Could not resolve TensorRT datatype to an equivalent numpy datatype.")
        name = self._spec["nptype"][trt_type.name]
        if name is None:
            raise TypeError(self._spec.get("nptype_error", "no numpy type"))
        return np.dtype(name).type

    # ---- classes, members, spec lookups
    def _class(self, name: str) -> type:
        if name not in self._classes:
            entry = self._spec["classes"][name]
            base = _Enum if entry["enum"] is not None else _BEHAVIOUR.get(name)
            if base is None:
                base = next((_BEHAVIOUR[b] for b in entry["bases"] if b in _BEHAVIOUR), SpecObject)
            self._classes[name] = _Meta(name.split(".")[-1], (base,), {"_trt": self, "_spec_name": name})
        return self._classes[name]

    def _member(self, enum_name: str, member: str) -> _Enum:
        key = (enum_name, member)
        if key not in self._members:
            value = self._spec["classes"][enum_name]["enum"][member]
            self._members[key] = self._class(enum_name)(member, value)
        return self._members[key]

    def _entries(self, name: str):
        """The class and its bases, nearest first."""
        entry = self._spec["classes"][name]
        return [entry, *(self._spec["classes"][b] for b in entry["bases"])]

    def _class_attribute(self, cls: str, name: str):
        for entry in self._entries(cls):
            if name in entry["members"]:
                self.reached.add(f"{cls}.{name}")
                return self._member(*entry["members"][name])
            if name in entry["nested"]:
                self.reached.add(f"{cls}.{name}")
                return self._class(f"{cls}.{name}")
        if self._member_kind(cls, name):
            self.reached.add(f"{cls}.{name}")
            return getattr(SpecObject, name, None)
        self.missing.add(f"{cls}.{name}")
        raise AttributeError(f"type object 'tensorrt.{cls}' has no attribute '{name}'")

    def _member_kind(self, cls: str, name: str) -> str | None:
        for entry in self._entries(cls):
            if name in entry["properties"]:
                return "property"
            if name in entry["methods"]:
                return "method"
        return None

    def _property(self, cls: str, name: str):
        for entry in self._entries(cls):
            if name in entry["properties"]:
                return entry["properties"][name]
        return None

    def _doc(self, cls: str, name: str) -> str:
        for entry in self._entries(cls):
            if name == "__init__" and entry["init"]:
                return entry["init"]
            if name in entry["methods"]:
                return entry["methods"][name]
        raise TypeError(f"tensorrt.{cls} has no {name}")

    def _new(self, cls: str, **state):
        obj = object.__new__(self._class(cls))
        for key, value in state.items():
            object.__setattr__(obj, key, value)
        return obj

    def _parser_error(self, node, name, op, desc):
        return self._new("ParserError", _node=node, _node_name=name, _op=op, _desc=desc)

    # ---- calls
    def _bind(self, cls: str, method: str, args: tuple, kwargs: dict) -> dict:
        overloads = signatures(self._doc(cls, method), method)
        if not overloads:
            raise AssertionError(f"no signature in the docstring of tensorrt.{cls}.{method}")
        for overload in overloads:
            bound = self._try_bind(overload["params"], args, kwargs)
            if bound is not None:
                return bound
        wanted = "; ".join("(" + ", ".join(f"{n}: {t}" for n, t, _ in o["params"][1:]) + ")" for o in overloads)
        raise TypeError(
            f"{cls}.{method}(): incompatible function arguments: {_describe(args[1:])} {kwargs} "
            f"(TensorRT {self.__version__} takes {wanted})"
        )

    def _try_bind(self, params, args, kwargs):
        if len(args) > len(params) or set(kwargs) - {p[0] for p in params}:
            return None
        bound = {}
        for i, (name, ptype, has_default) in enumerate(params):
            if i < len(args):
                if name in kwargs:
                    return None
                value = args[i]
            elif name in kwargs:
                value = kwargs[name]
            elif has_default:
                continue
            else:
                return None
            if i and not (value is None and has_default) and not self._accepts(ptype, value):
                return None  # None passes only where the real signature defaults to it
            if i:
                bound[name] = value
        return bound

    def _accepts(self, ptype: str, value) -> bool:
        optional = re.match(r"^(?:typing\.)?Optional\[(.*)\]$", ptype) or re.match(r"^(.*) \| None$", ptype)
        if optional:
            return value is None or self._accepts(optional.group(1), value)
        if ptype in ("typing.SupportsInt", "int"):
            return isinstance(value, (int, np.integer)) and not isinstance(value, _Enum)
        if ptype in ("typing.SupportsFloat", "float"):
            return isinstance(value, (int, float, np.floating))
        if ptype == "bool":
            return isinstance(value, (bool, np.bool_))
        if ptype == "str":
            return isinstance(value, str)
        if ptype in ("tuple", "list"):
            return isinstance(value, {"tuple": tuple, "list": list}[ptype])
        if ptype == "Dims":
            return isinstance(value, (tuple, list)) and all(isinstance(d, (int, np.integer)) for d in value)
        if ptype in ("typing_extensions.Buffer", "collections.abc.Buffer", "buffer"):
            try:
                memoryview(value)
                return True
            except TypeError:
                return False
        if ptype in self._spec["classes"]:
            cls = self._class(ptype)
            if isinstance(value, cls):
                return True
            return isinstance(value, SpecObject) and (ptype in self._spec["classes"].get(value._spec_name, {}).get("bases", ()))
        return True  # object, typing.Any, callables: anything

    def _record(self, name: str, bound: dict) -> None:
        self.calls.append((name, {k: _describe(v) for k, v in bound.items()}))

    def _check_override(self, obj, base: str) -> None:
        """A Python subclass of a TensorRT interface must take the real callbacks' arguments."""
        import inspect

        for name, doc in self._spec["classes"][base]["methods"].items():
            impl = getattr(type(obj), name, None)
            if impl is None or name.startswith("_"):
                continue
            real = [p[0] for p in signatures(doc, name)[0]["params"]]
            mine = list(inspect.signature(impl).parameters)
            assert mine == real, f"{type(obj).__name__}.{name}{tuple(mine)} does not match tensorrt.{base}.{name}{tuple(real)}"

    # ---- rules of the build
    def build_problems(self, network, config) -> list[str]:
        """Why TensorRT would refuse to build ``network`` with ``config`` (empty: it builds)."""
        problems = [self.fail_build] if self.fail_build else []
        if network._inputs is None:
            return ["the network is empty (nothing was parsed)"]
        if network._strongly_typed:
            bad = sorted(set(config._flags) & set(PRECISION_FLAGS))
            if bad:
                problems.append(f"precision flags {bad} are not allowed on a strongly typed network")
        for name, info in network._inputs.items():
            dims = info["dims"]
            dynamic = any(not isinstance(d, int) for d in dims)
            if dynamic and not config._profiles:
                problems.append(f"input {name!r} has dynamic dimensions {dims} but no optimization profile")
            for k, profile in enumerate(config._profiles):
                shapes = profile._shapes.get(name)
                if shapes is None:
                    if dynamic:
                        problems.append(f"profile {k} does not set input {name!r}")
                    continue
                if any(len(s) != len(dims) for s in shapes):
                    problems.append(f"profile {k}: {name!r} rank differs from the network's {dims}")
                    continue
                for axis, d in enumerate(dims):
                    lo, opt, hi = (s[axis] for s in shapes)
                    if not 0 <= lo <= opt <= hi:
                        problems.append(f"profile {k}: {name!r} axis {axis} needs 0 <= min <= opt <= max, got {lo}, {opt}, {hi}")
                    if isinstance(d, int) and not lo == opt == hi == d:
                        problems.append(f"profile {k}: {name!r} axis {axis} is fixed at {d}, profile gives {lo}..{hi}")
        for k, profile in enumerate(config._profiles):
            for name in profile._shapes:
                if name not in network._inputs:
                    problems.append(f"profile {k} sets {name!r}, which is not a network input")
        return problems
