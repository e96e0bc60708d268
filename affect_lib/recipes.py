"""Run recipes: the one home of every run setting (model sizes, data, preprocessing, optimiser, schedule).

A recipe is ``model x dataset x alignment`` on a profile, resolved by merging four layers, MMSA-style:

1. the **dataset** layer (:data:`DATASETS`): what the corpus is (file, feature dims, output width, loss, selection
   metric) and the paper's batch size and learning rate for it;
2. the **model** layer (:data:`MODELS`): the model's own arguments (its builder's defaults are the paper sizes);
3. the **profile** layer (:data:`PROFILES`): ``paper`` (the released settings on the real data) or ``quick`` (the
   chapters' CPU settings and their synthetic stand-ins);
4. an optional named **variant** (:data:`VARIANTS`) for a run that deliberately differs (e.g. the released
   CFN-SR quirks).

Layers are written as ``{"section.field": value}`` overrides of the typed dataclasses below; a field that does not
exist is rejected by name. :func:`get` returns the frozen :class:`Recipe`; :func:`recipe_hash` ties a result to
it. Recipes are plain data: :mod:`affect_lib.runs` builds their models and trains them. The chapters, the command
line (``affect-lib train --print-recipe``) and the benchmarks read them, so the CLI's ``quick`` run and the
chapter's are the same experiment.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the audio-visual stack (PyAV, OpenCV, librosa) loads only for RAVDESS recipes
    from affect_lib.data.av_preprocess import PreprocessConfig

SEQUENCE_MODELS = ("lmr_cbt", "mult", "late_fusion")
AV_MODELS = ("cfn_sr", "av_late_fusion", "av_concat", "msaf", "video_only", "audio_only")
UNIMODAL_MODELS = ("video_only", "audio_only")
"""The per-fold unimodal classifiers of the pretraining stage (:mod:`affect_lib.runs.pretrain`); the other
audio-visual models are fusion models, which ``train.init = "unimodal"`` starts from them."""
INITS = ("scratch", "unimodal")
MULT_DATASETS = ("mosi", "mosei", "iemocap")
PROFILE_NAMES = ("quick", "paper")


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation: Adam, model selection on validation, optional plateau schedule and early stopping.

    Attributes:
        epochs, batch_size, eval_batch_size: epochs; training and evaluation batch sizes (whole batch, all ranks).
        lr, weight_decay, grad_clip: Adam's learning rate and L2 penalty; global gradient-norm clip (None: off).
        lr_patience, lr_factor: ``ReduceLROnPlateau`` on the monitor (``lr_patience=None``: constant lr).
        patience: early stopping after this many epochs without improvement (None: never).
        monitor, mode: the validation metric that selects the epoch, and its better direction.
        init: ``"scratch"`` (seeded random weights) or ``"unimodal"`` (audio-visual fusion models: the branches
            start from a video-only and an audio-only classifier trained first on the same fold, then
            everything is fine-tuned end to end, as the CFN-SR release does with MSAF's checkpoints).
        pretrain_epochs, pretrain_lr: that unimodal stage's epochs and Adam learning rate (None: the same as
            this run's; the release does not publish its unimodal recipe). Its other settings are this run's.
    """

    epochs: int
    batch_size: int
    eval_batch_size: int
    lr: float
    weight_decay: float = 0.0
    grad_clip: float | None = None
    lr_patience: int | None = None
    lr_factor: float = 0.1
    patience: int | None = None
    monitor: str = "loss"
    mode: str = "min"
    init: str = "scratch"
    pretrain_epochs: int | None = None
    pretrain_lr: float | None = None


@dataclass(frozen=True)
class MultData:
    """A MulT corpus: ``file`` under the data folder, or, without one, a synthetic stand-in of the given size.

    Attributes:
        dims: (text, audio, vision) feature dims the model is built for (a real corpus's own dims win).
        out_dim: model output width (1 sentiment score, or 4 emotions x 2 logits).
        standin_sizes: (train, valid, test) utterances of the stand-in; standin_lengths: its (T_l, T_a, T_v).
    """

    file: str
    dims: tuple[int, int, int]
    out_dim: int
    standin_sizes: tuple[int, int, int] = (384, 96, 192)
    standin_lengths: tuple[int, int, int] | None = None

    def standin_kwargs(self) -> dict[str, Any]:
        """``sizes`` and ``lengths`` for :func:`~affect_lib.data.synthetic_mult.write_standin` (None: real lengths)."""
        return {
            "sizes": dict(zip(("train", "valid", "test"), self.standin_sizes, strict=True)),
            "lengths": self.standin_lengths,
        }


def _released_preprocessing() -> PreprocessConfig:
    from affect_lib.data.av_preprocess import PreprocessConfig

    return PreprocessConfig()


@dataclass(frozen=True)
class RavdessData:
    """RAVDESS ``Actor_XX/*.mp4`` clips, preprocessed, split by actor.

    Attributes:
        preprocess: the :class:`~affect_lib.data.av_preprocess.PreprocessConfig` (default: the released
            settings); its fields are set as ``data.n_frames``, ``data.size``, ... in the layers.
        augment: random resized crop + flip of the training clips.
        augment_scale: the crop's area range (``RandomResizedCrop``'s ``scale``). Default (0.8, 1.0), the
            corrected form of the release's (0.8, 1.4) (the ``released`` variant): torchvision rejects a crop
            larger than the frame and redraws it, up to 10 times, then takes the whole frame, so (0.8, 1.4)
            means crops of 0.8-1.0 of the area plus about 25% uncropped frames (see
            :class:`~affect_lib.data.ravdess.RavdessClips`).
        split: ``"proper"`` (the fixed test/validation actors; refuses a corpus that lacks one), ``"folds3"``
            (a nested 3-fold split, for a stand-in with other actors), ``"released"`` (CFN-SR's 5 folds) or
            ``"msaf"`` (MSAF's 6 folds); the last two have no validation actors and select the epoch on the
            test fold, as released (see :mod:`affect_lib.protocols`).
        fold: which fold of ``split`` (0-based; ``"proper"`` has one).
        standin_actors, standin_repetitions, standin_duration, standin_fps, standin_height: the synthetic
            stand-in written when the quick profile has no data.
    """

    preprocess: PreprocessConfig = field(default_factory=_released_preprocessing)
    augment: bool = True
    augment_scale: tuple[float, float] = (0.8, 1.0)
    split: str = "proper"
    fold: int = 0
    standin_actors: tuple[int, ...] = tuple(range(1, 8))
    standin_repetitions: tuple[int, ...] = (1,)
    standin_duration: float = 2.0
    standin_fps: int = 10
    standin_height: int = 80

    def preprocess_config(self) -> PreprocessConfig:
        """The preprocessing settings (:func:`~affect_lib.data.av_preprocess.preprocess_corpus`)."""
        return self.preprocess

    def standin_kwargs(self) -> dict[str, Any]:
        """Arguments of :func:`~affect_lib.data.synthetic_ravdess.write_synthetic_ravdess` for the stand-in."""
        return {
            "actors": self.standin_actors,
            "repetitions": self.standin_repetitions,
            "duration": self.standin_duration,
            "fps": self.standin_fps,
            "height": self.standin_height,
        }


@dataclass(frozen=True)
class Recipe:
    """One resolved run: model x dataset (x alignment) x profile (x variant). See the module docstring.

    ``model_args`` are the keyword arguments of the model's builder (sorted ``(name, value)`` pairs).
    """

    model: str
    dataset: str
    profile: str
    aligned: bool | None
    variant: str | None
    model_args: tuple[tuple[str, Any], ...]
    data: MultData | RavdessData
    train: TrainSettings

    @property
    def name(self) -> str:
        """``model-dataset[-aligned|-unaligned]-profile[+variant]``."""
        align = "" if self.aligned is None else ("-aligned" if self.aligned else "-unaligned")
        return f"{self.model}-{self.dataset}{align}-{self.profile}" + (
            f"+{self.variant}" if self.variant else ""
        )

    def model_kwargs(self) -> dict[str, Any]:
        """The builder's keyword arguments: input sizes and output width from the data, then ``model_args``."""
        if isinstance(self.data, MultData):
            sizes: dict[str, Any] = {"dims": self.data.dims, "out_dim": self.data.out_dim}
        else:
            p = self.data.preprocess
            sizes = {
                "frames": p.n_frames,
                "image_size": p.size,
                "mfcc_bins": p.n_mfcc,
                "mfcc_frames": p.mfcc_frames,
            }
        return {**sizes, **dict(self.model_args)}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (tuples as lists), with the recipe's name and hash."""
        data = json.loads(json.dumps(dataclasses.asdict(self)))
        data["model_args"] = dict(self.model_args)
        data["data_kind"] = type(self.data).__name__
        return {"name": self.name, "hash": recipe_hash(self), **data}

    def replace(self, **overrides: Any) -> Recipe:
        """A copy with ``{"section.field": value}`` overrides (``"train.epochs"``, ``"model.layers"``, ...)."""
        recipe = _apply(self, overrides, where="override")
        _check_init(recipe)
        return recipe


# ---- the layers ----------------------------------------------------------------------------------------------
_LMR_CBT_TRAIN = {
    "train.epochs": 120,
    "train.grad_clip": 1.0,
    "train.lr_patience": 20,
    "train.lr_factor": 0.1,
}

DATASETS: dict[str, dict[str, Any]] = {
    # MOSEI: the released LMR-CBT code's defaults (batch 16, lr 1e-3; also MulT's Table 5). MOSI (batch 128) and
    # IEMOCAP (batch 32, lr 2e-3) are MulT's Table 5 values, not the released code's: it has one setting for all
    # corpora, and LMR-CBT's own per-dataset table is not available. _LMR_CBT_TRAIN is the code's, for all three.
    "mosi": {"train.batch_size": 128, "train.lr": 1e-3, **_LMR_CBT_TRAIN},
    "mosei": {"train.batch_size": 16, "train.lr": 1e-3, **_LMR_CBT_TRAIN},
    "iemocap": {"train.batch_size": 32, "train.lr": 2e-3, **_LMR_CBT_TRAIN},
    # CFN-SR's release: Adam 1e-3, batch 16, 70 epochs, accuracy selects the epoch
    "ravdess": {
        "train.epochs": 70,
        "train.batch_size": 16,
        "train.eval_batch_size": 64,
        "train.lr": 1e-3,
        "train.monitor": "accuracy",
        "train.mode": "max",
    },
}
"""Dataset layer (the data description itself comes from :mod:`affect_lib.data.mult`'s format specs)."""

MODELS: dict[str, dict[str, Any]] = {
    **{name: {} for name in SEQUENCE_MODELS},
    # channels-last 3-D convolutions: the same function, faster on a CPU (benchmarks/results/audiovisual.md)
    **{name: {"model.channels_last": True} for name in AV_MODELS},
}
"""Model layer: the builders' defaults are the papers' sizes; the audio-visual models run their 3-D convolutions
channels-last (``model.channels_last=False`` switches it off)."""

PROFILES: dict[tuple[str, str], dict[str, Any]] = {
    ("mult", "paper"): {"train.eval_batch_size": 256},
    ("mult", "quick"): {
        # measured learning curves: below about 2,000 training utterances no model uses the tones (chapter 30)
        "train.epochs": 10,
        "train.batch_size": 64,
        "train.eval_batch_size": 256,
        "train.lr": 3e-3,
        "train.lr_patience": None,
        "data.standin_sizes": (2000, 400, 1000),
        "data.standin_lengths@aligned": (12, 12, 12),
        "data.standin_lengths@unaligned": (12, 36, 36),
    },
    ("lmr_cbt", "quick"): {"model.layers": 2},
    ("late_fusion", "quick"): {"model.hidden": 32},  # the chapters' small LF-LSTM (paper: 1.22M)
    ("mult_model", "quick"): {"model.layers": 1},
    ("av", "paper"): {"train.init": "unimodal"},
    ("video_only", "paper"): {"train.init": "scratch"},  # the unimodal models are the pretraining itself
    ("audio_only", "paper"): {"train.init": "scratch"},
    ("av", "quick"): {  # chapter 40's sizes: benchmarks/results/cfn_sr_sizing.json
        "train.epochs": 8,
        "train.pretrain_epochs": 2,  # 2 video + 2 audio + 4 fused epochs: the steps of 8 from scratch
        "train.lr_patience": 2,  # the plateau schedule: the validation accuracy swings less between epochs
        "train.lr_factor": 0.3,
        "data.standin_actors": tuple(range(1, 25)),  # as many actors as RAVDESS
        "data.standin_fps": 8,
        "data.n_frames": 4,
        "data.size": 40,  # a 2 x 2 video map: the cross-modal block's softmax has positions to choose from
        "data.mfcc_offset": 0.25,
        "data.mfcc_duration": 1.5,
        "data.augment": False,
        "data.split": "folds6",
        "model.stem_channels": 16,
        "model.planes": (32, 64, 128, 128),
        "model.blocks": (1, 1, 1, 1),
        "model.cardinality": 8,
        "model.audio_channels": (16, 16, 32),
        "model.heads": 4,
        "model.layers": 2,
        "model.attn_dim": 32,
    },
}
"""Profile layer, keyed by (family or model, profile): ``mult`` for the MulT corpora, ``av`` for RAVDESS, then
per model (``mult_model`` is the MulT model). ``field@aligned`` / ``field@unaligned`` apply to one alignment."""

CHAPTER_CORPORA: dict[str, tuple[tuple[str, bool], ...]] = {
    "quick": (("mosei", False),),
    "paper": tuple((name, aligned) for name in MULT_DATASETS for aligned in (True, False)),
}
"""The (dataset, aligned) MulT corpora chapter 30 trains on, per profile. The quick profile trains the unaligned
MOSEI stand-in (the paper's headline setting): 3 models x 5 seeds fit the chapter's 6-minute budget on 2 cores."""
CHAPTER_SEEDS = 5
"""Seeds per configuration in chapter 30: with 3, the test-time controls' intervals (t = 4.3) left verdicts on
their margin that moved with the kernel set; 5 halve the interval's width (t = 2.78 / sqrt 5)."""

VARIANTS: dict[str, dict[str, Any]] = {
    "released": {
        "model.batch_coupled_attention": True,
        "data.squash_first": True,
        "data.augment_scale": (0.8, 1.4),
    },
    "no_residual": {"model.residual": False},
    "lstm_over_batch": {"model.lstm_over_batch_axis": True},
}
"""Named variants: the released CFN-SR quirks, CFN-SR without its residual, the released LMR-CBT LSTM."""


# ---- resolution ----------------------------------------------------------------------------------------------
def get(
    model: str,
    dataset: str,
    profile: str = "quick",
    *,
    aligned: bool | None = None,
    variant: str | None = None,
) -> Recipe | GanimationRecipe:
    """The recipe of ``model`` on ``dataset`` (``aligned``: MulT corpora, default True) for ``profile``; every model
    of the book has one, GANimation's as ``get("ganimation", "faces", profile, variant=...)`` (:func:`ganimation`).

    Raises:
        ValueError: an unknown model, dataset, profile or variant, a model that does not train on the dataset,
            or a layer that names a field the recipe does not have.
    """
    from affect_lib.data.mult import dataset_spec, mult_filename

    if model == "ganimation" or dataset == "faces":
        if (model, dataset) != ("ganimation", "faces") or aligned is not None:
            raise ValueError(f"ganimation trains on faces (no alignment), not {model} on {dataset}")
        return ganimation(profile, variant)
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; known models: {', '.join(MODELS)}")
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; known datasets: {', '.join(DATASETS)}")
    if profile not in PROFILE_NAMES:
        raise ValueError(f"profile must be one of {PROFILE_NAMES}, got {profile!r}")
    if variant is not None and variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; known variants: {', '.join(VARIANTS)}")
    audiovisual = dataset == "ravdess"
    if (model in AV_MODELS) != audiovisual:
        wanted = "ravdess" if model in AV_MODELS else "one of " + ", ".join(MULT_DATASETS)
        raise ValueError(f"model {model} trains on {wanted}, not on {dataset}")
    if audiovisual:
        if aligned is not None:
            raise ValueError("aligned/unaligned applies to the MulT corpora only, not to ravdess")
        data: MultData | RavdessData = RavdessData()
        base = {"train.epochs": 1, "train.batch_size": 1, "train.eval_batch_size": 1, "train.lr": 1.0}
        family = "av"
    else:
        aligned = True if aligned is None else aligned
        spec = dataset_spec(dataset)
        data = MultData(mult_filename(dataset, aligned), spec.default_dims, spec.out_dim)
        base = {"train.epochs": 1, "train.batch_size": 1, "train.eval_batch_size": 1, "train.lr": 1.0}
        family = "mult"
    recipe = Recipe(model, dataset, profile, aligned, variant, (), data, TrainSettings(1, 1, 1, 1.0))
    layers = [
        ("dataset", base),
        ("dataset", DATASETS[dataset]),
        ("model", MODELS[model]),
        ("profile", PROFILES.get((family, profile), {})),
        ("profile", PROFILES.get(("mult_model" if model == "mult" else model, profile), {})),
    ]
    if variant is not None:
        layers.append((f"variant {variant!r}", VARIANTS[variant]))
    for where, layer in layers:
        recipe = _apply(recipe, layer, where=where)
    _check_init(recipe)
    return recipe


def from_dict(data: dict[str, Any]) -> Recipe:
    """The :class:`Recipe` stored by :meth:`Recipe.to_dict` (in a run folder or a checkpoint); its hash is checked.

    Raises:
        ValueError: a field is missing or unknown, or the settings do not hash to the stored hash.
    """
    try:
        kind = {"MultData": MultData, "RavdessData": RavdessData}[data["data_kind"]]
        fields_ = {k: _tuples(v) for k, v in data["data"].items()}
        if kind is RavdessData:
            from affect_lib.data.av_preprocess import PreprocessConfig

            fields_["preprocess"] = PreprocessConfig(**fields_["preprocess"])
        recipe = Recipe(
            model=data["model"],
            dataset=data["dataset"],
            profile=data["profile"],
            aligned=data["aligned"],
            variant=data["variant"],
            model_args=tuple(sorted((k, _tuples(v)) for k, v in data["model_args"].items())),
            data=kind(**fields_),
            train=TrainSettings(**data["train"]),
        )
    except (KeyError, TypeError) as err:
        raise ValueError(f"not a stored recipe ({type(err).__name__}: {err})") from None
    if recipe_hash(recipe) != data.get("hash"):
        raise ValueError(
            f"stored recipe {data.get('name')!r} does not hash to its stored hash {data.get('hash')!r} "
            f"(got {recipe_hash(recipe)}): it was edited or comes from another version of affect_lib"
        )
    return recipe


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def recipe_hash(recipe: Recipe) -> str:
    """A stable 12-hex-digit hash of the recipe's settings (the same recipe hashes alike on any machine)."""
    data = dataclasses.asdict(recipe)
    data["data_kind"] = type(recipe.data).__name__
    text = json.dumps(data, sort_keys=True, default=list, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def describe(recipe: Recipe) -> str:
    """The merged recipe as indented JSON (what ``--print-recipe`` prints and every run folder stores)."""
    return json.dumps(recipe.to_dict(), indent=1)


def _apply(recipe: Recipe, layer: dict[str, Any], *, where: str) -> Recipe:
    sections: dict[str, dict[str, Any]] = {"train": {}, "data": {}, "model": {}}
    for key, value in layer.items():
        path, _, when = key.partition("@")
        if when:
            if when not in ("aligned", "unaligned"):
                raise ValueError(f"{where}: unknown condition {when!r} in {key!r}")
            if recipe.aligned is None or recipe.aligned != (when == "aligned"):
                continue
        section, _, name = path.partition(".")
        if section not in sections or not name:
            raise ValueError(f"{where}: field {key!r} must be 'train.X', 'data.X' or 'model.X'")
        sections[section][name] = value
    if isinstance(recipe.data, RavdessData):  # data.n_frames etc. are preprocessing fields
        prep_names = {f.name for f in dataclasses.fields(recipe.data.preprocess)}
        prep = {k: sections["data"].pop(k) for k in list(sections["data"]) if k in prep_names}
        if prep:
            sections["data"]["preprocess"] = dataclasses.replace(recipe.data.preprocess, **prep)
    for section in ("train", "data"):
        target = getattr(recipe, section)
        known = {f.name for f in dataclasses.fields(target)}
        unknown = sorted(set(sections[section]) - known)
        if unknown:
            raise ValueError(
                f"{where}: unknown {section} field {section}.{unknown[0]} for {type(target).__name__} "
                f"(fields: {', '.join(sorted(known))})"
            )
        recipe = dataclasses.replace(recipe, **{section: dataclasses.replace(target, **sections[section])})
    if sections["model"]:
        args = {**dict(recipe.model_args), **sections["model"]}
        recipe = dataclasses.replace(recipe, model_args=tuple(sorted(args.items())))
    return recipe


def _check_init(recipe: Recipe) -> None:
    """``train.init`` must be one of :data:`INITS`, and ``"unimodal"`` needs an audio-visual fusion model. (The
    model's own fields and sizes are checked with the model: :func:`affect_lib.runs.check_recipe`.)"""
    init = recipe.train.init
    if init not in INITS:
        raise ValueError(f"recipe {recipe.name}: train.init must be one of {INITS}, got {init!r}")
    if init == "unimodal" and (recipe.model not in AV_MODELS or recipe.model in UNIMODAL_MODELS):
        raise ValueError(
            f"recipe {recipe.name}: train.init='unimodal' applies to the audio-visual fusion models "
            f"({', '.join(m for m in AV_MODELS if m not in UNIMODAL_MODELS)}), not to {recipe.model}"
        )


# ---- GANimation (Part II): its own recipe, resolved with the same layered overrides ----------------------------
@dataclass(frozen=True)
class GanimationData:
    """A GANimation face folder (:class:`~affect_lib.data.emotionet.FaceAUs`).

    Attributes:
        image_size: side of the training images (128 in the paper); a multiple of 2**``model.n_layers``.
        center_crop: cut the centred square of non-square images (else they are refused).
        flip: random horizontal flips (the official training transform).
        target_noise: half-width of the U(−a, a) noise on the target AUs (0.1).
        min_confidence: OpenFace rows below this confidence are skipped (not in the official pipeline, which
            keeps every row; 0 keeps all successful rows).
        rig_pool: training faces the rig renders for chapter 21's run (:class:`~affect_lib.faces.pairs.RigPairs`).
    """

    image_size: int = 128
    center_crop: bool = False
    flip: bool = True
    target_noise: float = 0.1
    min_confidence: float = 0.5
    rig_pool: int = 4096


@dataclass(frozen=True)
class GanimationTrain:
    """GANimation's optimisation: WGAN-GP, Adam(lr, betas) for G and D, G every ``n_critic`` D steps,
    ``epochs_const`` epochs at ``lr`` then ``epochs_decay`` of linear decay
    (:func:`affect_lib.faces.ganimation.lr_factor`); ``weights``: ``"official"`` or ``"replicate"``
    (:class:`~affect_lib.faces.ganimation.LossWeights`); ``rig_steps``: critic steps of chapter 21's run on rig
    pairs, which has no epochs.

    Beyond the official code (defaults off): ``identity`` weighs the self-reconstruction L1 ‖G(I|y_o) − I‖₁
    (``LossWeights.identity``); ``au_regressor_steps`` > 0 pre-trains a frozen AU regressor of the critic's size
    for that many steps on the training faces and lets it, not the critic, read the edits for the generator's AU
    loss (:func:`~affect_lib.faces.ganimation.fit_au_regressor`). ``gp_step``: ``"separate"`` (official: the
    gradient penalty in a second critic step) or ``"joint"``."""

    epochs_const: int = 20
    epochs_decay: int = 10
    batch_size: int = 25
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 5
    weights: str = "official"
    rig_steps: int = 100_000
    gp_step: str = "separate"
    identity: float = 0.0
    au_regressor_steps: int = 0

    @property
    def epochs(self) -> int:
        """The whole schedule's epochs."""
        return self.epochs_const + self.epochs_decay


GANIMATION_WEIGHTS = ("official", "replicate")
GANIMATION_GP_STEPS = ("separate", "joint")
"""``train.gp_step``: :data:`affect_lib.faces.ganimation.GP_STEPS`."""
GANIMATION_MODEL_FIELDS = (
    "ngf",
    "n_res",
    "ndf",
    "n_layers",
    "layout",
    "init",
    "attention_start",
    "colour_residual",
)


@dataclass(frozen=True)
class GanimationRecipe:
    """GANimation on a face folder for a profile (and a variant, :data:`GANIMATION_VARIANTS`): the generator's
    ``ngf``/``n_res``/``layout``/``init``/``attention_start``/``colour_residual`` and the critic's
    ``ndf``/``n_layers``/``init`` (``model_args``), the data and the schedule. :func:`recipe_hash` hashes it as any
    recipe; ``aligned`` is always None (it exists so that the layers resolve alike)."""

    profile: str
    model_args: tuple[tuple[str, Any], ...]
    data: GanimationData
    train: GanimationTrain
    model: str = "ganimation"
    dataset: str = "faces"
    aligned: None = None
    variant: str | None = None

    @property
    def name(self) -> str:
        return f"{self.model}-{self.dataset}-{self.profile}" + (f"+{self.variant}" if self.variant else "")

    def generator_kwargs(self) -> dict[str, Any]:
        """Arguments of :class:`~affect_lib.faces.ganimation.Generator`."""
        args = dict(self.model_args)
        names = ("ngf", "n_res", "layout", "init", "attention_start", "colour_residual")
        return {k: args[k] for k in names}

    def critic_kwargs(self) -> dict[str, Any]:
        """Arguments of :class:`~affect_lib.faces.ganimation.Critic` (and of its AU regressor)."""
        args = dict(self.model_args)
        return {
            "image_size": self.data.image_size,
            "ndf": args["ndf"],
            "n_layers": args["n_layers"],
            "init": args["init"],
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data with the recipe's name and hash."""
        data = json.loads(json.dumps(dataclasses.asdict(self)))
        data["model_args"] = dict(self.model_args)
        return {"name": self.name, "hash": recipe_hash(self), **data}

    def replace(self, **overrides: Any) -> GanimationRecipe:
        """A copy with ``{"section.field": value}`` overrides (``"train.batch_size"``, ``"model.ngf"``, ...)."""
        recipe = _apply(self, overrides, where="override")
        _check_ganimation(recipe)
        return recipe


GANIMATION_LAYERS: dict[str, dict[str, Any]] = {
    # the official code and launch script: ngf = ndf = 64, 6 residual blocks, 6 critic layers at 128 px
    "model": {
        "model.ngf": 64,
        "model.n_res": 6,
        "model.ndf": 64,
        "model.n_layers": 6,
        "model.layout": "official",
        "model.init": "normal",
        "model.attention_start": None,
        "model.colour_residual": False,
    },
    "paper": {},
    # chapter 21's CPU run (1,200 critic steps on 256 rig faces) and a two-epoch run of the whole pipeline on a
    # small face folder; the generator starts as the identity (attention bias at logit 0.95, colour residual on
    # the input), learns to keep its input (self-reconstruction) and is read by a frozen AU regressor trained
    # for 1,000 steps first; each ingredient measured by benchmarks/ganimation_recipe.py
    "quick": {
        "data.image_size": 32,
        "data.rig_pool": 256,
        "model.ngf": 16,
        "model.n_res": 2,
        "model.ndf": 16,
        "model.n_layers": 3,
        "train.batch_size": 16,
        "train.lr": 5e-4,
        "train.epochs_const": 1,
        "train.epochs_decay": 1,
        "train.n_critic": 2,
        "train.rig_steps": 1200,
        "model.attention_start": 0.95,
        "model.colour_residual": True,
        "train.identity": 10.0,
        "train.au_regressor_steps": 1000,
    },
}
"""GANimation's layers: the model (the paper's sizes), then the profile. The paper profile is the official
training setup (:class:`GanimationData` and :class:`GanimationTrain` defaults)."""


GANIMATION_VARIANTS: dict[str, dict[str, Any]] = {
    # the official code's objective and initial weights at the profile's sizes and schedule
    "official": {
        "model.init": "normal",
        "model.attention_start": None,
        "model.colour_residual": False,
        "train.gp_step": "separate",
        "train.identity": 0.0,
        "train.au_regressor_steps": 0,
    },
}
"""Named GANimation variants, applied after the profile."""


def ganimation(profile: str = "paper", variant: str | None = None) -> GanimationRecipe:
    """GANimation's recipe for ``profile`` and an optional ``variant`` (:data:`GANIMATION_VARIANTS`);
    ``ValueError`` for an unknown one."""
    if profile not in PROFILE_NAMES:
        raise ValueError(f"profile must be one of {PROFILE_NAMES}, got {profile!r}")
    if variant is not None and variant not in GANIMATION_VARIANTS:
        raise ValueError(f"unknown GANimation variant {variant!r}; known: {', '.join(GANIMATION_VARIANTS)}")
    recipe = GanimationRecipe(profile, (), GanimationData(), GanimationTrain(), variant=variant)
    recipe = _apply(recipe, GANIMATION_LAYERS["model"], where="model")
    recipe = _apply(recipe, GANIMATION_LAYERS[profile], where="profile")
    if variant is not None:
        recipe = _apply(recipe, GANIMATION_VARIANTS[variant], where=f"variant {variant!r}")
    _check_ganimation(recipe)
    return recipe


def _check_ganimation(recipe: GanimationRecipe) -> None:
    """Reject unknown model fields, a bad weight preset, penalty step or schedule. (The sizes the networks refuse
    are checked with the networks: :func:`affect_lib.runs.check_recipe`.)"""
    unknown = sorted(set(dict(recipe.model_args)) - set(GANIMATION_MODEL_FIELDS))
    if unknown:
        raise ValueError(
            f"recipe {recipe.name}: unknown model field model.{unknown[0]} "
            f"(fields: {', '.join(GANIMATION_MODEL_FIELDS)})"
        )
    t = recipe.train
    if t.weights not in GANIMATION_WEIGHTS:
        raise ValueError(
            f"recipe {recipe.name}: train.weights must be one of {GANIMATION_WEIGHTS}, got {t.weights!r}"
        )
    if t.gp_step not in GANIMATION_GP_STEPS:
        raise ValueError(
            f"recipe {recipe.name}: train.gp_step must be one of {GANIMATION_GP_STEPS}, got {t.gp_step!r}"
        )
    if t.identity < 0 or t.au_regressor_steps < 0:
        raise ValueError(
            f"recipe {recipe.name}: train.identity and train.au_regressor_steps must be >= 0, "
            f"got {t.identity} and {t.au_regressor_steps}"
        )
    if t.epochs_const < 0 or t.epochs_decay < 0 or t.epochs < 1 or t.batch_size < 1 or t.n_critic < 1:
        raise ValueError(
            f"recipe {recipe.name}: epochs_const, epochs_decay >= 0 with at least one epoch, and batch_size, "
            f"n_critic >= 1 are needed (got {t.epochs_const}, {t.epochs_decay}, {t.batch_size}, {t.n_critic})"
        )
