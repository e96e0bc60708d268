"""Run folders: the data digest that ties a run to its files."""

import pytest

from affect_lib.runs import folder


def test_data_digest_follows_the_files_names_and_contents(tmp_path):
    a, b = tmp_path / "a.pkl", tmp_path / "b.pkl"
    a.write_bytes(b"one")
    b.write_bytes(b"one")
    first = folder.data_digest([a])
    assert folder.data_digest([a]) == first and folder.data_digest([b]) != first  # same bytes, other name
    a.write_bytes(b"two")
    assert folder.data_digest([a]) != first
    with pytest.raises(FileNotFoundError, match="is a folder, not a file"):
        folder.data_digest([tmp_path])
