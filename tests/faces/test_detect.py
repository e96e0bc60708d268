"""BlazeFace through ai-edge-litert (skipped without them): against the Haar cascade, the hand-annotated astronaut
and faces pasted at known places; its uses in the fer crop, ``faces edit`` and the RAVDESS preprocessing."""

import argparse

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data, transform

from affect_lib.faces import crop, detect, mesh
from affect_lib.faces.images import astronaut_landmarks, load_face

pytest.importorskip("ai_edge_litert.interpreter")
try:
    mesh.mediapipe_model_path(detect.DETECTOR_FILE)
except FileNotFoundError:
    pytest.skip("mediapipe's model files are not installed", allow_module_level=True)

PATCH = (130, 40, 330, 240)
"""(x0, y0, x1, y1) of the astronaut photograph around her face, pasted elsewhere below."""


def _iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h)


def _corners(xywh) -> tuple[float, float, float, float]:
    x, y, w, h = (float(v) for v in xywh)
    return x, y, x + w, y + h


def _lfw_in_canvas(index: int, face: int = 100, canvas: int = 250) -> np.ndarray:
    """LFW face ``index`` (25 × 25 grey) upscaled to ``face`` pixels in the middle of a grey canvas, RGB uint8."""
    grey = transform.resize(data.lfw_subset()[index], (face, face), order=3).clip(0, 1)
    image = np.full((canvas, canvas), 128, np.uint8)
    at = (canvas - face) // 2
    image[at : at + face, at : at + face] = (grey * 255).round().astype(np.uint8)
    return np.repeat(image[..., None], 3, axis=2)


def test_the_model_has_the_documented_tensors_and_anchors():
    it = mesh.tflite_interpreter(detect.DETECTOR_FILE)
    assert it.get_input_details()[0]["shape"].tolist() == [1, 128, 128, 3]
    shapes = {d["name"]: d["shape"].tolist() for d in it.get_output_details()}
    assert shapes == {"regressors": [1, 896, 16], "classificators": [1, 896, 1]}
    anchors = detect.ssd_anchors()
    assert anchors.shape == (896, 2)
    np.testing.assert_allclose(anchors[:2], [[1 / 32, 1 / 32]] * 2)  # 16 x 16 cells, 2 anchors each
    np.testing.assert_allclose(anchors[2], [3 / 32, 1 / 32])
    np.testing.assert_allclose(anchors[512:518], [[1 / 16, 1 / 16]] * 6)  # 8 x 8 cells, 6 anchors each
    np.testing.assert_allclose(anchors[-1], [15 / 16, 15 / 16])


def test_weighted_nms_averages_each_overlapping_group_by_score():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [2, 0, 12, 10.0]])
    keypoints = boxes[:, None, :2] + np.zeros((4, 3, 2))
    scores = np.array([0.9, 0.6, 0.8, 0.3])
    kept = detect.weighted_nms(boxes, keypoints, scores)
    # boxes 0, 1 (IoU 0.68) and 3 (IoU 0.67 with box 0) form a group; box 2 is alone
    mean = (0.9 * boxes[0] + 0.6 * boxes[1] + 0.3 * boxes[3]) / 1.8
    assert [k[2] for k in kept] == [0.9, 0.8]
    np.testing.assert_allclose(kept[0][0], mean)
    np.testing.assert_allclose(kept[0][1], np.repeat(mean[None, :2], 3, axis=0))
    np.testing.assert_allclose(kept[1][0], boxes[2])


def test_astronaut_agrees_with_the_cascade_and_the_hand_annotation():
    photo = data.astronaut()
    faces = detect.detect_faces(photo)
    assert len(faces) == 1 and faces[0].score > 0.8
    face = faces[0]
    (haar,) = crop.detect_faces(photo)
    assert _iou(face.box, _corners(haar)) > 0.5
    marks = astronaut_landmarks()
    interocular = np.linalg.norm(marks["eye_r"] - marks["eye_l"])
    named = dict(zip(detect.KEYPOINTS, face.keypoints, strict=True))
    # the subject's right eye is on the image's left: the annotation's eye_l
    assert np.linalg.norm(named["right_eye"] - marks["eye_l"]) < 0.2 * interocular
    assert np.linalg.norm(named["left_eye"] - marks["eye_r"]) < 0.2 * interocular
    assert np.linalg.norm(named["nose_tip"] - marks["nose_tip"]) < 0.25 * interocular
    mouth = (marks["mouth_l"] + marks["mouth_r"] + marks["lip_upper"] + marks["lip_lower"]) / 4
    assert np.linalg.norm(named["mouth"] - mouth) < 0.25 * interocular
    as_float = detect.detect_faces(photo / 255.0)
    np.testing.assert_allclose(as_float[0].box, face.box, atol=0.5)


def test_lfw_faces_are_found_where_the_cascade_finds_them():
    ious, found = [], 0
    for index in range(0, 100, 10):
        image = _lfw_in_canvas(index)
        face = detect.largest_face(image)
        found += face is not None
        haar = crop.detect_faces(image)
        if face is not None and len(haar):
            ious.append(_iou(face.box, _corners(max(haar, key=lambda b: b[2] * b[3]))))
    assert found >= 9 and len(ious) >= 8
    assert np.median(ious) > 0.5 and min(ious) > 0.3


@pytest.mark.parametrize(
    ("canvas", "at", "scale"), [((400, 640), (400, 120), 1.2), ((900, 400), (60, 500), 1.6)]
)
def test_a_pasted_face_is_found_where_it_was_pasted(canvas, at, scale):
    photo = data.astronaut()
    x0, y0, x1, y1 = PATCH
    reference = detect.largest_face(photo)  # a face of about the same size in the model's input
    side = round((x1 - x0) * scale)
    patch = cv2.resize(photo[y0:y1, x0:x1], (side, side), interpolation=cv2.INTER_CUBIC)
    image = np.random.default_rng(1).integers(0, 256, (*canvas, 3), dtype=np.uint8)
    image[at[1] : at[1] + side, at[0] : at[0] + side] = patch
    (face,) = detect.detect_faces(image)
    k = side / (x1 - x0)
    shift = np.array(at) - k * np.array([x0, y0])
    expected = np.array(reference.box) * k + np.tile(shift, 2)
    width = expected[2] - expected[0]
    np.testing.assert_allclose(face.box, expected, atol=0.08 * width)
    inner = slice(0, 4)  # eyes, nose tip, mouth (the ear tragions are looser)
    np.testing.assert_allclose(
        face.keypoints[inner], reference.keypoints[inner] * k + shift, atol=0.08 * width
    )


def test_noise_and_flat_images_have_no_face():
    rng = np.random.default_rng(0)
    for shape in ((256, 256, 3), (300, 500, 3), (500, 200, 3)):
        assert detect.detect_faces(rng.integers(0, 256, shape, dtype=np.uint8)) == []
        smooth = cv2.GaussianBlur(rng.random(shape, dtype=np.float32), (0, 0), 6)
        assert detect.detect_faces((smooth - smooth.min()) / np.ptp(smooth)) == []
    assert detect.detect_faces(np.full((64, 64, 3), 0.5)) == []


def test_bad_input_is_refused_with_its_reason():
    with pytest.raises(ValueError, match="shape"):
        detect.detect_faces(np.zeros((64, 64, 4), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        detect.detect_faces(np.zeros((4, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="dtype int32"):
        detect.detect_faces(np.zeros((64, 64, 3), np.int32))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        detect.detect_faces(np.full((64, 64, 3), 2.0))
    with pytest.raises(ValueError, match="finite"):
        detect.detect_faces(np.full((64, 64, 3), np.nan))
    with pytest.raises(ValueError, match="min_score"):
        detect.detect_faces(data.astronaut(), min_score=1.5)


def test_square_around_repeats_the_edge_outside_the_image():
    image = np.arange(20 * 30).reshape(20, 30)
    face = detect.Detection((-4.0, 2.0, 6.0, 12.0), 1.0, np.zeros((6, 2)))
    cut = detect.square_around(image, face, scale=1.0)
    assert cut.shape == (10, 10)
    np.testing.assert_array_equal(cut[:, 4:], image[2:12, :6])
    np.testing.assert_array_equal(cut[:, :4], np.repeat(image[2:12, :1], 4, axis=1))


def test_the_fer_crop_from_blazeface_matches_the_cascade_crop_on_the_astronaut():
    photo = data.astronaut()  # not among the faces CASCADE_SCALE and CASCADE_SHIFT were measured on
    (cascade,) = crop.detect_faces(photo)
    (blaze,) = crop.detect_faces(photo, detector="blazeface")
    assert _iou(_corners(cascade), _corners(blaze)) > 0.75
    a, b = crop.fer_faces(photo), crop.fer_faces(photo, detector="blazeface")
    assert a.shape == b.shape == (1, 1, 64, 64)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.8
    np.testing.assert_array_equal(a, crop.fer_faces(photo, boxes=cascade[None]))
    with pytest.raises(ValueError, match="detector must be one of"):
        crop.detect_faces(photo, detector="yunet")


def _edit(*argv):
    from affect_lib.commands import faces as cli

    parser = argparse.ArgumentParser(prog="affect-lib")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_faces_edit_finds_a_bordered_lfw_face(tmp_path):
    from affect_lib.commands.faces import load_source

    bordered = _lfw_in_canvas(3, face=120, canvas=360)[..., 0]
    path = tmp_path / "lfw3.png"
    Image.fromarray(bordered).save(path)  # a grey PNG
    with pytest.raises(ValueError, match="no face"):  # the mesh alone does not find so small a face
        mesh.fit_face(np.repeat(bordered[..., None], 3, axis=2))
    face = load_source(str(path), 64)
    tight = mesh.fit_face(load_face("lfw", size=192, index=3).image, size=64)
    errors = [np.linalg.norm(face.landmarks[n] - xy) / tight.interocular for n, xy in tight.landmarks.items()]
    assert np.median(errors) < 0.1
    deep = tmp_path / "lfw3_16bit.png"
    Image.fromarray(bordered.astype(np.uint16) * 257).save(deep)
    np.testing.assert_allclose(
        load_source(str(deep), 64).landmarks["mouth_l"], face.landmarks["mouth_l"], atol=0.5
    )
    out = tmp_path / "smile.png"
    assert (
        _edit("faces", "edit", "--image", str(path), "--size", "64", "--aus", "AU12=4", "--out", str(out))
        == 0
    )
    assert np.asarray(Image.open(out)).shape == (64, 64, 3)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="broken.png: not a readable image"):
        load_source(str(tmp_path / "broken.png"), 64)


def test_ravdess_preprocessing_can_crop_with_blazeface(tmp_path, monkeypatch):
    from affect_lib.data import av_preprocess
    from affect_lib.data.synthetic_ravdess import AUDIO_RATE, write_mp4

    monkeypatch.setenv("AFFECT_CACHE_DIR", str(tmp_path / "cache"))
    x0, y0, x1, y1 = PATCH
    frame = np.full((240, 400, 3), 235, np.uint8)
    frame[20:220, 150:350] = data.astronaut()[y0:y1, x0:x1]
    path = tmp_path / "Actor_01" / "01-01-01-01-01-01-01.mp4"
    path.parent.mkdir()
    audio = (0.1 * np.random.default_rng(0).normal(size=AUDIO_RATE)).astype(np.float32)
    write_mp4(path, np.repeat(frame[None], 6, axis=0), 10, audio)
    settings = {"n_frames": 3, "size": 32, "mfcc_offset": 0.1, "mfcc_duration": 0.5}
    config = av_preprocess.PreprocessConfig(crop="blazeface", **settings)
    assert config.key() != av_preprocess.PreprocessConfig(**settings).key()
    clip = av_preprocess.preprocess_clip(path, config)
    haar = av_preprocess.preprocess_clip(path, av_preprocess.PreprocessConfig(**settings))
    assert clip.frames.shape == (3, 32, 32, 3) and (clip.missed, clip.fallbacks) == (0, 0)
    expected = detect.largest_face(frame).box  # on the frame before encoding
    for box, cascade in zip(clip.boxes, haar.boxes, strict=True):
        np.testing.assert_allclose(_corners(box), expected, atol=3)
        assert _iou(_corners(box), _corners(cascade)) > 0.5
    with pytest.raises(ValueError, match="crop must be one of"):
        av_preprocess.PreprocessConfig(crop="mtcnn")
