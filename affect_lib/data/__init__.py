"""Datasets and their on-disk formats: one module per corpus format (import the module you need).

- :mod:`affect_lib.data.mult`            the MulT pickles of CMU-MOSI, CMU-MOSEI and IEMOCAP (safe loading, validation,
  torch ``Dataset``/``DataLoader``)
- :mod:`affect_lib.data.synthetic_mult`  synthetic stand-ins written in the MulT format
- :mod:`affect_lib.data.ravdess`         RAVDESS file names, actor splits and the clip ``Dataset``
- :mod:`affect_lib.data.av_preprocess`   decoding, face crops and MFCCs of audio-video clips, cached on disk
- :mod:`affect_lib.data.synthetic_ravdess`  a synthetic corpus written as RAVDESS ``.mp4``/``.wav`` files
"""
