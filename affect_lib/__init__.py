"""affect_lib: the library behind the reproducible book.

Sub-packages, one concept per module (imported on demand, so that ``import affect_lib`` stays light):

- :mod:`affect_lib.runtime`   profiles, seeds, devices and data directories shared by every chapter
- :mod:`affect_lib.chapters`  executing chapters with papermill, storing outputs, run records
- :mod:`affect_lib.progress`  progress bars that work in terminals, notebooks and executed books
"""

__version__ = "0.1.0"

from affect_lib.runtime import RunConfig, cache_dir, resolve_data_dir, resolve_device, seed_everything, setup

__all__ = [
    "RunConfig",
    "cache_dir",
    "resolve_data_dir",
    "resolve_device",
    "seed_everything",
    "setup",
    "__version__",
]
