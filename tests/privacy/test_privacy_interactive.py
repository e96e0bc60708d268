import json

import numpy as np
import pytest

from affect_lib.privacy import PLDAccountant, RDPAccountant, wasserstein_step_loss
from affect_lib.privacy.analysis import gdp
from affect_lib.privacy.interactive import (
    CURVES,
    GDP,
    PLD,
    PLD_REPLACE,
    RDP,
    epsilon_sigma_grid,
    epsilon_sigma_html,
)


def test_grid_values_and_widget():
    grid = epsilon_sigma_grid([1.0, 4.0], [0.01], [1000], [1e-5], orders=(16,))
    assert grid["eps"][RDP][0][0][0][0] == pytest.approx(2.10137, abs=1e-5)  # reference notes' table
    assert grid["eps"][PLD][0][0][0][0] == pytest.approx(1.82824, abs=2e-4)  # dp_accounting (reference notes)
    assert grid["eps"][GDP][0][0][0][1] == pytest.approx(gdp.gdp_epsilon([(4.0, 0.01, 1000)], 1e-5))
    assert grid["wdp_step"][0][0][1] == pytest.approx(wasserstein_step_loss(np.full(28, 2.0), 4.0, 0.01, 16))
    assert grid["eps"][RDP][0][0][0][1] < grid["eps"][RDP][0][0][0][0]  # more noise, smaller DP budget
    page = epsilon_sigma_html(grid, "fig-x")
    assert 'class="affect-interactive"' in page and "../../plotly/plotly.min.js" in page
    payload = page.split("const G = ", 1)[1].split(";\n", 1)[0]
    assert json.loads(payload)["z"] == [1.0, 4.0]
    with pytest.raises(ValueError, match="element_id"):
        epsilon_sigma_html(grid, "bad id<script>")


def test_pld_curve_matches_the_static_accountant_to_the_printed_digits():
    """A 1e-2 grid showed 0.302 at z = 4, q = 0.004, T = 1000, above RDP's 0.113; the accountant gives 0.100."""
    grid = epsilon_sigma_grid([2.0, 4.0, 8.0], [0.004], [1000], [1e-5], orders=(16,))
    for zi, z in enumerate(grid["z"]):
        for name, relation in ((PLD, "add_remove"), (PLD_REPLACE, "replace_one")):
            static = PLDAccountant(neighboring_relation=relation)
            static.step(noise_multiplier=z, sample_rate=0.004, steps=1000)
            assert round(grid["eps"][name][0][0][0][zi], 3) == round(static.get_epsilon(1e-5), 3)
        rdp = RDPAccountant()
        rdp.step(noise_multiplier=z, sample_rate=0.004, steps=1000)
        assert grid["eps"][PLD][0][0][0][zi] <= rdp.get_epsilon(1e-5)  # tight below its upper bound
    assert round(grid["eps"][PLD][0][0][0][1], 3) == 0.100


def test_every_curve_states_its_adjacency():
    grid = epsilon_sigma_grid([1.0], [0.01], [10], [1e-5], orders=(16,), with_prv=True)
    names = [*grid["eps"], grid["wdp_name"]]
    assert set(grid["eps"]) == set(CURVES)
    assert all("add/remove" in n or "replace-one" in n for n in names), names
    assert "2C" in grid["wdp_name"]
    page = epsilon_sigma_html(grid, "fig-y")
    assert all(json.dumps(n)[1:-1] in page for n in names)
