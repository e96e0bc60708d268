"""Play with the rig: an ipywidgets AU slider for live kernels, and a kernel-free HTML slider of precomputed frames.

The HTML version is what the book shows: every frame is rendered offline and embedded as a JPEG; a range input and a
menu swap the visible frame with an inline handler, so the page needs neither a kernel nor a script file. Its
container has the CSS class ``affect-interactive``, which the book's HTML checks look for.
"""

from __future__ import annotations

import base64
import html
import io
import uuid
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from affect_lib.faces import facs
from affect_lib.faces.rig import FaceRig

CSS_CLASS = "affect-interactive"


def _jpeg(image: torch.Tensor) -> bytes:
    """(3, H, W) in [0, 1] -> JPEG bytes (quality 90)."""
    array = (image.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _data_uri(image: torch.Tensor) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(_jpeg(image)).decode("ascii")


@torch.no_grad()
def expression_slider_html(
    rig: FaceRig,
    expressions: Sequence[str] = facs.EXPRESSIONS,
    levels: Sequence[float] = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0),
    classifier: torch.nn.Module | None = None,
) -> str:
    """A self-contained HTML figure: pick a prototype expression and slide its intensity; precomputed frames.

    With ``classifier``, each frame's caption names the classifier's top class and its probability.
    """
    if not expressions or not levels:
        raise ValueError("expressions and levels must not be empty")
    aus = torch.tensor(
        np.stack([facs.prototype(e, float(v)) for e in expressions for v in levels]), dtype=torch.float32
    )
    frames = rig(aus)
    captions = [f"{e}, intensity {v:g}" for e in expressions for v in levels]
    if classifier is not None:
        probs = classifier(frames).softmax(1)
        captions = [
            f"{c}: classifier says {facs.EXPRESSIONS[int(p.argmax())]} {float(p.max()):.2f}"
            for c, p in zip(captions, probs, strict=True)
        ]
    uid = "au" + uuid.uuid5(uuid.NAMESPACE_URL, "|".join(captions)).hex[:8]
    n = len(levels)
    imgs = "".join(
        f'<figure id="{uid}-{i}" style="display:{"block" if i == 0 else "none"};margin:0">'
        f'<img src="{_data_uri(f)}" alt="{html.escape(c)}" width="{rig.size * 2}" style="image-rendering:auto">'
        f'<figcaption style="font-size:14px">{html.escape(c)}</figcaption></figure>'
        for i, (f, c) in enumerate(zip(frames, captions, strict=True))
    )
    show = (
        f"var r=document.getElementById('{uid}-r'),s=document.getElementById('{uid}-s');"
        f"for(var i=0;i<{len(frames)};i++)document.getElementById('{uid}-'+i).style.display='none';"
        f"document.getElementById('{uid}-'+(s.selectedIndex*{n}+Number(r.value))).style.display='block';"
    )
    options = "".join(f"<option>{html.escape(e)}</option>" for e in expressions)
    return (
        f'<div class="{CSS_CLASS}" style="font-size:14px;max-width:100%">'
        f'<label>expression <select id="{uid}-s" onchange="{show}">{options}</select></label> '
        f'<label>intensity <input id="{uid}-r" type="range" min="0" max="{n - 1}" value="0" step="1" '
        f'oninput="{show}"></label>{imgs}</div>'
    )


def au_slider(rig: FaceRig, classifier: torch.nn.Module | None = None):  # noqa: ANN201 (an ipywidgets box)
    """An ipywidgets panel with one slider per AU (0-5) that re-renders the rig live (needs a running kernel)."""
    import ipywidgets as widgets

    sliders = [
        widgets.FloatSlider(0.0, min=0.0, max=facs.AU_MAX, step=0.25, description=label)
        for label in facs.AU_LABELS
    ]
    out = widgets.Output()

    def redraw(_change: object = None) -> None:
        aus = torch.tensor([[s.value for s in sliders]], dtype=torch.float32)
        with torch.no_grad():
            frame = rig(aus)
        text = ""
        if classifier is not None:
            p = classifier(frame).softmax(1)[0]
            text = f"classifier: {facs.EXPRESSIONS[int(p.argmax())]} {float(p.max()):.2f}"
        with out:
            out.clear_output(wait=True)
            display_image = widgets.Image(value=_jpeg(frame[0]), format="jpeg")
            display_image.layout.width = f"{rig.size * 2}px"
            from IPython.display import display

            display(widgets.VBox([display_image, widgets.Label(text)]))

    for s in sliders:
        s.observe(redraw, names="value")
    redraw()
    return widgets.HBox([widgets.VBox(sliders), out])
