"""GANimation: shapes at paper and small size, the blending identity, losses, a training step, the loader."""

import numpy as np
import pytest
import torch

from affect_lib.faces import ganimation as gan
from affect_lib.runs import ganimation as ganimation_run


def test_paper_size_shapes_and_parameter_count():
    G, D = gan.Generator(), gan.Critic()
    # closed form from the architecture table (official layout: no conv bias, affine IN)
    convs = (
        20 * 64 * 49 + 64 * 128 * 16 + 128 * 256 * 16 + 6 * 2 * 256 * 256 * 9 + 256 * 128 * 16 + 128 * 64 * 16
    )
    norms = 2 * (64 + 128 + 256 + 6 * 2 * 256 + 128 + 64)
    heads = 64 * 3 * 49 + 64 * 49
    assert sum(p.numel() for p in G.parameters()) == convs + norms + heads
    score, aus = D(torch.zeros(1, 3, 128, 128))
    assert score.shape == (1, 1, 2, 2) and aus.shape == (1, 17)


def test_small_generator_shapes_and_blend_identity():
    torch.manual_seed(0)
    G = gan.Generator(ngf=8, n_res=1)
    image = torch.rand(2, 3, 32, 32) * 2 - 1
    out, colour, attention = G(image, torch.rand(2, 17))
    assert out.shape == colour.shape == (2, 3, 32, 32) and attention.shape == (2, 1, 32, 32)
    torch.testing.assert_close(out, attention * image + (1 - attention) * colour)

    class Ones(torch.nn.Module):
        def forward(self, x):
            return torch.ones_like(x[:, :1])

    G.attetion_reg = Ones()  # attention = 1 everywhere keeps the input exactly
    torch.testing.assert_close(G(image, torch.rand(2, 17))[0], image)


def test_bad_inputs_raise():
    G, D = gan.Generator(ngf=8, n_res=1), gan.Critic(64, 8, 4)
    with pytest.raises(ValueError, match="aus"):
        G(torch.zeros(1, 3, 32, 32), torch.zeros(1, 16))
    with pytest.raises(ValueError, match="image"):
        D(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="layout"):
        gan.Generator(layout="tf")


def test_gradient_penalty_of_a_linear_critic_is_closed_form():
    class Linear(torch.nn.Module):
        def __init__(self, w):
            super().__init__()
            self.w = w

        def forward(self, x):
            return (x * self.w).sum((1, 2, 3)), None

    w = torch.randn(3, 4, 4)
    gp = gan.gradient_penalty(Linear(w), torch.rand(5, 3, 4, 4), torch.rand(5, 3, 4, 4))
    assert gp.item() == pytest.approx((w.norm().item() - 1) ** 2, rel=1e-5)


def test_attention_loss_closed_form():
    a = torch.zeros(2, 1, 3, 3)
    a[:, :, 1, 1] = 1.0  # mean 1/9; TV: 4 unit jumps per image, summed over the batch as the official code
    w = gan.LossWeights(attention=1.0, tv=1.0)
    assert gan.attention_loss(a, w).item() == pytest.approx(1 / 9 + 8)


def test_au_weight_is_divided_by_the_batch_as_official():
    pred, target = torch.ones(25, 17), torch.zeros(25, 17)
    assert gan.LossWeights().au_term(pred, target).item() == pytest.approx(4000 / 25)
    assert gan.LossWeights.replicate().au_term(pred, target).item() == pytest.approx(160)
    assert gan.LossWeights.replicate().attention == gan.LossWeights.replicate().tv == 0
    assert gan.cycle_loss(torch.ones(2, 3), torch.zeros(2, 3)).item() == 1.0
    assert gan.au_loss(torch.ones(2, 17), torch.zeros(2, 17)).item() == 1.0


def test_training_steps_run_and_report_losses():
    torch.manual_seed(0)
    trainer = gan.Trainer(gan.Generator(ngf=8, n_res=1), gan.Critic(32, 8, 3), n_critic=2)
    real = torch.rand(4, 3, 32, 32) * 2 - 1
    losses = [trainer.step(real, torch.rand(4, 17), torch.rand(4, 17)) for _ in range(4)]
    assert "cycle_l1" in losses[1] and "cycle_l1" not in losses[0]
    assert all(torch.isfinite(torch.tensor(list(d.values()))).all() for d in losses)


def test_critic_learns_to_regress_aus_on_rig_faces():
    """A task with a known answer: on rig faces, the critic's AU head must beat predicting the mean AU vector."""
    from affect_lib.faces.pairs import RigPairs
    from affect_lib.faces.rig import FaceRig

    torch.manual_seed(0)
    pairs = RigPairs.render(FaceRig.default(32), 128, np.random.default_rng(0))
    trainer = gan.Trainer(gan.Generator(ngf=8, n_res=1), gan.Critic(32, 16, 3), lr=1e-3, n_critic=1000)
    trainer.fit(pairs, 150, 32)
    with torch.no_grad():
        mse = gan.au_loss(trainer.D(pairs.images)[1], pairs.aus).item()
    baseline = ((pairs.aus - pairs.aus.mean(0)) ** 2).mean().item()
    assert mse < 0.7 * baseline


class _DonydchenGenerator(torch.nn.Module):
    """donydchen's SplitGenerator written out from its description (not from this library): ``model`` (7x7 conv,
    two stride-2 convs, ResnetBlocks with a ``conv_block``, two transposed convs; conv bias, IN without affine),
    ``color_top`` and ``au_top``; returns (colour, attention)."""

    def __init__(self, ngf=8, n_blocks=1):
        super().__init__()
        nn = torch.nn
        layers = [nn.Conv2d(20, ngf, 7, 1, 3), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
        layers += [nn.Conv2d(ngf, 2 * ngf, 4, 2, 1), nn.InstanceNorm2d(2 * ngf), nn.ReLU(True)]
        layers += [nn.Conv2d(2 * ngf, 4 * ngf, 4, 2, 1), nn.InstanceNorm2d(4 * ngf), nn.ReLU(True)]
        layers += [_DonydchenBlock(4 * ngf) for _ in range(n_blocks)]
        layers += [nn.ConvTranspose2d(4 * ngf, 2 * ngf, 4, 2, 1), nn.InstanceNorm2d(2 * ngf), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(2 * ngf, ngf, 4, 2, 1), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
        self.model = nn.Sequential(*layers)
        self.color_top = nn.Sequential(nn.Conv2d(ngf, 3, 7, 1, 3, bias=False), nn.Tanh())
        self.au_top = nn.Sequential(nn.Conv2d(ngf, 1, 7, 1, 3, bias=False), nn.Sigmoid())

    def forward(self, img, aus):
        h = self.model(torch.cat([img, aus[:, :, None, None].expand(-1, -1, *img.shape[2:])], 1))
        return self.color_top(h), self.au_top(h)


class _DonydchenBlock(torch.nn.Module):
    def __init__(self, dim):
        super().__init__()
        nn = torch.nn
        self.conv_block = nn.Sequential(
            nn.Conv2d(dim, dim, 3, padding=1),
            nn.InstanceNorm2d(dim),
            nn.ReLU(True),
            nn.Conv2d(dim, dim, 3, padding=1),
            nn.InstanceNorm2d(dim),
        )

    def forward(self, x):
        return x + self.conv_block(x)


class _DonydchenCritic(torch.nn.Module):
    """donydchen's SplitDiscriminator from its description: ``model``, ``dis_top`` (3x3) and ``aus_top``."""

    def __init__(self, size=32, ndf=8, n_layers=3):
        super().__init__()
        nn = torch.nn
        layers, dim = [nn.Conv2d(3, ndf, 4, 2, 1), nn.LeakyReLU(0.01)], ndf
        for _ in range(n_layers - 1):
            layers += [nn.Conv2d(dim, 2 * dim, 4, 2, 1), nn.LeakyReLU(0.01)]
            dim *= 2
        self.model = nn.Sequential(*layers)
        self.dis_top = nn.Conv2d(dim, 1, 3, 1, 1, bias=False)
        self.aus_top = nn.Conv2d(dim, 17, size // 2**n_layers, bias=False)

    def forward(self, x):
        h = self.model(x)
        return self.dis_top(h), self.aus_top(h).flatten(1)


def test_donydchen_generator_checkpoint_loads_and_computes_the_same(tmp_path):
    torch.manual_seed(0)
    theirs = _DonydchenGenerator()
    torch.save({"module." + k: v for k, v in theirs.state_dict().items()}, tmp_path / "30_net_gen.pth")
    ours = gan.load_checkpoint(tmp_path / "30_net_gen.pth", gan.Generator(ngf=8, n_res=1, layout="replicate"))
    img, aus = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 17)
    colour, attention = theirs(img, aus)
    out, c, a = ours(img, aus)
    torch.testing.assert_close(c, colour)
    torch.testing.assert_close(a, attention)
    torch.testing.assert_close(out, attention * img + (1 - attention) * colour)


def test_donydchen_critic_checkpoint_loads_and_computes_the_same(tmp_path):
    torch.manual_seed(1)
    theirs = _DonydchenCritic()
    torch.save(theirs.state_dict(), tmp_path / "30_net_dis.pth")
    ours = gan.load_checkpoint(tmp_path / "30_net_dis.pth", gan.Critic(32, 8, 3))
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    for a, b in zip(ours(x), theirs(x), strict=True):
        torch.testing.assert_close(a, b)


def test_official_generator_checkpoint_round_trip(tmp_path):
    src = gan.Generator(ngf=8, n_res=1)
    torch.save(src.state_dict(), tmp_path / "net_epoch_30_id_G.pth")
    dst = gan.load_checkpoint(tmp_path / "net_epoch_30_id_G.pth", gan.Generator(ngf=8, n_res=1))
    x, aus = torch.rand(1, 3, 16, 16), torch.rand(1, 17)
    torch.testing.assert_close(dst(x, aus)[0], src(x, aus)[0])


def test_checkpoint_mismatch_and_missing_file(tmp_path):
    torch.save(gan.Generator(ngf=8, n_res=1).state_dict(), tmp_path / "g.pth")
    with pytest.raises(ValueError, match="does not match"):
        gan.load_checkpoint(tmp_path / "g.pth", gan.Generator(ngf=8, n_res=2))
    with pytest.raises(FileNotFoundError):
        gan.load_checkpoint(tmp_path / "none.pth", gan.Generator(ngf=8, n_res=1))


def test_ganimation_generator_adapter_has_the_rig_interface():
    face = torch.rand(3, 16, 16)
    G = gan.Generator(ngf=8, n_res=1)

    class Ones(torch.nn.Module):
        def forward(self, x):
            return torch.ones_like(x[:, :1])

    G.attetion_reg = Ones()  # keep every input pixel: the adapter must return the face itself, in [0, 1]
    adapter = gan.GanimationGenerator(G, face)
    out = adapter(torch.rand(4, 17) * 5)
    assert out.shape == (4, 3, 16, 16)
    torch.testing.assert_close(out, face.expand(4, -1, -1, -1), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="aus"):
        adapter(torch.zeros(2, 16))
    with pytest.raises(ValueError, match="face"):
        gan.GanimationGenerator(G, torch.full((3, 16, 16), 2.0))


def test_normal_init_draws_conv_weights_from_n0_002_and_zero_biases():
    torch.manual_seed(0)
    G = gan.Generator(ngf=16, n_res=2, layout="replicate")  # conv biases on
    convs = [m for m in G.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d)]
    weights = torch.cat([m.weight.flatten() for m in convs])
    assert abs(weights.std().item() - 0.02) < 0.001 and abs(weights.mean().item()) < 0.001
    assert all(m.bias is None or not m.bias.any() for m in convs)
    critic = gan.Critic(32, 8, 3)
    assert abs(critic.main[0].weight.std().item() - 0.02) < 0.005 and not critic.main[0].bias.any()
    # PyTorch's default: U(±1/sqrt(fan_in)), std 1/sqrt(3 * 48) = 0.083 for the critic's first 4x4 conv on 3 channels
    default = gan.Critic(32, 8, 3, init="pytorch").main[0].weight.std().item()
    assert default == pytest.approx(1 / (3 * 48) ** 0.5, rel=0.15)
    with pytest.raises(ValueError, match="init"):
        gan.Generator(ngf=8, n_res=1, init="xavier")


def test_identity_start_keeps_the_input_and_colour_residual_paints_on_it():
    torch.manual_seed(0)
    image = torch.rand(2, 3, 16, 16) * 2 - 1
    G = gan.Generator(ngf=8, n_res=1, attention_start=0.95)
    _, _, attention = G(image, torch.rand(2, 17))
    # N(0, 0.02) convs give the head near-zero inputs: the bias alone sets the mask
    assert attention.mean().item() == pytest.approx(0.95, abs=0.01)
    with pytest.raises(ValueError, match="attention_start"):
        gan.Generator(ngf=8, n_res=1, attention_start=1.0)

    class Zeros(torch.nn.Module):
        def forward(self, x):
            return torch.zeros_like(x[:, :3])

    R = gan.Generator(ngf=8, n_res=1, colour_residual=True)
    R.img_reg = Zeros()  # a zero residual: the colour is the input, so is the output, whatever the mask
    out, colour, _ = R(image, torch.rand(2, 17))
    torch.testing.assert_close(colour, image)
    torch.testing.assert_close(out, image)
    plain = gan.Generator(ngf=8, n_res=1)
    plain.img_reg = Zeros()  # the official colour head paints grey (0) instead
    assert plain(image, torch.rand(2, 17))[1].abs().max().item() == 0


def test_separate_gradient_penalty_takes_a_second_critic_step():
    real = torch.rand(4, 3, 32, 32) * 2 - 1
    for gp_step, adam_steps in (("separate", 2), ("joint", 1)):
        torch.manual_seed(0)
        trainer = gan.Trainer(
            gan.Generator(ngf=8, n_res=1), gan.Critic(32, 8, 3), n_critic=5, gp_step=gp_step
        )
        trainer.step(real, torch.rand(4, 17), torch.rand(4, 17))
        # the trunk is updated by both steps; the AU head gets no gradient from the penalty, so Adam skips it
        assert int(trainer.opt_d.state[trainer.D.main[0].weight]["step"]) == adam_steps
        assert int(trainer.opt_d.state[trainer.D.conv2.weight]["step"]) == 1
    with pytest.raises(ValueError, match="gp_step"):
        gan.Trainer(gan.Generator(ngf=8, n_res=1), gan.Critic(32, 8, 3), gp_step="both")


def test_frozen_au_regressor_reads_the_edits_for_the_generator():
    class Zero(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return torch.zeros(len(x), 17) * self.w

    target = torch.rand(4, 17)
    G, D = gan.Generator(ngf=8, n_res=1), gan.Critic(32, 8, 3)
    with pytest.raises(ValueError, match="frozen"):
        gan.Trainer(G, D, n_critic=1, au_regressor=Zero())
    trainer = gan.Trainer(G, D, n_critic=1, au_regressor=Zero().requires_grad_(False))
    out = trainer.step(torch.rand(4, 3, 32, 32) * 2 - 1, torch.rand(4, 17), target)
    # a regressor that reads 0 everywhere: the generator's AU error is the targets' mean square
    assert out["generator_au_mse"] == pytest.approx((target**2).mean().item(), rel=1e-6)


def test_self_reconstruction_alone_teaches_the_generator_to_keep_its_input():
    torch.manual_seed(0)
    only_identity = gan.LossWeights(adversarial=0, au=0, cycle=0, attention=0, tv=0, gp=0, identity=1.0)
    G = gan.Generator(ngf=8, n_res=1)
    trainer = gan.Trainer(G, gan.Critic(32, 8, 3), only_identity, lr=1e-3, n_critic=1)
    real, aus = torch.rand(8, 3, 32, 32) * 2 - 1, torch.rand(8, 17)

    def self_rec() -> float:
        with torch.no_grad():
            return (G(real, aus)[0] - real).abs().mean().item()

    before = self_rec()
    for _ in range(30):
        trainer.step(real, aus, torch.rand(8, 17))
    assert self_rec() < 0.5 * before


def test_au_regressor_beats_the_mean_on_held_out_rig_faces_and_is_frozen():
    from affect_lib.faces.pairs import RigPairs
    from affect_lib.faces.rig import FaceRig

    torch.manual_seed(0)
    rig = FaceRig.default(32)
    train = RigPairs.render(rig, 128, np.random.default_rng(0))
    test = RigPairs.render(rig, 64, np.random.default_rng(1))
    regressor = gan.AURegressor(32, 16, 3)
    gan.fit_au_regressor(regressor, train, 200, 32)
    with torch.no_grad():
        mse = gan.au_loss(regressor(test.images), test.aus).item()
    assert mse < 0.5 * ((test.aus - train.aus.mean(0)) ** 2).mean().item()
    assert not any(p.requires_grad for p in regressor.parameters()) and not regressor.training


def test_recipes_paper_and_official_variant_are_the_official_code_quick_default_names_its_departures():
    from affect_lib import recipes, runs

    for recipe in (recipes.ganimation("paper"), recipes.ganimation("quick", "official")):
        g, t = recipe.generator_kwargs(), recipe.train
        assert (g["init"], g["attention_start"], g["colour_residual"]) == ("normal", None, False)
        assert (t.gp_step, t.identity, t.au_regressor_steps) == ("separate", 0.0, 0)
        assert (
            recipe.critic_kwargs()["init"] == "normal"
            and ganimation_run.loss_weights(recipe) == gan.LossWeights()
        )
    quick = recipes.ganimation("quick")
    assert quick.generator_kwargs()["attention_start"] == 0.95 and quick.generator_kwargs()["colour_residual"]
    assert ganimation_run.loss_weights(quick).identity == quick.train.identity == 10.0
    assert recipes.ganimation("quick", "official").name == "ganimation-faces-quick+official"
    with pytest.raises(ValueError, match="variant"):
        recipes.ganimation("quick", "fast")
    with pytest.raises(ValueError, match="gp_step"):
        quick.replace(**{"train.gp_step": "twice"})
    bad = quick.replace(**{"model.attention_start": 1.5})  # plain data; the networks judge their sizes ...
    with pytest.raises(ValueError, match="attention_start"):
        runs.check_recipe(bad)  # ... before any run (train_recipe and the command line call this)
    assert recipes.get("ganimation", "faces", "quick") == quick  # the one entry point of every model
