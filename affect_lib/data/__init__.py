"""Datasets and their on-disk formats: one module per corpus format (import the module you need).

- :mod:`affect_lib.data.mult`            the MulT pickles of CMU-MOSI, CMU-MOSEI and IEMOCAP (safe loading, validation,
  torch ``Dataset``/``DataLoader``)
- :mod:`affect_lib.data.synthetic_mult`  synthetic stand-ins written in the MulT format
"""
