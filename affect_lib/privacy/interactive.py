"""The interactive "epsilon against sigma" figure of Part I: a precomputed grid and a self-contained HTML widget.

The grid holds, for each noise multiplier z, sampling rate q, number of steps T and delta, the (eps, delta)-DP
budget of T steps of the Poisson-subsampled Gaussian by RDP, PLD, GDP (and PRV when asked) with add/remove
adjacency, the PLD budget with replace-one adjacency (the adjacency of the Wasserstein accountant's pairs), and
the Wasserstein accountant's per-step loss W_t(z, q, mu) for unit clipping norm (worst-case replace-one pairs,
||d_i|| = 2C), from which the page computes eps_WDP = s T W_t + log(1/delta) / beta for any gradient scale s and
beta. Every curve's name states its adjacency. The PLD uses the same discretisation as the static accountant
(:class:`~affect_lib.privacy.accountants.PLDAccountant`, 1e-4 by default), so the figure shows the same digits. The
page draws it with plotly.js, loaded from the vendored copy (``_vendor/plotly``), with one slider per parameter.
"""

from __future__ import annotations

import html
import json
import warnings
from typing import Any

import numpy as np

from affect_lib.privacy.analysis import gdp, pld, prv, rdp, wdp

RDP, PLD, PLD_REPLACE, GDP, PRV = (
    "RDP (add/remove)",
    "PLD (add/remove)",
    "PLD (replace-one)",
    "GDP (add/remove, CLT)",
    "PRV (add/remove)",
)
CURVES = (RDP, PLD, PLD_REPLACE, GDP, PRV)
"""The DP curves' names, each with its adjacency: add/remove one record (sensitivity C) or replace one (2C)."""
WDP_NAME = "WDP ({n_pairs} replace-one pairs, ||d|| = 2C)"


def epsilon_sigma_grid(
    noise_multipliers: Any,
    sample_rates: Any,
    steps: Any,
    deltas: Any,
    orders: Any = (1, 2, 4, 8, 16, 32),
    n_pairs: int = 28,
    *,
    with_prv: bool = False,
    value_discretization_interval: float = 1e-4,
) -> dict[str, Any]:
    """The precomputed grid (JSON-serialisable): eps[curve][q][T][delta] over z, and W_t[q][mu] over z.

    Curves are named with their adjacency (:data:`CURVES`). RDP is computed once per (z, q) and scaled by T; an
    RDP optimum at the edge of the order grid is recorded in ``edge`` (as "accountant q T delta z" strings)
    instead of being silenced. ``value_discretization_interval``: the PLD grid step (the static accountant's
    default; coarser steps overstate eps, e.g. 0.302 instead of 0.100 at z = 4, q = 0.004, T = 1000).
    """
    zs = [float(z) for z in noise_multipliers]
    qs, ts, ds = [float(q) for q in sample_rates], [int(t) for t in steps], [float(d) for d in deltas]
    names = [RDP, PLD, PLD_REPLACE, GDP] + ([PRV] if with_prv else [])
    eps: dict[str, list] = {n: [[[[0.0] * len(zs) for _ in ds] for _ in ts] for _ in qs] for n in names}
    edge: list[str] = []
    for qi, q in enumerate(qs):
        for zi, z in enumerate(zs):
            one_step = rdp.compute_rdp([(z, q, 1)])
            for ti, t in enumerate(ts):
                book = pld.pld_of_history([(z, q, t)], value_discretization_interval)
                replace = pld.pld_of_history([(z, q, t)], value_discretization_interval, "replace_one")
                for di, d in enumerate(ds):
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        eps[RDP][qi][ti][di][zi] = rdp.rdp_to_epsilon(
                            rdp.DEFAULT_RDP_ORDERS, t * one_step, d
                        )[0]
                    edge += [f"RDP q={q:g} T={t} delta={d:g} z={z:g}" for _ in caught[:1]]
                    eps[PLD][qi][ti][di][zi] = float(book.get_epsilon(d))
                    eps[PLD_REPLACE][qi][ti][di][zi] = float(replace.get_epsilon(d))
                    eps[GDP][qi][ti][di][zi] = gdp.gdp_epsilon([(z, q, t)], d)
                    if with_prv:
                        eps[PRV][qi][ti][di][zi] = prv.prv_epsilon([(z, q, t)], d, eps_error=0.05)
    losses = [
        [[wdp.wasserstein_step_loss(np.full(n_pairs, 2.0), z, q, mu) for z in zs] for mu in orders]
        for q in qs
    ]
    return {
        "z": zs,
        "q": qs,
        "T": ts,
        "delta": ds,
        "mu": [float(m) for m in orders],
        "eps": eps,
        "wdp_step": losses,
        "n_pairs": int(n_pairs),
        "wdp_name": WDP_NAME.format(n_pairs=int(n_pairs)),
        "pld_interval": float(value_discretization_interval),
        "edge": edge,
    }


_PAGE = """<div class="affect-interactive" id="{id}" style="max-width:680px">
<div id="{id}-plot" style="width:100%;height:420px"></div>
<div id="{id}-controls" style="display:grid;grid-template-columns:max-content 1fr max-content;gap:2px 8px;
font-size:14px;align-items:center"></div>
<script src="{plotly_src}"></script>
<script>
(function() {{
const G = {data};
const root = document.getElementById("{id}");
const controls = [
  ["q", "sample rate q", G.q, 0], ["T", "steps T", G.T, Math.min(1, G.T.length - 1)],
  ["delta", "delta", G.delta, 0], ["mu", "WDP order mu", G.mu, Math.max(0, G.mu.indexOf(16))],
  ["beta", "WDP beta", [1, 32], 1], ["s", "gradient scale s", [0.01, 1, 100], 1]];
const idx = {{}};
const box = document.getElementById("{id}-controls");
for (const [key, label, values, start] of controls) {{
  idx[key] = start;
  const name = document.createElement("span"); name.textContent = label;
  const input = document.createElement("input");
  Object.assign(input, {{type: "range", min: 0, max: values.length - 1, step: 1, value: idx[key]}});
  const shown = document.createElement("span"); shown.textContent = values[idx[key]];
  input.addEventListener("input", () => {{ idx[key] = +input.value; shown.textContent = values[idx[key]]; draw(); }});
  box.append(name, input, shown);
}}
function draw() {{
  if (typeof Plotly === "undefined") return;
  const [qi, ti, di, mi] = [idx.q, idx.T, idx.delta, idx.mu];
  const beta = [1, 32][idx.beta], s = [0.01, 1, 100][idx.s], T = G.T[ti], d = G.delta[di];
  const traces = Object.keys(G.eps).map(name => ({{x: G.z, y: G.eps[name][qi][ti][di], name: name,
    mode: "lines+markers"}}));
  traces.push({{x: G.z, y: G.wdp_step[qi][mi].map(w => s * T * w - Math.log(d) / beta),
    name: G.wdp_name, mode: "lines+markers", line: {{dash: "dash"}}}});
  Plotly.react("{id}-plot", traces, {{
    xaxis: {{title: {{text: "noise multiplier z"}}, type: "log"}},
    yaxis: {{title: {{text: "epsilon (WDP: gradient units)"}}, type: "log"}},
    margin: {{l: 60, r: 10, t: 10, b: 45}}, legend: {{orientation: "h", y: -0.2}}, font: {{size: 13}}}},
    {{responsive: true, displaylogo: false}});
}}
if (typeof Plotly === "undefined") window.addEventListener("load", draw); else draw();
}})();
</script>
</div>"""


def epsilon_sigma_html(
    grid: dict[str, Any], element_id: str, plotly_src: str = "../../plotly/plotly.min.js"
) -> str:
    """The widget's HTML (a ``div.affect-interactive`` with the plot, six sliders and the data inline)."""
    if not element_id.replace("-", "").isalnum():
        raise ValueError(f"element_id must be letters, digits and '-', got {element_id!r}")
    data = json.dumps(grid, separators=(",", ":"), allow_nan=False)
    return _PAGE.format(id=element_id, data=data, plotly_src=html.escape(plotly_src, quote=True))
