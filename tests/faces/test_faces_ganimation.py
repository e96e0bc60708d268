"""GANimation: shapes at paper and small size, the blending identity, losses, a training step, the loader."""

import pytest
import torch

from affect_lib.faces import ganimation as gan


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
    a = torch.zeros(1, 1, 3, 3)
    a[..., 1, 1] = 1.0  # mean 1/9; TV: 4 unit jumps
    w = gan.LossWeights(attention=1.0, tv=1.0)
    assert gan.attention_loss(a, w).item() == pytest.approx(1 / 9 + 4)
    assert gan.cycle_loss(torch.ones(2, 3), torch.zeros(2, 3)).item() == 1.0
    assert gan.au_loss(torch.ones(2, 17), torch.zeros(2, 17)).item() == 1.0


def test_training_steps_run_and_report_losses():
    torch.manual_seed(0)
    trainer = gan.Trainer(gan.Generator(ngf=8, n_res=1), gan.Critic(32, 8, 3), n_critic=2)
    real = torch.rand(4, 3, 32, 32) * 2 - 1
    losses = [trainer.step(real, torch.rand(4, 17), torch.rand(4, 17)) for _ in range(4)]
    assert "cycle_l1" in losses[1] and "cycle_l1" not in losses[0]
    assert all(torch.isfinite(torch.tensor(list(d.values()))).all() for d in losses)


@pytest.mark.parametrize("layout", gan.LAYOUTS)
def test_checkpoint_round_trip_in_both_key_layouts(tmp_path, layout):
    src = gan.Generator(ngf=8, n_res=1, layout=layout)
    state = src.state_dict()
    if layout == "replicate":
        renames = {"main.": "model.", "img_reg.": "color_top.", "attetion_reg.": "au_top."}
        state = {
            next((v + k[len(o) :] for o, v in renames.items() if k.startswith(o)), k).replace(
                ".main.", ".conv_block."
            ): t
            for k, t in state.items()
        }
    torch.save(state, tmp_path / "30_net_gen.pth")
    dst = gan.load_checkpoint(tmp_path / "30_net_gen.pth", gan.Generator(ngf=8, n_res=1, layout=layout))
    for (k, a), b in zip(src.state_dict().items(), dst.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=k)


def test_checkpoint_mismatch_and_missing_file(tmp_path):
    torch.save(gan.Generator(ngf=8, n_res=1).state_dict(), tmp_path / "g.pth")
    with pytest.raises(ValueError, match="does not match"):
        gan.load_checkpoint(tmp_path / "g.pth", gan.Generator(ngf=8, n_res=2))
    with pytest.raises(FileNotFoundError):
        gan.load_checkpoint(tmp_path / "none.pth", gan.Generator(ngf=8, n_res=1))
