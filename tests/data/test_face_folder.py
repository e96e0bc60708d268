"""``prepare_faces``: a folder of photographs (LFW faces upscaled into larger frames, the astronaut, a photograph
without a face, one with two faces, a text file, a broken image) becomes a folder that GANimation's loader reads
(skipped without ai-edge-litert and mediapipe's model files)."""

import csv
import json

import numpy as np
import pytest
from PIL import Image
from skimage import data, transform

from affect_lib.data.emotionet import AU_COLUMNS, FaceAUs
from affect_lib.faces import mesh
from affect_lib.faces.facs import AU_MAX
from affect_lib.faces.images import load_face

pytest.importorskip("ai_edge_litert.interpreter")
try:
    mesh.mesh_model_path()
except FileNotFoundError:
    pytest.skip("mediapipe's model files are not installed", allow_module_level=True)

from affect_lib.data.face_folder import face_id, prepare_faces  # noqa: E402 (after the skip)

LFW = (0, 1, 2, 3, 5, 6)


def _lfw_photo(
    index: int, face: int = 100, canvas: tuple[int, int] = (250, 250), at: tuple[int, int] | None = None
) -> np.ndarray:
    """LFW face ``index`` (25 × 25 grey) upscaled to ``face`` pixels in a grey canvas, at (row, column) ``at``
    (default: the middle), RGB uint8."""
    grey = transform.resize(data.lfw_subset()[index], (face, face), order=3).clip(0, 1)
    image = np.full(canvas, 128, np.uint8)
    y, x = at if at is not None else ((canvas[0] - face) // 2, (canvas[1] - face) // 2)
    image[y : y + face, x : x + face] = (grey * 255).round().astype(np.uint8)
    return np.repeat(image[..., None], 3, axis=2)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    src = tmp_path_factory.mktemp("photos")
    for index in LFW:
        Image.fromarray(_lfw_photo(index)).save(src / f"lfw {index}.png")
    Image.fromarray(data.astronaut()).save(src / "astronaut.jpg", quality=95)
    Image.fromarray(data.coffee()).save(src / "coffee.png")
    Image.fromarray(np.concatenate([_lfw_photo(3), _lfw_photo(5)], axis=1)).save(src / "two.png")
    (src / "notes.txt").write_text("not a photograph")
    (src / "broken.jpg").write_bytes(b"not a jpeg")
    (src / "album").mkdir()
    return src


@pytest.fixture(scope="module")
def prepared(photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared") / "faces"
    return prepare_faces(photos, out, seed=3), out


def test_every_face_is_written_and_every_other_file_listed(prepared):
    report, out = prepared
    ids = sorted(f"lfw_{i}" for i in LFW) + ["astronaut"]
    assert sorted(f["id"] for f in report.faces) == sorted(ids)
    assert sorted(p.name for p in (out / "imgs").iterdir()) == sorted(f"{i}.png" for i in ids)
    reasons = {s["file"]: s["reason"] for s in report.skipped}
    assert set(reasons) == {"coffee.png", "two.png", "notes.txt", "broken.jpg", "album"}
    assert reasons["coffee.png"] == "no face found"
    assert reasons["two.png"].startswith("2 faces")
    assert "not an image file" in reasons["notes.txt"]
    assert "not a readable image" in reasons["broken.jpg"]
    written = json.loads((out / "prepare.json").read_text())
    assert written["skipped"] == report.skipped and written["faces"] == report.faces
    assert "not by OpenFace" in written["aus"]
    assert written["counts"] == {"train": 6, "test": 1, "skipped": 5}


def test_the_folder_loads_through_ganimations_loader(prepared):
    from affect_lib.recipes import ganimation

    report, out = prepared
    settings = ganimation("paper").data
    kwargs = {"image_size": settings.image_size, "min_confidence": settings.min_confidence}
    train, test = FaceAUs(out, "train", **kwargs), FaceAUs(out, "test", **kwargs)
    assert sorted(train.ids + test.ids) == sorted(f["id"] for f in report.faces)
    assert not set(train.ids) & set(test.ids)
    assert test.ids == [f["id"] for f in report.faces if f["split"] == "test"]
    with (out / "aus_openface.csv").open(newline="") as fh:
        rows = {r["filename"]: r for r in csv.DictReader(fh)}
    for key, aus in zip(train.ids, train.aus, strict=True):
        expected = [float(rows[f"{key}.png"][c]) / AU_MAX for c in AU_COLUMNS]
        np.testing.assert_allclose(aus.numpy(), expected, atol=1e-6)
    image, aus, target = train[0]
    assert image.shape == (3, 128, 128) and aus.shape == target.shape == (17,)
    pixels = np.asarray(Image.open(train.paths[0]).convert("RGB"), dtype=np.float32) / 255.0
    np.testing.assert_allclose(image.numpy(), pixels.transpose(2, 0, 1) * 2 - 1, atol=1e-6)


def test_the_astronaut_is_aligned_as_by_her_hand_annotation(prepared):
    _, out = prepared
    from skimage.registration import phase_cross_correlation

    written = np.asarray(Image.open(out / "imgs" / "astronaut.png").convert("L"), dtype=np.float64) / 255
    by_hand = load_face("astronaut", size=128).image.mean(2)  # aligned by the annotated eyes, not the mesh
    shift, _, _ = phase_cross_correlation(by_hand, written, upsample_factor=10)
    assert np.abs(shift).max() < 1.0  # pixels; the inter-ocular distance is 36
    moved, _, _ = phase_cross_correlation(by_hand, np.roll(written, 4, axis=1), upsample_factor=10)
    assert abs(moved[1] + 4) < 1.0  # the comparison sees a shift


def test_the_split_is_seeded(photos, prepared, tmp_path):
    report, _ = prepared
    again = prepare_faces(photos, tmp_path / "again", seed=3)
    assert [(f["id"], f["split"]) for f in again.faces] == [(f["id"], f["split"]) for f in report.faces]
    assert (tmp_path / "again" / "test_ids.csv").read_text() == (prepared[1] / "test_ids.csv").read_text()


def test_a_neutral_photograph_of_the_person_is_the_reference(tmp_path):
    src = tmp_path / "person"
    src.mkdir()
    Image.fromarray(_lfw_photo(6, 100)).save(src / "a.png")
    Image.fromarray(_lfw_photo(6, 80, at=(20, 20))).save(src / "b.png")
    Image.fromarray(_lfw_photo(6, 115, at=(60, 50))).save(tmp_path / "neutral.png")  # another shot, same face
    against_person = prepare_faces(src, tmp_path / "own", neutral=tmp_path / "neutral.png")
    prepare_faces(src, tmp_path / "book")
    with pytest.warns(UserWarning, match="at most 1.0"):  # the loader's warning: these AUs are all small
        own = FaceAUs(tmp_path / "own", "all").aus * AU_MAX
    book = FaceAUs(tmp_path / "book", "all").aus * AU_MAX
    assert against_person.counts()["skipped"] == 0
    assert own.max() < 1.0  # the person's own face, resampled, reads as (nearly) neutral
    assert book.sum() > 5 * own.sum() + 5.0  # against another person's face, its shape reads as AUs
    assert "neutral.png" in json.loads((tmp_path / "own" / "prepare.json").read_text())["aus"]


def test_existing_output_is_never_touched(photos, prepared):
    _, out = prepared
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with pytest.raises(FileExistsError, match="never overwritten"):
        prepare_faces(photos, out)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


def test_too_few_faces_write_nothing(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(_lfw_photo(0)).save(src / "one.png")
    Image.fromarray(data.coffee()).save(src / "coffee.png")
    with pytest.raises(ValueError, match="faces found in 1 of 2 image files"):
        prepare_faces(src, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]  # no output, no temporary folder left


def test_bad_input_is_refused_before_anything_is_read(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.png").write_bytes(b"")
    (src / "a.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match=r"a\.jpg and .*a\.png would both be written as imgs/a\.png"):
        prepare_faces(src, tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        prepare_faces(tmp_path / "missing", tmp_path / "out")
    with pytest.raises(ValueError, match="size"):
        prepare_faces(src, tmp_path / "out", size=8)
    with pytest.raises(ValueError, match="test_fraction"):
        prepare_faces(src, tmp_path / "out", test_fraction=1.0)
    with pytest.raises(FileNotFoundError, match="neutral"):
        prepare_faces(src, tmp_path / "out", neutral=tmp_path / "none.png")
    assert not (tmp_path / "out").exists()
    assert face_id("Smith, J. (2).jpeg") == "Smith__J.__2_"


def test_a_generator_is_scored_on_the_prepared_faces(prepared):
    from torch import nn

    from affect_lib.runs.ganimation import score_data_folder

    class Unchanged(nn.Module):
        """A stand-in generator that returns its input (attention 1 everywhere)."""

        n_aus = 17

        def forward(self, image, aus):
            return image, image, image[:, :1] * 0 + 1

    _, out = prepared
    score = score_data_folder(Unchanged(), out, split="all", n_faces=2, n_targets=3, seed=1)
    folder = FaceAUs(out, "all")
    assert score.targets.shape == (6, 17)
    own = folder.aus.numpy() * AU_MAX
    for i, row in enumerate(score.targets):  # each target is another face's AUs
        matches = np.flatnonzero(np.abs(own - row).max(1) < 1e-5)
        assert len(matches) and i // 3 not in matches
    np.testing.assert_allclose(score.reference, np.repeat(own[:2], 3, axis=0), atol=1e-5)
    np.testing.assert_allclose(score.error, score.unchanged, atol=1e-4)  # an unchanged face reads as itself
    with pytest.raises(ValueError, match="two or more"):
        score_data_folder(Unchanged(), out, split="test")


def test_photographs_to_a_trained_and_scored_run_through_the_command_line(photos, tmp_path, capsys):
    """faces prepare -> train ganimation -> faces score, as a user runs them; refusals are one error line."""
    from affect_lib import commands

    data_dir, run = tmp_path / "faces", tmp_path / "run"
    assert commands.main(["faces", "prepare", str(photos), "--out", str(data_dir), "--size", "64"]) == 0
    assert "6 training and 1 test faces, 5 files skipped" in capsys.readouterr().out
    assert commands.main(["faces", "prepare", str(photos), "--out", str(data_dir)]) == 2
    assert "exists" in capsys.readouterr().err
    tiny = ["--set=model.ngf=8", "--set=model.n_res=1", "--set=model.ndf=8", "--batch-size", "4"]
    train = ["train", "ganimation", "--data-dir", str(data_dir), "--profile", "quick", "--out", str(run)]
    assert commands.main([*train, *tiny, "--epochs", "1", "--no-progress", "--seed", "0"]) == 0
    capsys.readouterr()
    score = ["faces", "score", str(run), "--data-dir", str(data_dir), "--split", "train", "--faces", "2"]
    assert commands.main([*score, "--targets", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["per_au"]) == 17 and result["mean_au_error"] >= 0 and result["unchanged_input"] >= 0
    assert commands.main(["faces", "score", str(tmp_path), "--data-dir", str(data_dir)]) == 2
    assert "holds no run.json" in capsys.readouterr().err
