"""The GANimation face folder: OpenFace CSVs and the official pickle, AU scaling and order, splits, images, the
target AUs' noise and reproducibility, and the errors (each naming the file and field)."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from affect_lib.data.emotionet import FaceAUs

# OpenFace's 17 intensity columns, written out here (not taken from the library)
OPENFACE_AUS = "01 02 04 05 06 07 09 10 12 14 15 17 20 23 25 26 45".split()
# hand-written intensities (0-5 scale) by column name, and the expected vectors in GANimation order (/5, clipped)
INTENSITIES = {
    "a": {"AU12_r": 3.5, "AU06_r": 2.0},
    "b": {"AU01_r": 5.0, "AU45_r": 1.25, "AU26_r": 5.03},  # OpenFace's slight excess over 5: clipped to 1
    "c": {"AU04_r": 0.5, "AU15_r": 4.0},
}
EXPECTED = {
    "a": {8: 0.7, 4: 0.4},
    "b": {0: 1.0, 16: 0.25, 15: 1.0},
    "c": {2: 0.1, 10: 0.8},
}


def _expected(key):
    v = np.zeros(17, dtype=np.float32)
    for i, x in EXPECTED[key].items():
        v[i] = x
    return v


def _header(reverse=False):
    """An OpenFace FaceLandmarkImg header: padded names, extra columns, the _r and _c blocks."""
    aus = OPENFACE_AUS[::-1] if reverse else OPENFACE_AUS
    cols = (
        ["face", "confidence", "gaze_0_x", "pose_Tx"] + [f"AU{a}_r" for a in aus] + [f"AU{a}_c" for a in aus]
    )
    return cols


def _row(values, face=0, confidence=0.98, reverse=False):
    cells = []
    for col in _header(reverse):
        if col == "face":
            cells.append(str(face))
        elif col == "confidence":
            cells.append(str(confidence))
        elif col.endswith("_r"):
            cells.append(f"{values.get(col, 0.0):.3f}")
        else:
            cells.append("0.5")
    return cells


def _write_csv(path, rows, header):
    path.write_text(", ".join(header) + "\n" + "".join(", ".join(r) + "\n" for r in rows))


def _write_images(root, keys, size=32, ext=".png"):
    (root / "imgs").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    pixels = {}
    for key in keys:
        arr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(arr).save(root / "imgs" / f"{key}{ext}")
        pixels[key] = arr
    return pixels


def _per_image_folder(root):
    pixels = _write_images(root, INTENSITIES)
    (root / "aus").mkdir()
    for key, values in INTENSITIES.items():
        rows = [_row(values)]
        if key == "a":  # a second, less confident face, and a failed detection, in the same image
            rows.insert(0, _row({"AU01_r": 4.0}, face=1, confidence=0.7))
            rows.append(_row({"AU02_r": 4.0}, face=2, confidence=0.1))
        _write_csv(root / "aus" / f"{key}.csv", rows, _header())
    return pixels


def test_per_image_openface_csvs_are_scaled_ordered_and_filtered(tmp_path):
    _per_image_folder(tmp_path)
    ds = FaceAUs(tmp_path, image_size=32)
    assert ds.ids == ["a", "b", "c"]
    for i, key in enumerate(ds.ids):
        np.testing.assert_allclose(ds.aus[i].numpy(), _expected(key), atol=1e-6)
    assert ds.skipped["low_confidence"] == 1 and ds.skipped["no_aus"] == 0
    assert ds.au_source == tmp_path / "aus"


def test_one_csv_with_a_filename_column_in_another_column_order(tmp_path):
    _write_images(tmp_path, INTENSITIES)
    header = ["filename"] + _header(reverse=True) + ["success"]
    rows = [[f"{k}.png"] + _row(v, reverse=True) + ["1"] for k, v in INTENSITIES.items()]
    rows.append(
        ["a.png"] + _row({"AU09_r": 5.0}, confidence=0.99, reverse=True) + ["0"]
    )  # success 0: skipped
    _write_csv(tmp_path / "aus_openface.csv", rows, header)
    ds = FaceAUs(tmp_path, image_size=32)
    np.testing.assert_allclose(ds.aus.numpy(), np.stack([_expected(k) for k in "abc"]), atol=1e-6)
    assert ds.skipped["no_success"] == 1


def _official_folder(root) -> dict:
    """Four .jpg images x1-x4 and the official AU pickle (protocol 2), every AU of x<i> at intensity i; returns
    the pickled table."""
    _write_images(root, ["x1", "x2", "x3", "x4"], ext=".jpg")
    table = {f"x{i}": np.full(17, float(i)) for i in range(1, 5)}
    (root / "aus_openface.pkl").write_bytes(pickle.dumps(table, protocol=2))
    return table


def test_official_pickle_and_split_files(tmp_path):
    table = _official_folder(tmp_path)
    (tmp_path / "train_ids.csv").write_text("x1.jpg\nx3.jpg\nx4.jpg\n")
    (tmp_path / "test_ids.csv").write_text("x2\n")
    train, test = FaceAUs(tmp_path, "train", image_size=32), FaceAUs(tmp_path, "test", image_size=32)
    assert train.ids == ["x1", "x3", "x4"] and test.ids == ["x2"]
    np.testing.assert_allclose(train.aus[:, 0].numpy(), [0.2, 0.6, 0.8], atol=1e-6)
    assert len(FaceAUs(tmp_path, "all", image_size=32)) == 4
    (tmp_path / "train_ids.csv").unlink()  # then training takes every image that is not a test image
    assert FaceAUs(tmp_path, "train", image_size=32).ids == ["x1", "x3", "x4"]
    (tmp_path / "elsewhere.pkl").write_bytes(pickle.dumps({k: v * 0.5 for k, v in table.items()}))
    named = FaceAUs(tmp_path, "test", image_size=32, au_source=tmp_path / "elsewhere.pkl")
    np.testing.assert_allclose(named.aus[0].numpy(), np.full(17, 0.2), atol=1e-6)


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    _write_images(tmp_path, ["x1"])

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "aus_openface.pkl").write_bytes(pickle.dumps({"x1": Evil()}))
    with pytest.raises(
        ValueError,
        match=r"aus_openface\.pkl is not a plain data pickle: refusing to load global builtins\.print",
    ):
        FaceAUs(tmp_path, image_size=32)


def test_images_are_read_exactly_and_centre_cropped(tmp_path):
    pixels = _per_image_folder(tmp_path)
    ds = FaceAUs(tmp_path, image_size=32)
    image, aus, target = ds[1]
    assert image.shape == (3, 32, 32) and aus.shape == target.shape == (17,)
    torch.testing.assert_close(image, torch.tensor(pixels["b"]).permute(2, 0, 1).float() / 255 * 2 - 1)
    wide = np.random.default_rng(1).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    Image.fromarray(wide).save(tmp_path / "imgs" / "c.png")
    with pytest.raises(ValueError, match=r"c\.png is 48×32, not square"):
        ds.load_image(2)
    cropped = FaceAUs(tmp_path, image_size=32, center_crop=True).load_image(2)
    torch.testing.assert_close(cropped, torch.tensor(wide[:, 8:40]).permute(2, 0, 1).float() / 255 * 2 - 1)


def test_flip_gives_the_image_or_its_mirror(tmp_path):
    _per_image_folder(tmp_path)
    ds = FaceAUs(tmp_path, image_size=32, flip=True)
    plain = ds.load_image(0)
    seen = set()
    for epoch in range(12):
        ds.set_epoch(epoch)
        image = ds[0][0]
        seen.add(torch.equal(image, plain.flip(-1)))
        assert torch.equal(image, plain) or torch.equal(image, plain.flip(-1))
    assert seen == {True, False}


def test_target_is_another_items_aus_plus_bounded_noise_and_reproducible(tmp_path):
    _per_image_folder(tmp_path)
    exact = FaceAUs(tmp_path, image_size=32, target_noise=0.0)
    for i in range(3):  # without noise the target is exactly the AUs of one item
        assert any(torch.equal(exact[i][2], exact.aus[j]) for j in range(3))
    ds = FaceAUs(tmp_path, image_size=32, seed=7)
    noises = []
    for epoch in range(40):
        ds.set_epoch(epoch)
        for i in range(3):
            target = ds[i][2]
            gaps = [(target - ds.aus[j]).abs().max().item() for j in range(3)]
            j = int(np.argmin(gaps))
            assert gaps[j] <= 0.1 + 1e-6  # the AU vectors lie >= 0.2 apart, so j is the drawn item
            noises.append((target - ds.aus[j]).numpy())
    noises = np.concatenate(noises)
    assert noises.min() < -0.095 and noises.max() > 0.095 and abs(noises.mean()) < 0.01
    again = FaceAUs(tmp_path, image_size=32, seed=7)
    again.set_epoch(39)
    assert torch.equal(again[2][2], ds[2][2])  # same seed and epoch: same draw, whatever came before
    other = FaceAUs(tmp_path, image_size=32, seed=8)
    other.set_epoch(39)
    assert not torch.equal(other[2][2], ds[2][2])


def test_errors_name_the_file_and_field(tmp_path):
    with pytest.raises(FileNotFoundError, match="imgs"):
        FaceAUs(tmp_path)
    _per_image_folder(tmp_path)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "imgs" / "d.png")
    with pytest.raises(ValueError, match=r"d\.png has no AUs"):
        FaceAUs(tmp_path, image_size=32)
    ds = FaceAUs(tmp_path, image_size=32, skip_missing=True)
    assert ds.ids == ["a", "b", "c"] and ds.skipped["no_aus"] == 1

    (tmp_path / "aus" / "d.csv").write_text("face, confidence, AU01_r\n0, 0.9, 1.0\n")
    with pytest.raises(ValueError, match=r"d\.csv: no AU intensity columns AU02_r"):
        FaceAUs(tmp_path, image_size=32)
    values = dict(INTENSITIES["a"], AU17_r=float("nan"))
    _write_csv(tmp_path / "aus" / "d.csv", [_row(values)], _header())
    with pytest.raises(ValueError, match=r"d\.csv line 2: column 'AU17_r' holds a non-finite value"):
        FaceAUs(tmp_path, image_size=32)

    (tmp_path / "aus" / "d.csv").unlink()
    (tmp_path / "imgs" / "d.png").unlink()
    (tmp_path / "imgs" / "c.png").write_bytes(b"not an image")
    ds = FaceAUs(tmp_path, image_size=32)
    with pytest.raises(ValueError, match=r"image .*c\.png is unreadable"):
        ds[2]
    (tmp_path / "test_ids.csv").write_text("a\nzz.jpg\n")
    with pytest.raises(ValueError, match=r"test_ids\.csv: 1 listed image\(s\) are not in imgs/, e\.g\. 'zz'"):
        FaceAUs(tmp_path, "test", image_size=32)


def test_train_ids_that_overlap_test_ids_are_refused(tmp_path):
    _official_folder(tmp_path)
    (tmp_path / "train_ids.csv").write_text("x1.jpg\nx2.jpg\nx3\n")
    (tmp_path / "test_ids.csv").write_text("x2\nx3.jpg\n")
    for split in ("train", "test"):
        with pytest.raises(
            ValueError, match=r"train_ids\.csv and .*test_ids\.csv share 2 image\(s\), e\.g\. 'x2', 'x3'"
        ):
            FaceAUs(tmp_path, split, image_size=32)
    (tmp_path / "train_ids.csv").write_text("x1\nx4\n")
    assert FaceAUs(tmp_path, "train", image_size=32).ids == ["x1", "x4"]
    assert FaceAUs(tmp_path, "all", image_size=32).ids == ["x1", "x2", "x3", "x4"]


def test_au_values_off_the_0_5_scale_are_refused_not_clipped(tmp_path):
    _write_images(tmp_path, ["x1", "x2"])
    path = tmp_path / "aus_openface.pkl"
    table = {"x1": np.full(17, 2.0), "x2": np.full(17, 3.0)}
    for bad in (5.2, -0.3, 25.0):
        table["x2"][4] = bad
        path.write_bytes(pickle.dumps(table))
        with pytest.raises(
            ValueError, match=rf"aus_openface\.pkl: entry 'x2' has AU06_r = {bad:g}, outside 0-5"
        ):
            FaceAUs(tmp_path, image_size=32)
    table["x2"][4], table["x2"][5] = 5.04, -0.04  # OpenFace's slight excess: accepted and clipped
    path.write_bytes(pickle.dumps(table))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = FaceAUs(tmp_path, image_size=32)
    assert (
        ds.aus[1, 4].item() == 1.0
        and ds.aus[1, 5].item() == 0.0
        and ds.aus[1, 0].item() == pytest.approx(0.6)
    )
    # a CSV row names the file and the image too
    _write_csv(tmp_path / "aus_openface.csv", [["x1.png"] + _row({"AU12_r": 7.5})], ["filename"] + _header())
    with pytest.raises(ValueError, match=r"aus_openface\.csv: entry 'x1' has AU12_r = 7\.5, outside 0-5"):
        FaceAUs(tmp_path, "all", image_size=32, au_source=tmp_path / "aus_openface.csv", skip_missing=True)


def test_a_table_already_on_the_0_1_scale_is_warned_about(tmp_path):
    _write_images(tmp_path, ["x1", "x2"])
    path = tmp_path / "aus_openface.pkl"
    path.write_bytes(pickle.dumps({"x1": np.full(17, 0.2), "x2": np.full(17, 1.0)}))
    with pytest.warns(UserWarning, match=r"aus_openface\.pkl: .*at most 1\.0.*0-1 scale"):
        ds = FaceAUs(tmp_path, image_size=32)
    assert ds.aus.max().item() == pytest.approx(0.2)  # still divided by 5, as documented
