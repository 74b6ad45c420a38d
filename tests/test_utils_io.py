"""Atomic writes: complete files appear at once with normal permissions; a failed write leaves the old file."""
import os

import pytest

from unimumo.utils.io import atomic_open, atomic_write_json


def test_failed_write_keeps_previous_content_and_leaves_no_temp(tmp_path):
    target = tmp_path / "manifest.json"
    atomic_write_json(target, {"version": 1})
    with pytest.raises(RuntimeError):
        with atomic_open(target, "w") as handle:
            handle.write('{"version": 2')
            raise RuntimeError("killed mid-write")
    assert target.read_text() == '{\n  "version": 1\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


def test_written_file_gets_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "a.json", [])
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
