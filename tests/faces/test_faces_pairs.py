"""Rig pairs and the ground-truth score: closed-form cases that the score must get right."""

import numpy as np
import pytest
import torch

from affect_lib.faces import facs
from affect_lib.faces.pairs import FixedSource, RigPairs, ground_truth_l1, sample_aus
from affect_lib.faces.rig import FaceRig


@pytest.fixture(scope="module")
def pairs():
    return RigPairs.render(FaceRig.default(32), 64, np.random.default_rng(0))


def test_sample_aus_are_prototypes_in_range():
    aus = sample_aus(200, np.random.default_rng(1))
    assert aus.shape == (200, 17) and aus.min() >= 0 and aus.max() <= facs.AU_MAX
    masks = {tuple(np.flatnonzero(facs.prototype(n, 1.0))) for n in facs.PROTOTYPE_AUS}
    assert all(tuple(np.flatnonzero(a)) in masks or not a.any() for a in aus[:50])
    with pytest.raises(ValueError, match="positive"):
        sample_aus(0, np.random.default_rng(0))


def test_pool_images_are_the_rig_renders(pairs):
    rig = FaceRig.default(32)
    with torch.no_grad():
        again = rig(pairs.aus[:4] * facs.AU_MAX) * 2 - 1
    torch.testing.assert_close(pairs.images[:4], again, atol=1e-5, rtol=0)
    real, aus, target, truth = pairs.batch(8, torch.Generator().manual_seed(0))
    assert real.shape == truth.shape == (8, 3, 32, 32) and aus.shape == target.shape == (8, 17)


class _Oracle(torch.nn.Module):
    """Looks the target up in the pool: a perfect editor."""

    def __init__(self, pairs):
        super().__init__()
        self.pairs, self.w = pairs, torch.nn.Parameter(torch.zeros(1))

    def forward(self, image, aus):
        idx = torch.cdist(aus, self.pairs.aus).argmin(1)
        return self.pairs.images[idx], None, None


class _Identity(_Oracle):
    def forward(self, image, aus):
        return image, None, None


def test_ground_truth_score_ranks_oracle_identity_and_noise(pairs):
    oracle = ground_truth_l1(_Oracle(pairs), pairs, n_pairs=100)
    same = ground_truth_l1(_Identity(pairs), pairs, n_pairs=100)
    assert oracle["generator"].max() == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(same["generator"], same["unchanged"])
    assert same["unchanged"].mean() > 0.005  # the targets do change the face
    assert (
        same["unchanged_changed"].mean() > 3 * same["unchanged"].mean()
    )  # the error sits on the changed pixels
    torch.manual_seed(0)

    class Noisy(_Identity):
        def forward(self, image, aus):
            return image + 0.2 * torch.randn_like(image), None, None

    noisy = ground_truth_l1(Noisy(pairs), pairs, n_pairs=100)
    assert noisy["generator"].mean() > same["unchanged"].mean()


def test_fit_paired_learns_the_edits_from_the_truth(pairs):
    from affect_lib.faces import ganimation as gan
    from affect_lib.faces.pairs import fit_paired

    torch.manual_seed(0)
    g = gan.Generator(ngf=8, n_res=1)
    before = ground_truth_l1(g, pairs, n_pairs=64)["generator"].mean()
    history = fit_paired(g, pairs, steps=40, batch=16, lr=2e-3)
    after = ground_truth_l1(g, pairs, n_pairs=64)["generator"].mean()
    assert len(history) == 40 and np.mean(history[-5:]) < np.mean(history[:5])
    assert after < 0.5 * before  # an L1 toward the exact render (a wrong sign or target would not halve it)
    with pytest.raises(ValueError, match="positive"):
        fit_paired(g, pairs, steps=0, batch=16)


def test_ground_truth_score_is_in_unit_image_units_on_the_changed_pixels():
    # two flat faces in GANimation's [-1, 1]: -0.5 and 0.5 (0.25 and 0.75 in [0, 1] units), so every pixel of a
    # cross pair differs by 0.5 in [0, 1] units and a generator that outputs 0 is off by 0.25 everywhere
    images = torch.tensor([-0.5, 0.5]).view(2, 1, 1, 1).expand(2, 3, 8, 8).clone()
    flat = RigPairs(images, torch.eye(2, 17))

    class Zero(_Identity):
        def forward(self, image, aus):
            return torch.zeros_like(image), None, None

    scores = ground_truth_l1(Zero(flat), flat, n_pairs=400)
    cross = scores["unchanged"] > 0
    assert 100 < cross.sum() < 300  # i != j about half the time
    np.testing.assert_allclose(scores["unchanged"][cross], 0.5)
    np.testing.assert_allclose(scores["generator"], 0.25)
    # only cross pairs have changed pixels, and the mask is all of them
    assert len(scores["unchanged_changed"]) == cross.sum()
    np.testing.assert_allclose(scores["unchanged_changed"], 0.5)
    np.testing.assert_allclose(scores["generator_changed"], 0.25)


def test_fixed_source_renders_from_the_aus_only(pairs):
    from affect_lib.faces import ganimation as gan

    torch.manual_seed(0)
    g = gan.Generator(ngf=8, n_res=1).eval()
    fixed = FixedSource(g, pairs.images[:1])
    aus = pairs.aus[:3]
    with torch.no_grad():
        a = fixed(pairs.images[3:6], aus)[0]
        b = fixed(torch.zeros(3, 3, 32, 32), aus)[0]  # the input image is ignored
        c = g(pairs.images[:1].expand(3, -1, -1, -1), aus)[0]
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c)
    assert list(fixed.parameters()) == list(g.parameters())  # fit_paired trains the wrapped generator
    with pytest.raises(ValueError, match="one image"):
        FixedSource(g, pairs.images[:2])


def test_train_ganimation_follows_the_recipe_and_repeats_from_a_seed(pairs):
    from affect_lib import recipes
    from affect_lib.runs.ganimation import train_on_rig

    recipe = recipes.ganimation("quick").replace(
        **{"model.ngf": 8, "model.n_res": 1, "model.attention_start": 0.9, "train.au_regressor_steps": 3}
    )
    G, trainer, history = train_on_rig(recipe, pairs, seed=2, steps=4)
    n_g = 4 // recipe.train.n_critic
    assert len(history["critic_au_mse"]) == 4 and len(history["cycle_l1"]) == n_g
    assert trainer.au_regressor is not None and trainer.gp_step == recipe.train.gp_step
    assert G.attetion_reg[0].bias is not None
    again, _, _ = train_on_rig(recipe, pairs, seed=2, steps=4)
    for a, b in zip(G.state_dict().values(), again.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)


def test_critic_au_mse_is_the_au_heads_error_on_the_edits_and_on_the_truth(pairs):
    from affect_lib.faces.pairs import critic_au_mse

    class MeanCritic(torch.nn.Module):  # reads every AU as the image's mean brightness
        def forward(self, x):
            return x.mean((1, 2, 3)), x.mean((1, 2, 3))[:, None].expand(-1, facs.N_AUS)

    class Identity(torch.nn.Module):  # "edits" by leaving the face unchanged
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x, aus):
            return (x,)

    reading = critic_au_mse(MeanCritic(), Identity(), pairs, n_pairs=30, seed=5)
    real, _, target, exact = pairs.batch(30, torch.Generator().manual_seed(5))
    for key, images in (("edits", real), ("truth", exact)):
        want = ((images.mean((1, 2, 3))[:, None] - target) ** 2).mean(1)
        np.testing.assert_allclose(reading[key], want.numpy(), rtol=1e-6)


def test_train_control_is_the_seeded_generator_fit_on_the_pairs(pairs):
    from affect_lib import recipes
    from affect_lib.faces import ganimation as gan
    from affect_lib.faces.pairs import fit_paired
    from affect_lib.runs.ganimation import train_control

    recipe = recipes.ganimation("quick").replace(**{"model.ngf": 8, "model.n_res": 1})
    t = recipe.train
    G, history = train_control(recipe, pairs, seed=3, steps=2 * t.n_critic)
    torch.manual_seed(3)
    want = gan.Generator(**recipe.generator_kwargs())
    want_history = fit_paired(want, pairs, 2, t.batch_size, lr=t.lr, seed=3)
    assert history == want_history and len(history) == 2
    for a, b in zip(G.state_dict().values(), want.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    source = pairs.images[:1]
    fixed, _ = train_control(recipe, pairs, seed=3, steps=t.n_critic, source=source)
    assert isinstance(fixed, FixedSource) and torch.equal(fixed.source, source)
