"""The kernel-free AU figure: one frame per (expression, level), a slider, the CSS class the HTML checks need."""

import re

from affect_lib.faces import widgets
from affect_lib.faces.rig import FaceRig


def test_expression_slider_html_embeds_every_frame():
    html = widgets.expression_slider_html(
        FaceRig.default(32), expressions=("happy", "sad"), levels=(0, 2.5, 5)
    )
    assert f'class="{widgets.CSS_CLASS}"' in html
    assert len(re.findall(r'<img src="data:image/jpeg;base64,', html)) == 6
    assert 'type="range" min="0" max="2"' in html
    assert html.count("<option>") == 2 and "sad, intensity 2.5" in html
    assert "<script" not in html  # inline handlers only: nothing to load, nothing to block
