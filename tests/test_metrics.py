"""Metrics against a hand-computed confusion matrix."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from acnet.errors import InputError
from acnet.training.metrics import ConfusionMatrix

# 4 classes. Ground truth and prediction, 0 = void in the label.
LABEL = np.array([[1, 1, 2, 2, 0],
                  [1, 3, 3, 2, 0]], np.uint8)
PRED = np.array([[1, 2, 2, 2, 4],
                 [1, 3, 1, 4, 1]], np.uint8)
# rows = truth 1..4, columns = prediction 1..4 (void pixels ignored)
EXPECTED = np.array([[2, 1, 0, 0],
                     [0, 2, 0, 1],
                     [1, 0, 1, 0],
                     [0, 0, 0, 0]])


def test_confusion_matrix_by_hand():
    cm = ConfusionMatrix(4).update(PRED, LABEL)
    np.testing.assert_array_equal(cm.matrix, EXPECTED)
    assert cm.total == 8
    # IoU = TP / (TP + FP + FN): class1 2/(3+3-2)=0.5, class2 2/(3+3-2)=0.5, class3 1/(2+1-1)=0.5,
    # class4: never true, predicted once -> 0/(0+1-0) = 0 (counts in the mean)
    np.testing.assert_allclose(cm.per_class_iou(), [0.5, 0.5, 0.5, 0.0])
    assert cm.miou() == pytest.approx(0.375)
    assert cm.pixel_accuracy() == pytest.approx(5 / 8)
    # recall: 2/3, 2/3, 1/2; class 4 absent from the truth -> left out
    assert math.isnan(cm.per_class_accuracy()[3])
    assert cm.mean_class_accuracy() == pytest.approx((2 / 3 + 2 / 3 + 1 / 2) / 3)


def test_classes_never_seen_nor_predicted_are_left_out():
    cm = ConfusionMatrix(5).update(np.array([1, 2, 2]), np.array([1, 2, 1]))
    iou = cm.per_class_iou()
    assert np.isnan(iou[2:]).all()  # classes 3..5: union 0
    assert cm.miou() == pytest.approx((1 / 2 + 1 / 2) / 2)


def test_dataset_miou_is_sum_of_intersections_over_sum_of_unions():
    a = ConfusionMatrix(2).update(np.array([1, 1, 1, 1]), np.array([1, 1, 1, 2]))
    b = ConfusionMatrix(2).update(np.array([2, 2]), np.array([2, 1]))
    both = a + b
    np.testing.assert_array_equal(both.matrix, a.matrix + b.matrix)
    # class 1: I = 3, U = 4 + 1 + ... -> over the whole set: TP 3, FP 1, FN 1 -> 3/5; class 2: 1/3
    np.testing.assert_allclose(both.per_class_iou(), [3 / 5, 1 / 3])
    per_image_mean = (a.miou() + b.miou()) / 2
    assert both.miou() != pytest.approx(per_image_mean)
    merged = ConfusionMatrix(2).update(np.array([1, 1, 1, 1, 2, 2]), np.array([1, 1, 1, 2, 2, 1]))
    np.testing.assert_array_equal(merged.matrix, both.matrix)


def test_empty_matrix_metrics_are_nan_and_json_null():
    cm = ConfusionMatrix(3).update(np.array([1, 2]), np.array([0, 0]))
    assert cm.total == 0 and math.isnan(cm.miou()) and math.isnan(cm.pixel_accuracy())
    d = cm.to_dict(["a", "b", "c"])
    assert d["miou"] is None and d["per_class"][0]["iou"] is None
    json.dumps(d, allow_nan=False)


def test_to_dict_and_table_name_the_classes():
    cm = ConfusionMatrix(4).update(PRED, LABEL)
    names = ["wall", "floor", "chair", "lamp"]
    d = cm.to_dict(names)
    assert d["per_class"][2] == {"id": 3, "name": "chair", "iou": 0.5, "accuracy": 0.5, "pixels": 2}
    assert d["confusion_matrix"] == EXPECTED.tolist()
    assert d["miou"] == pytest.approx(0.375)
    text = cm.table(names)
    assert "chair" in text and "50.00%" in text and "37.50%" in text
    with pytest.raises(InputError):
        cm.to_dict(["too", "few"])


@pytest.mark.parametrize(
    "pred, label, message",
    [
        (np.array([0, 1]), np.array([1, 1]), "predicted ids"),
        (np.array([5, 1]), np.array([1, 1]), "predicted ids"),
        (np.array([1, 1]), np.array([1, 7]), "label ids"),
        (np.array([1, 1, 1]), np.array([1, 1]), "differ in shape"),
    ],
)
def test_bad_inputs_are_refused(pred, label, message):
    with pytest.raises(InputError, match=message):
        ConfusionMatrix(4).update(pred, label)


def test_merge_refuses_other_class_counts():
    with pytest.raises(InputError):
        ConfusionMatrix(3) + ConfusionMatrix(4)


def test_metrics_and_data_do_not_import_torch():
    code = ("import sys, acnet.training.metrics, acnet.training.data, acnet.training.transforms;"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
