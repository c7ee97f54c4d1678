"""ModelInfo: the self-description every artefact carries."""

from __future__ import annotations

import json

import pytest

from acnet.errors import ModelFileError
from acnet.runtime.metadata import ModelInfo
from acnet.runtime.preprocess import Normalization


def _info(**kw) -> ModelInfo:
    base = dict(acnet_version="0.1.0", backbone="resnet18", num_classes=3, class_names=("a", "b", "c"),
                input_height=64, input_width=96, normalization=Normalization(depth_mean=2.0))
    return ModelInfo(**{**base, **kw})


def test_props_roundtrip():
    info = _info(precision="fp16", batch=0, dynamic_hw=True, source_sha256="ab" * 32)
    props = info.to_props()
    assert all(k.startswith("acnet.") and isinstance(v, str) for k, v in props.items())
    assert ModelInfo.from_props({**props, "other.key": "x"}) == info
    assert ModelInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info
    assert info.preprocess_config.height == 64


def test_missing_or_foreign_metadata_is_refused():
    with pytest.raises(ModelFileError, match="no acnet metadata"):
        ModelInfo.from_props({"producer": "someone"}, source="x.onnx")
    props = _info().to_props()
    del props["acnet.num_classes"]
    with pytest.raises(ModelFileError, match="'num_classes'"):
        ModelInfo.from_props(props)
    props = _info().to_props()
    props["acnet.schema_version"] = "99"
    with pytest.raises(ModelFileError, match="newer acnet"):
        ModelInfo.from_props(props)


def test_class_count_mismatch_is_refused():
    with pytest.raises(ModelFileError, match="2 class names for 3 classes"):
        _info(class_names=("a", "b"))


@pytest.mark.parametrize("field, value", [
    ("num_classes", float("inf")), ("num_classes", float("nan")), ("num_classes", 10**400), ("batch", -float("inf")),
    ("class_id_offset", 2**31 - 1), ("dynamic_hw", "false"), ("class_names", "abc"),
])
def test_from_dict_checks_python_values_too(field, value):
    """A dict that never was JSON (OverflowError, ValueError and coercions before): one ModelFileError."""
    record = {**_info().to_dict(), field: value}
    with pytest.raises(ModelFileError, match=f"'{field}' must be"):
        ModelInfo.from_dict(record, source="x")


def test_constructing_metadata_out_of_range_is_refused():
    """Export code builds ModelInfo directly: what a reader would refuse is refused there already."""
    with pytest.raises(ModelFileError, match="'num_classes' must be an integer in 1..255"):
        _info(num_classes=300, class_names=tuple("x" * 300))
    with pytest.raises(ModelFileError, match=r"class ids 254\.\.256"):
        _info(class_id_offset=254)
    with pytest.raises(Exception, match=r"'normalization.depth_std' is out of range for the float32 preprocessing"):
        Normalization(depth_std=1e-310)


@pytest.mark.parametrize("rule", [
    {"type": "string", "pattern": "^a"},  # a JSON Schema keyword the C side and check_schema do not enforce
    {"type": "integer", "minimum": 0.5},
    {"$ref": "#/$defs/x", "type": "object"},
    {"type": "object", "required": ["a"], "properties": {}},
])
def test_the_schema_may_use_only_what_both_sides_enforce(rule):
    """A rule neither reader would enforce must fail at import, never be ignored silently (schema.cpp checks the same)."""
    from acnet._typed import check_schema_rules

    with pytest.raises(ValueError, match="metadata schema"):
        check_schema_rules({"$defs": {"x": rule}})
