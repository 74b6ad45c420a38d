"""Atomic writes: complete files appear at once with normal permissions; a failed write leaves the old file."""

import os

import pytest

from unimumo.utils.io import atomic_directory, atomic_open, atomic_write_json


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


def test_atomic_directory_replaces_whole_directory_or_nothing(tmp_path):
    target = tmp_path / "export"
    with atomic_directory(target) as staging:
        (staging / "config.json").write_text("old")
        (staging / "stale.bin").write_text("x")
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as staging:
            (staging / "config.json").write_text("half")
            raise RuntimeError("killed mid-export")
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "stale.bin"]
    assert (target / "config.json").read_text() == "old"
    with atomic_directory(target) as staging:
        (staging / "config.json").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["config.json"]  # no file of the old export survives
    assert (target / "config.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]  # no staging or retired directory left


def test_atomic_directory_gets_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_directory(tmp_path / "export") as staging:
            (staging / "a.txt").write_text("a")
    finally:
        os.umask(old)
    assert (tmp_path / "export").stat().st_mode & 0o777 == 0o755
