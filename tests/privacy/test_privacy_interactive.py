import json

import numpy as np
import pytest

from affect_lib.privacy import wasserstein_step_loss
from affect_lib.privacy.analysis import gdp
from affect_lib.privacy.interactive import epsilon_sigma_grid, epsilon_sigma_html


def test_grid_values_and_widget():
    grid = epsilon_sigma_grid([1.0, 4.0], [0.01], [1000], [1e-5], orders=(16,))
    assert grid["eps"]["RDP"][0][0][0][0] == pytest.approx(2.10137, abs=1e-5)  # reference notes' table
    assert grid["eps"]["PLD"][0][0][0][0] == pytest.approx(1.83, abs=0.1)  # coarse grid: pessimistic
    assert grid["eps"]["GDP"][0][0][0][1] == pytest.approx(gdp.gdp_epsilon([(4.0, 0.01, 1000)], 1e-5))
    assert grid["wdp_step"][0][0][1] == pytest.approx(wasserstein_step_loss(np.full(28, 2.0), 4.0, 0.01, 16))
    assert grid["eps"]["RDP"][0][0][0][1] < grid["eps"]["RDP"][0][0][0][0]  # more noise, smaller DP budget
    page = epsilon_sigma_html(grid, "fig-x")
    assert 'class="affect-interactive"' in page and "../../plotly/plotly.min.js" in page
    payload = page.split("const G = ", 1)[1].split(";\n", 1)[0]
    assert json.loads(payload)["z"] == [1.0, 4.0]
    with pytest.raises(ValueError, match="element_id"):
        epsilon_sigma_html(grid, "bad id<script>")
