"""ROS 2 topic names: one validator, by rcl's and rmw's rules."""

from __future__ import annotations

import pytest

from acnet.errors import ConfigError
from acnet.runtime.rosnames import MAX_FULL_NAME_LENGTH, check_topic_name, topic_name_problem

VALID = ["/acnet/labels", "acnet/labels", "labels", "~/labels", "~", "/camera/camera/color/image_raw",
         "{node}/labels", "/a_b/c1", "_hidden"]
INVALID = ["", "/", "/acnet/", "1abc", "/acnet/1labels", "acnet labels", "/acnet/labels?", "a~b", "~labels",
           "{1a}", "{a", "a}", "{a/b}", "{{a}}", "/acnet/lab-els", "/acnet/\u00e9"]


@pytest.mark.parametrize("name", VALID)
def test_valid_names_pass(name):
    assert topic_name_problem(name) is None
    assert check_topic_name(name) == name


@pytest.mark.parametrize("name", INVALID)
def test_invalid_names_are_refused_naming_the_name(name):
    assert topic_name_problem(name) is not None
    with pytest.raises(ConfigError, match="not a valid ROS 2 topic name") as info:
        check_topic_name(name, "--labels-topic")
    assert repr(name) in str(info.value) and "--labels-topic" in str(info.value)


@pytest.mark.parametrize("name", ["acnet/labels", "~/labels", "/{node}/labels", "/acnet//labels",
                                  "/" + "a" * MAX_FULL_NAME_LENGTH])
def test_absolute_names_are_fully_expanded(name):
    assert topic_name_problem(name) is None or "//" in name
    assert topic_name_problem(name, absolute=True) is not None
    assert topic_name_problem("/acnet/labels", absolute=True) is None


def test_not_a_string():
    with pytest.raises(ConfigError, match="must be a string, not int"):
        check_topic_name(3)
