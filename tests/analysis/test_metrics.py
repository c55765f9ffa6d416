import numpy as np
import pytest

from analysis.metrics import confusion_matrix, iou_per_class, mean_iou, score_segmentations


def test_iou_hand_computed():
    truth = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 2, 0])
    cm = confusion_matrix(truth, pred, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    # class 0: |{0}| / |{0,1,5}| = 1/3; class 1: 2/3; class 2: 1/2
    np.testing.assert_allclose(iou_per_class(cm), [1 / 3, 2 / 3, 1 / 2])
    assert mean_iou(cm) == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert mean_iou(cm, [1, 2]) == pytest.approx((2 / 3 + 1 / 2) / 2)


def test_absent_class_is_left_out_not_zero():
    truth = np.array([0, 1, 1])
    pred = np.array([0, 1, 1])
    scores = score_segmentations(truth, pred, 4, org_classes=[1, 2, 3])
    assert scores.miou_all == 1.0 and scores.miou_org == 1.0
    assert np.isnan(scores.iou[2]) and np.isnan(scores.iou[3])


def test_mask_and_bad_labels():
    truth = np.array([0, 1, 2])
    pred = np.array([0, 2, 2])
    cm = confusion_matrix(truth, pred, 3, mask=np.array([True, False, True]))
    assert cm.sum() == 2
    with pytest.raises(ValueError, match="outside 0..2"):
        confusion_matrix(truth, np.array([0, 3, 1]), 3)
