"""The command line: train / evaluate, run folders that cannot lie, one-line errors for bad input."""

import json

import pytest
import torch

from affect_lib import commands
from affect_lib.commands import common
from affect_lib.commands import train as train_commands
from affect_lib.runs import folder

FAST = ["--epochs", "1", "--max-steps", "2"]


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("AFFECT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("AFFECT_PROGRESS", "off")
    monkeypatch.delenv("AFFECT_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)


def train(*args):
    return commands.main(["train", *args])


def error(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1] if err else ""


def test_quick_run_writes_a_self_describing_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert train("late_fusion", "--dataset", "mosi", *FAST, "--out", str(out)) == 0
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["best_epoch"] == 1 and {"mae", "acc7", "non0_f1", "has0_acc2"} <= set(summary["test"])
    assert summary["profile"] == "quick" and summary["lengths"] == [12, 12, 12]  # the chapter's stand-in
    assert (out / "checkpoint" / "last.pt").exists() and (out / "history.csv").read_text().startswith(
        "epoch,"
    )
    saved = torch.load(out / "model.pt", weights_only=True)
    assert saved["format"] == folder.FORMAT and saved["recipe"]["name"] == "late_fusion-mosi-aligned-quick"
    assert saved["metrics"]["test"] == summary["test"] and saved["library_version"]
    run = json.loads((out / "run.json").read_text())
    assert run["fingerprint"]["recipe"] and run["recipe"]["hash"] == summary["recipe_hash"]
    assert not list(out.glob(".*.tmp"))
    # evaluate re-scores the saved model to the stored numbers
    capsys.readouterr()
    assert commands.main(["evaluate", "--checkpoint", str(out / "model.pt")]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["metrics"] == pytest.approx(summary["test"], rel=1e-6)


def test_same_command_and_seed_give_the_same_result(tmp_path):
    for name in ("a", "b"):
        assert train("lmr_cbt", "--dataset", "mosi", *FAST, "--seed", "3", "--out", str(tmp_path / name)) == 0
    a, b = (json.loads((tmp_path / n / "metrics.json").read_text())["test"] for n in ("a", "b"))
    assert a == b


def test_run_folder_of_another_run_is_refused_and_left_untouched(tmp_path, capsys):
    out = tmp_path / "run"
    assert train("late_fusion", "--dataset", "mosi", *FAST, "--out", str(out)) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    cases = [
        (["late_fusion", "--dataset", "mosi", "--unaligned"], "its aligned is True, this run's is False"),
        (["mult", "--dataset", "mosi"], "its model is 'late_fusion', this run's is 'mult'"),
        (["late_fusion", "--dataset", "mosi", "--batch-size", "32"], "its batch_size is 64"),
        (["late_fusion", "--dataset", "mosi", "--seed", "4"], "its seeds is [1337]"),
        (["late_fusion", "--dataset", "mosi"], "--resume"),  # the same run needs an explicit intent
    ]
    for args, words in cases:
        assert train(*args, *FAST, "--out", str(out)) == 2
        assert words in error(capsys)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert train("late_fusion", "--dataset", "mosi", *FAST, "--out", str(out), "--resume") == 0
    assert train("mult", "--dataset", "mosi", *FAST, "--out", str(out), "--overwrite") == 0
    assert json.loads((out / "metrics.json").read_text())["model"] == "mult"


def test_quick_and_paper_default_to_different_folders():
    from affect_lib import recipes

    quick = folder.default_out(recipes.get("mult", "mosi", "quick"))
    paper = folder.default_out(recipes.get("mult", "mosi", "paper"))
    assert quick != paper and quick.parts[1] == "quick" and paper.parts[1] == "paper"


def test_folder_without_run_and_file_out_are_refused(tmp_path, capsys):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert train("late_fusion", "--dataset", "mosi", *FAST, "--out", str(tmp_path / "other")) == 2
    assert "holds no run.json" in error(capsys)
    (tmp_path / "file").write_text("x")
    assert train("late_fusion", "--dataset", "mosi", *FAST, "--out", str(tmp_path / "file")) == 2
    assert "is a file" in error(capsys)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--epochs", "0"], "--epochs: must be a positive integer"),
        (["--epochs", "-1"], "--epochs: must be a positive integer"),
        (["--batch-size", "0"], "--batch-size: must be a positive integer"),
        (["--lr", "0"], "--lr: must be a positive finite number"),
        (["--lr", "-1"], "--lr: must be a positive finite number"),
        (["--max-steps", "0"], "--max-steps: must be a positive integer"),
    ],
)
def test_zero_or_negative_settings_are_refused_not_replaced(args, words, capsys):
    with pytest.raises(SystemExit) as info:
        train("late_fusion", "--dataset", "mosi", *args)
    assert info.value.code == 2 and words in error(capsys)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_missing_cuda_device_is_one_line(capsys):
    assert train("late_fusion", "--dataset", "mosi", "--device", "cuda:7") == 2
    assert "CUDA is not available" in error(capsys)
    assert train("late_fusion", "--dataset", "mosi", "--amp", "fp16") == 2
    assert "--amp fp16 needs a CUDA device" in error(capsys)
    assert train("late_fusion", "--dataset", "mosi", "--sync-bn") == 2
    assert "--sync-bn needs CUDA" in error(capsys)


def test_unknown_recipe_field_and_print_recipe(capsys):
    assert train("lmr_cbt", "--dataset", "mosei", "--set", "train.epoch=3", "--print-recipe") == 2
    assert "unknown train field train.epoch" in error(capsys)
    assert train("lmr_cbt", "--dataset", "mosei", "--set", "model.depth=3", "--print-recipe") == 2
    assert "depth" in error(capsys)
    assert (
        train("lmr_cbt", "--dataset", "mosei", "--unaligned", "--set", "model.layers=3", "--print-recipe")
        == 0
    )
    shown = json.loads(capsys.readouterr().out)
    assert shown["model_args"] == {"layers": 3} and shown["data"]["standin_lengths"] == [12, 36, 36]


def test_diverged_run_exits_non_zero_without_results(tmp_path, capsys):
    out = tmp_path / "run"
    assert train("late_fusion", "--dataset", "mosi", "--epochs", "2", "--lr", "1e30", "--out", str(out)) == 3
    assert "training diverged at epoch 1" in error(capsys)
    assert not (out / "metrics.json").exists() and not (out / "model.pt").exists()


def test_batch_not_divisible_by_the_world_size_is_refused_before_work(tmp_path):
    from affect_lib import recipes

    args = commands.build_parser().parse_args(
        ["train", "late_fusion", "--dataset", "mosi", "--batch-size", "9"]
    )
    recipe = train_commands.resolve_recipe(args)
    with pytest.raises(common.CommandError, match="not divisible by the world size 2"):
        train_commands._train(args, recipe, torch.device("cpu"), 0, 2)
    assert recipes.recipe_hash(recipe) != recipes.recipe_hash(recipes.get("late_fusion", "mosi"))
    assert not (tmp_path / "runs").exists()


def test_several_seeds_give_mean_and_std(tmp_path):
    out = tmp_path / "seeds"
    assert train("late_fusion", "--dataset", "mosi", *FAST, "--seeds", "0", "1", "2", "--out", str(out)) == 0
    summary = json.loads((out / "metrics.json").read_text())
    mae = summary["test"]["mae"]
    assert summary["seeds"] == [0, 1, 2] and mae["n"] == 3 and len(mae["values"]) == 3
    assert mae["mean"] == pytest.approx(sum(mae["values"]) / 3)
    assert mae["std"] == pytest.approx(
        torch.tensor(mae["values"], dtype=torch.float64).std().item(), rel=1e-9
    )
    assert all((out / f"seed_{s}" / "model.pt").exists() for s in (0, 1, 2))


def test_missing_data_says_what_and_where(tmp_path, capsys):
    assert train("lmr_cbt", "--dataset", "mosei", "--profile", "paper") == 2
    assert "--data-dir FOLDER holding mosei_senti_data.pkl" in error(capsys)
    assert train("lmr_cbt", "--dataset", "mosei", "--data-dir", str(tmp_path)) == 2  # paper by default
    assert "mosei_senti_data.pkl" in error(capsys)
    (tmp_path / "mosei_senti_data.pkl").mkdir()
    assert train("lmr_cbt", "--dataset", "mosei", "--data-dir", str(tmp_path), "--out", "o") == 2
    assert "is a folder, not a file" in error(capsys)


def test_truncated_or_foreign_checkpoint_is_refused_in_one_line(tmp_path, capsys):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"PK\x03\x04 truncated")
    assert commands.main(["evaluate", "--checkpoint", str(bad)]) == 2
    assert f"checkpoint {bad} was refused" in error(capsys)
    torch.save({"weights": torch.zeros(1)}, bad)
    assert commands.main(["evaluate", "--checkpoint", str(bad)]) == 2
    assert "not a model.pt written by affect-lib train" in error(capsys)
    assert commands.main(["evaluate", "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert "does not exist" in error(capsys)


def test_rejects_mismatched_model_and_dataset(capsys):
    for model, dataset in (("cfn_sr", "mosei"), ("lmr_cbt", "ravdess")):
        assert train(model, "--dataset", dataset, "--profile", "quick") == 2
        assert f"model {model} trains on" in error(capsys)


def test_chapter_with_a_missing_data_folder_is_one_line(tmp_path, capsys):
    assert (
        commands.main(
            ["chapter", "30_multimodal_lmr_cbt", "--profile", "paper", "--data-dir", "/nonexistent"]
        )
        == 2
    )
    assert "--data-dir /nonexistent does not exist" in error(capsys)
    assert not list(tmp_path.rglob("*.tmp.ipynb"))


RAVDESS_QUICK = (
    "--dataset ravdess --profile quick --epochs 4 --batch-size 8 --lr 3e-3 --set data.split=folds3".split()
)


def write_six_actors(root):
    """Six stand-in actors, one take per emotion and statement: 16 clips for the test (1, 2) and training (5, 6)
    actors, 8 for the validation actors (3, 4) (the quick profile's split of six actors)."""
    from affect_lib.data.synthetic_ravdess import write_synthetic_ravdess

    small = {"repetitions": (1,), "intensities": (1,), "duration": 2.0, "fps": 5, "height": 32}
    write_synthetic_ravdess(root, actors=(1, 2, 5, 6), statements=(1, 2), write_wav=False, **small)
    write_synthetic_ravdess(root, actors=(3, 4), statements=(1,), write_wav=False, **small)


@pytest.mark.filterwarnings("ignore:face detector missed", "ignore:no face in any")  # 32-pixel stand-in faces
def test_ravdess_quick_run_recognises_unseen_actors_far_above_chance(tmp_path):
    # chance is 1/8; 10 of the 32 test clips is the bar: a guessing model reaches it with probability
    # P(Binomial(32, 1/8) >= 10) = 0.004. Measured with the quick recipe's 4 frames of 40²: this run 16/32; the
    # same run with learning disabled (--lr 1e-12) 4/32 (with the former 8 frames of 32², 16/32 and 6/32, and with
    # the emotion codes of the training actors' takes permuted, shuffled labels, 3/32).
    root, out = tmp_path / "ravdess", tmp_path / "run"
    write_six_actors(root)
    assert train("cfn_sr", *RAVDESS_QUICK, "--data-dir", str(root), "--out", str(out)) == 0
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["split"] == {"train": [5, 6], "valid": [3, 4], "test": [1, 2]}
    assert summary["sizes"] == {"train": 32, "valid": 16, "test": 32}
    assert summary["test"]["accuracy"] >= 10 / 32
    assert (out / "history.json").exists() and (out / "model.pt").exists()


def test_ravdess_paper_profile_needs_data_and_a_full_split(tmp_path, capsys):
    assert train("cfn_sr", "--dataset", "ravdess", "--profile", "paper") == 2
    assert "RAVDESS" in error(capsys)
    assert train("cfn_sr", "--dataset", "ravdess", "--data-dir", str(tmp_path), "--out", "o") == 2
    assert "Actor_" in error(capsys)
    (tmp_path / "Actor_01").mkdir()
    (tmp_path / "Actor_01" / "clip.mp4").touch()
    assert train("cfn_sr", "--dataset", "ravdess", "--data-dir", str(tmp_path), "--out", "o2") == 2
    assert "not a RAVDESS file name" in error(capsys)


def test_module_entry_point_is_the_same_command_line():
    import affect_lib.__main__ as entry

    assert entry.main is commands.main


# ---- the MulT data path: manifest check of a real data folder, convert-csd -------------------------------------
def _mosi_pickle(path, sizes=(8, 4, 4), marker=False):
    import pickle

    import numpy as np

    from affect_lib.data.manifest import STANDIN_KEY

    rng = np.random.default_rng(0)
    raw = {
        split: {
            "text": rng.normal(size=(n, 12, 300)).astype(np.float32),
            "audio": rng.normal(size=(n, 12, 5)).astype(np.float32),
            "vision": rng.normal(size=(n, 12, 20)).astype(np.float32),
            "labels": rng.uniform(-3, 3, size=(n, 1, 1)).astype(np.float32),
            "id": np.array([(f"v{i}", "0.0", "1.0") for i in range(n)], dtype="S"),
        }
        for split, n in zip(("train", "valid", "test"), sizes, strict=True)
    }
    if marker:
        raw[STANDIN_KEY] = {"seed": 0}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(raw, protocol=4))
    return path


def test_a_real_data_folder_is_checked_against_the_manifest(tmp_path, capsys):
    _mosi_pickle(tmp_path / "real" / "mosi_data.pkl")
    args = ["late_fusion", "--dataset", "mosi", "--profile", "quick", *FAST]
    assert train(*args, "--data-dir", str(tmp_path / "real"), "--out", "a") == 2
    line = error(capsys)
    assert "mosi_data.pkl: split 'train' has 8 samples, the released mosi_data.pkl has 1,284" in line
    assert "pass --no-manifest-check" in line and "check_manifest=False" not in line  # what a CLI user can do
    assert not (tmp_path / "a").exists()
    assert train(*args, "--data-dir", str(tmp_path / "real"), "--out", "a", "--no-manifest-check") == 0
    _mosi_pickle(tmp_path / "standin" / "mosi_data.pkl", marker=True)  # a marked stand-in is exempt
    assert train(*args, "--data-dir", str(tmp_path / "standin"), "--out", "b") == 0


def test_convert_csd_writes_a_loadable_pickle_and_never_overwrites(tmp_path, capsys):
    import h5py
    import numpy as np

    from affect_lib.data.mult import load_mult_pickle

    rng = np.random.default_rng(0)
    frames = np.array([[k / 10, (k + 1) / 10] for k in range(10)])
    entries = {
        "text": (np.array([[0.0, 0.5], [0.5, 1.0]]), rng.normal(size=(2, 300))),
        "audio": (frames, rng.normal(size=(10, 74))),
        "vision": (frames, rng.normal(size=(10, 35))),
        "labels": (np.array([[0.0, 1.0]]), np.array([[0.5, 0, 0, 0, 0, 0, 0]])),
    }
    files = []
    for key, (intervals, features) in entries.items():
        with h5py.File(tmp_path / f"{key}.csd", "w") as h5:
            group = h5.create_group(key).create_group("data").create_group("vid")
            group.create_dataset("intervals", data=intervals)
            group.create_dataset("features", data=features)
        files += [f"--{key}", str(tmp_path / f"{key}.csd")]
    (tmp_path / "splits.json").write_text(json.dumps({"train": ["vid"], "valid": [], "test": []}))
    command = ["convert-csd", "--dataset", "mosei", "--splits", str(tmp_path / "splits.json"), "--out", "out"]
    assert commands.main([*command, *files, "--lengths", "4", "4", "4"]) == 0
    assert "wrote out/mosei_senti_data.pkl: train 1 / valid 0 / test 0" in capsys.readouterr().out
    corpus = load_mult_pickle(tmp_path / "out" / "mosei_senti_data.pkl")
    assert corpus.lengths == (4, 4, 4) and corpus["train"].labels.tolist() == [[0.5]]
    assert commands.main([*command, *files]) == 2
    assert "exists: pass --overwrite" in error(capsys)
    assert commands.main(command) == 2
    assert "give --csd-dir FOLDER" in error(capsys)


def test_convert_csd_defaults_to_the_sdks_standard_folds(tmp_path, capsys):
    import h5py
    import numpy as np

    from affect_lib.data.csd import standard_folds

    video = standard_folds("mosei")["valid"][0]
    frames = np.array([[k / 10, (k + 1) / 10] for k in range(10)])
    entries = {
        "text": (np.array([[0.0, 0.5], [0.5, 1.0]]), np.ones((2, 300))),
        "audio": (frames, np.ones((10, 74))),
        "vision": (frames, np.ones((10, 35))),
        "labels": (np.array([[0.0, 1.0]]), np.array([[0.5, 0, 0, 0, 0, 0, 0]])),
    }
    files = []
    for key, (intervals, features) in entries.items():
        with h5py.File(tmp_path / f"{key}.csd", "w") as h5:
            group = h5.create_group(key).create_group("data").create_group(video)
            group.create_dataset("intervals", data=intervals)
            group.create_dataset("features", data=features)
        files += [f"--{key}", str(tmp_path / f"{key}.csd")]
    command = ["convert-csd", "--dataset", "mosei", "--out", "out", *files]
    assert commands.main([*command, "--lengths", "4", "4", "4"]) == 0
    assert "train 0 / valid 1 / test 0" in capsys.readouterr().out  # the video is in the standard valid fold
    assert commands.main(["convert-csd", "--dataset", "iemocap", "--out", "i", *files]) == 2
    assert "needs --splits FILE: the SDK has no standard IEMOCAP folds" in error(capsys)
    (tmp_path / "bad.json").write_text(json.dumps({"train": [video], "valid": []}))
    assert (
        commands.main(["convert-csd", "--dataset", "mosei", "--splits", "bad.json", "--out", "b", *files])
        == 2
    )
    assert "--splits bad.json: expected an object with the keys train, valid, test; got" in error(capsys)


# ---- RAVDESS protocols, folds and the unimodal pretraining stage ---------------------------------------------
@pytest.fixture(scope="module")
def five_actors(tmp_path_factory):
    """A 5-actor stand-in (one take per emotion: 8 clips per actor) and a preprocessing cache shared by the
    protocol tests below (the released protocol needs at least 5 actors)."""
    from affect_lib.data.synthetic_ravdess import write_synthetic_ravdess

    base = tmp_path_factory.mktemp("five_actors")
    write_synthetic_ravdess(
        base / "ravdess",
        actors=(1, 2, 3, 4, 5),
        repetitions=(1,),
        statements=(1,),
        intensities=(1,),
        duration=2.0,
        fps=5,
        height=32,
        write_wav=False,
    )
    return base


def _ravdess(five_actors, monkeypatch, *args):
    monkeypatch.setenv("AFFECT_CACHE_DIR", str(five_actors / "cache"))
    quick = ["--dataset", "ravdess", "--data-dir", str(five_actors / "ravdess"), "--profile", "quick"]
    return train(*args[:1], *quick, "--batch-size", "8", "--set", "data.split=folds3", *args[1:])


@pytest.mark.filterwarnings("ignore:face detector missed", "ignore:no face in any")
def test_fold_all_writes_every_fold_and_the_k_fold_aggregate(tmp_path, five_actors, monkeypatch):
    import numpy as np
    from scipy import stats

    out = tmp_path / "run"
    assert (
        _ravdess(five_actors, monkeypatch, "av_concat", "--fold", "all", "--epochs", "1", "--out", str(out))
        == 0
    )
    folds = [json.loads((out / f"fold_{i}" / "metrics.json").read_text()) for i in range(3)]
    # the quick profile's proper split: fold i tests block i, validates on block i + 1 (actors 4, 5 always train)
    assert [f["split"] for f in folds] == [
        {"train": [3, 4, 5], "valid": [2], "test": [1]},
        {"train": [1, 4, 5], "valid": [3], "test": [2]},
        {"train": [2, 4, 5], "valid": [1], "test": [3]},
    ]
    assert all(f["protocol"] == "folds3" and not f["selected_on_test"] for f in folds)
    summary = json.loads((out / "metrics.json").read_text())
    values = [f["test"]["accuracy"] for f in folds]
    acc = summary["test"]["accuracy"]
    half = stats.t.ppf(0.975, df=2) * np.std(values, ddof=1) / np.sqrt(3)
    assert acc["values"] == values and acc["n"] == 3 and summary["folds"] == [0, 1, 2]
    assert acc["mean"] == pytest.approx(np.mean(values)) and acc["std"] == pytest.approx(
        np.std(values, ddof=1)
    )
    assert (acc["low"], acc["high"]) == pytest.approx((np.mean(values) - half, np.mean(values) + half))
    # one fold of the same command is another run: refused, naming the field
    assert (
        _ravdess(five_actors, monkeypatch, "av_concat", "--fold", "1", "--epochs", "1", "--out", str(out))
        == 2
    )


@pytest.mark.filterwarnings("ignore:face detector missed", "ignore:no face in any")
def test_released_protocol_selects_on_the_test_fold_and_fine_tunes_unimodal_branches(
    tmp_path, five_actors, monkeypatch, capsys
):
    from affect_lib import recipes
    from affect_lib.models.cfn_sr import cfn_sr
    from affect_lib.runtime import seed_everything

    out = tmp_path / "run"
    args = ["cfn_sr", "--protocol", "released", "--fold", "1", "--init", "unimodal", "--epochs", "2"]
    pretrain = ["--set", "train.pretrain_epochs=2", "--set", "train.pretrain_lr=0.01", "--lr", "1e-12"]
    assert _ravdess(five_actors, monkeypatch, *args, *pretrain, "--out", str(out)) == 0
    summary = json.loads((out / "metrics.json").read_text())
    # CFN-SR's fold 1 over actors 1-5 tests actor 2 (5 folds of 5 // 5 = 1 actor), trains on all the others and
    # selects on the test fold: the reported accuracy is the best test epoch's
    assert (
        summary["split"] == {"train": [1, 3, 4, 5], "valid": [2], "test": [2]} and summary["selected_on_test"]
    )
    assert summary["sizes"] == {"train": 32, "valid": 8, "test": 8} and summary["init"] == "unimodal"
    history = json.loads((out / "history.json").read_text())
    assert summary["test"]["accuracy"] == max(r["valid_accuracy"] for r in history)
    # the fusion model's branches are the pretrained ones (fine-tuned at lr 1e-12), not their initial weights
    fused = torch.load(out / "model.pt", weights_only=True)["state_dict"]
    pretrained = {}
    for name in ("video_only", "audio_only"):
        pretrained |= torch.load(out / "pretrain" / f"{name}.pt", weights_only=True)["state_dict"]
    seed_everything(1337)
    initial = cfn_sr(**recipes.get("cfn_sr", "ravdess", "quick").model_kwargs()).state_dict()
    weights = [k for k in fused if k.startswith(("video.", "audio.")) and k.endswith("weight")]
    assert len(weights) > 20
    for key in weights:
        assert torch.allclose(fused[key], pretrained[key], atol=1e-8), key
    assert max(float((pretrained[k] - initial[k]).abs().max()) for k in weights) > 1e-3
    # --resume reuses the pretrained files instead of training them again
    before = {p.name: p.stat().st_mtime_ns for p in (out / "pretrain").iterdir()}
    assert _ravdess(five_actors, monkeypatch, *args, *pretrain, "--out", str(out), "--resume") == 0
    assert {p.name: p.stat().st_mtime_ns for p in (out / "pretrain").iterdir()} == before


def test_protocol_fold_and_init_options_are_checked_before_any_work(capsys):
    cases = [
        (["cfn_sr", "--dataset", "ravdess", "--fold", "6"], "data.fold must be in 0..5 for the folds6 split"),
        (["cfn_sr", "--dataset", "ravdess", "--protocol", "msaf", "--fold", "6"], "0..5 for the msaf split"),
        (
            ["cfn_sr", "--dataset", "ravdess", "--protocol", "proper", "--profile", "paper", "--fold", "1"],
            "0..0",
        ),
        (["late_fusion", "--dataset", "mosi", "--protocol", "released"], "--protocol apply to ravdess only"),
        (["late_fusion", "--dataset", "mosi", "--fold", "all"], "--fold apply to ravdess only"),
        (
            ["late_fusion", "--dataset", "mosi", "--init", "unimodal"],
            "applies to the audio-visual fusion models",
        ),
        (["video_only", "--dataset", "ravdess", "--init", "unimodal"], "not to video_only"),
    ]
    for args, words in cases:
        assert train(*args, "--print-recipe") == 2
        assert words in error(capsys)
    assert train("cfn_sr", "--dataset", "ravdess", "--protocol", "released", "--print-recipe") == 0
    recipe = json.loads(capsys.readouterr().out)
    assert recipe["data"]["split"] == "released" and recipe["train"]["init"] == "scratch"
    assert (
        train("cfn_sr", "--dataset", "ravdess", "--profile", "paper", "--init", "scratch", "--print-recipe")
        == 0
    )
    assert json.loads(capsys.readouterr().out)["train"]["init"] == "scratch"
    with pytest.raises(SystemExit):
        train("cfn_sr", "--dataset", "ravdess", "--fold", "-1")
    assert "--fold: must be a non-negative integer" in error(capsys)


# ---- nothing silently wrong: data that changed, data without values, interruptions, refused settings ----------
def _rewrite(path, change):
    """Apply ``change`` to the raw dict of the pickle at ``path`` and write it back."""
    import pickle

    raw = pickle.loads(path.read_bytes())
    change(raw)
    path.write_bytes(pickle.dumps(raw, protocol=4))


def test_resume_on_other_data_is_refused_naming_the_field(tmp_path, capsys):
    a = _mosi_pickle(tmp_path / "a" / "mosi_data.pkl", marker=True)
    b = _mosi_pickle(tmp_path / "b" / "mosi_data.pkl", marker=True)  # the same bytes in another folder
    args = ["late_fusion", "--dataset", "mosi", "--profile", "quick", "--max-steps", "2", "--out", "run"]
    assert train(*args, "--epochs", "1", "--data-dir", str(a.parent)) == 0
    before = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()}
    assert train(*args, "--epochs", "2", "--data-dir", str(b.parent), "--resume") == 2
    assert f"its data_dir is {str(a.parent.resolve())!r}, this run's is {str(b.parent.resolve())!r}" in error(
        capsys
    )

    def negate(raw):
        for split in ("train", "valid", "test"):
            raw[split]["labels"] = -raw[split]["labels"]

    _rewrite(a, negate)  # the same folder, other content
    assert train(*args, "--epochs", "2", "--data-dir", str(a.parent), "--resume") == 2
    assert "its data_sha256 is '" in error(capsys)
    assert {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()} == before
    # --resume where no run is: refused, as train ganimation refuses it (one rule for both)
    assert train(*args, "--data-dir", str(b.parent), "--resume", "--out", "new") == 2
    assert "--resume: new holds no run" in error(capsys) and not (tmp_path / "new").exists()


@pytest.mark.filterwarnings("ignore:.*set NaN or infinite feature values to 0")
def test_a_modality_without_values_is_refused_and_partial_cleaning_is_recorded(tmp_path, capsys):
    import numpy as np

    path = tmp_path / "data" / "mosi_data.pkl"
    args = ["late_fusion", "--dataset", "mosi", "--profile", "quick", *FAST, "--data-dir", str(path.parent)]

    def fill(split, key, value, where=np.s_[:]):
        def change(raw):
            raw[split][key][where] = value

        return change

    cases = [
        (
            fill("train", "audio", -np.inf),
            "mosi_data.pkl['train']: every 'audio' value (480) is NaN or infinite",
        ),
        (
            fill("valid", "text", np.nan),
            "mosi_data.pkl['valid']: every 'text' value (14,400) is NaN or infinite",
        ),
    ]
    for change, words in cases:
        _rewrite(_mosi_pickle(path, marker=True), change)
        assert train(*args, "--out", "run") == 2
        assert words in error(capsys) and not (tmp_path / "run").exists()
    _mosi_pickle(path, marker=True)
    _rewrite(path, fill("train", "audio", -np.inf, np.s_[0, :3]))  # 3 frames x 5 features
    _rewrite(path, fill("test", "vision", np.nan, np.s_[1, 0, :2]))
    assert train(*args, "--out", "run") == 0
    zeroed = json.loads((tmp_path / "run" / "metrics.json").read_text())["zeroed"]
    assert zeroed == {"nan_or_inf": {"text": 0, "audio": 0, "vision": 2}, "audio_minus_inf": 15}


def test_an_empty_split_names_the_file_and_the_split(tmp_path, capsys):
    path = _mosi_pickle(tmp_path / "data" / "mosi_data.pkl", sizes=(0, 4, 4), marker=True)
    assert (
        train("late_fusion", "--dataset", "mosi", *FAST, "--data-dir", str(path.parent), "--out", "run") == 2
    )
    assert f"{path}: split 'train' holds no sample" in error(capsys) and not (tmp_path / "run").exists()


def test_refused_settings_and_seeds_write_nothing(tmp_path, capsys):
    base = ["late_fusion", "--dataset", "mosi", "--max-steps", "2", "--out", "run"]
    cases = [
        (
            ["--set", "train.lr=NaN"],
            "recipe late_fusion-mosi-aligned-quick: train.lr must be positive, got nan",
        ),
        (["--set", "train.epochs=0"], "train.epochs must be a positive integer, got 0"),
        (["--seeds", "3", "3"], "--seeds 3 3: seed 3 is given more than once"),
    ]
    for args, words in cases:
        assert train(*base, *args) == 2
        assert words in error(capsys) and not (tmp_path / "run").exists()
    fusion = ["cfn_sr", "--dataset", "ravdess", "--init", "unimodal", "--set", "train.pretrain_lr=0"]
    assert train(*fusion, "--print-recipe") == 2
    assert "the unimodal pretraining stage's lr must be positive, got 0" in error(capsys)
    assert train(*base, "--epochs", "1") == 0  # the corrected command runs in the same folder


def test_protocol_proper_on_the_quick_profile_says_what_it_runs(capsys):
    assert train("cfn_sr", "--dataset", "ravdess", "--protocol", "proper", "--print-recipe") == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["data"]["split"] == "folds6"
    assert "note: --protocol proper on the quick profile runs its split with validation actors, folds6" in (
        captured.err
    )


def test_sigint_stops_with_one_line_naming_the_last_checkpoint(tmp_path, capsys, monkeypatch):
    from affect_lib.train import Trainer

    epoch = Trainer._train_epoch
    calls = []

    def interrupt_the_second_epoch(self, *args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return epoch(self, *args)

    monkeypatch.setattr(Trainer, "_train_epoch", interrupt_the_second_epoch)
    args = ["late_fusion", "--dataset", "mosi", "--epochs", "3", "--max-steps", "2", "--out", "run"]
    assert train(*args) == 130
    assert error(capsys) == (
        "error: interrupted: run/checkpoint/last.pt holds the last complete epoch; the same command with --resume "
        "continues the run"
    )
    assert not list((tmp_path / "run").rglob(".*.tmp"))
    monkeypatch.setattr(Trainer, "_train_epoch", epoch)
    assert train(*args, "--resume") == 0
    assert len(json.loads((tmp_path / "run" / "history.json").read_text())) == 3


def test_sigint_to_the_process_gives_no_traceback(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    command = [
        sys.executable,
        "-m",
        "affect_lib",
        "train",
        "late_fusion",
        "--dataset",
        "mosi",
        "--out",
        "run",
    ]
    child = subprocess.Popen(
        [*command, "--epochs", "1000", "--max-steps", "2"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a background shell ignores SIGINT
    )
    try:
        last = tmp_path / "run" / "checkpoint" / "last.pt"
        deadline = time.monotonic() + 120
        while not last.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 130 and "Traceback" not in err
    assert (
        err.strip().splitlines()[-1].startswith("error: interrupted: run/checkpoint/last.pt holds the last")
    )


def _touch_clips(root, actors, folder_actor=None):
    """Empty files with RAVDESS names (two emotions per actor): enough for the checks made before any decoding."""
    for actor in actors:
        folder = root / f"Actor_{folder_actor or actor:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for emotion in (1, 2):
            (folder / f"01-01-{emotion:02d}-01-01-01-{actor:02d}.mp4").touch()


def test_ravdess_folds_refuse_a_missing_actor_and_a_clip_in_another_actors_folder(tmp_path, capsys):
    root = tmp_path / "ravdess"
    _touch_clips(root, (1, 2, 4, 5, 6))
    quick = ["cfn_sr", "--dataset", "ravdess", "--profile", "quick", "--data-dir", str(root), "--out", "run"]
    for protocol in ("folds6", "released", "msaf"):
        assert train(*quick, *(["--protocol", protocol] if protocol != "folds6" else [])) == 2
        assert f"the {protocol} folds are defined over actors 1..6, but Actor_03 has no clip" in error(capsys)
    _touch_clips(root, (3,))
    _touch_clips(root, (5,), folder_actor=3)  # a test actor's clip filed under a training actor
    assert train(*quick) == 2
    clip = root / "Actor_03" / "01-01-01-01-01-01-05.mp4"
    assert f"RAVDESS clip {clip}: its actor field (the last, 05) is not its folder's (Actor_03)" in error(
        capsys
    )
    assert not (tmp_path / "run").exists()
