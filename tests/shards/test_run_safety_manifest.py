"""A hand-edited manifest cannot run commands or read outside its shard directory (issue 25, finding 1).

Shard names are plain file names inside the shard directory; a `pipe:` name, a URL, an absolute or
relative path is refused with a ManifestError naming manifest.json and the name, by every reader
(training loader, verify, inspect, evaluation); a shard is opened as a file, never through a command.
"""

import json
import shutil

import pytest

from unimumo.cli.shards import main as shards_main
from unimumo.loader.dataloader import build_loader
from unimumo.loader.windows import Window
from unimumo.shards.manifest import Manifest, ManifestError
from unimumo.shards.tar_reader import read_shard


def _hostile_copy(tiny_shards, tmp_path, name_of):
    """A copy of the shards whose first train shard is renamed in the manifest to `name_of(original, dir)`."""
    out = shutil.copytree(tiny_shards, tmp_path / "shards")
    manifest = json.loads((out / "manifest.json").read_text())
    entry = next(e for e in manifest["shards"] if e["split"] == "train")
    entry["name"] = name_of(entry["name"], out)
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out, entry["name"]


@pytest.mark.parametrize(
    "name_of",
    [
        lambda name, out: f"pipe:touch {out.parent / 'PWNED'}; cat {out / name}",
        lambda name, out: str(out / name),  # absolute
        lambda name, out: f"../shards/{name}",
        lambda name, out: "..",
        lambda name, out: f"http://example.invalid/{name}",
        lambda name, out: f"sub\\{name}",
    ],
    ids=["pipe", "absolute", "relative", "dotdot", "url", "backslash"],
)
def test_a_shard_name_that_is_not_a_plain_file_name_is_refused_everywhere(tiny_shards, tmp_path, capsys, name_of):
    out, name = _hostile_copy(tiny_shards, tmp_path, name_of)
    with pytest.raises(ManifestError) as raised:
        Manifest.load(out)
    assert str(out / "manifest.json") in str(raised.value) and repr(name) in str(raised.value)
    with pytest.raises(ManifestError, match="not a plain file name"):
        build_loader(out, "train", batch_size=2, window=Window(24, 8))
    assert shards_main(["verify", str(out), "--skip-tokenizers", "--no-progress"]) != 0
    assert "not a plain file name" in capsys.readouterr().out
    assert shards_main(["inspect", str(out)]) != 0
    assert "not a plain file name" in capsys.readouterr().err
    assert not (tmp_path / "PWNED").exists()


def test_read_shard_opens_a_file_and_never_runs_a_pipe(tmp_path):
    marker = tmp_path / "PWNED"
    with pytest.raises(FileNotFoundError):
        list(read_shard(f"pipe:touch {marker}"))
    assert not marker.exists()


def test_a_build_record_naming_a_file_outside_the_shard_directory_is_refused(tmp_path):
    """The builder's resume records and the manifest it writes hold plain file names only."""
    from unimumo.shards.manifest import update_split
    from unimumo.shards.writer import read_records, records_dir

    records = records_dir(tmp_path, "train")
    records.mkdir(parents=True)
    (records / "000000.json").write_text(json.dumps({"name": "/etc/passwd", "split": "train", "index": 0, "count": 1}))
    with pytest.raises(ManifestError, match="000000.json"):
        read_records(tmp_path, "train")
    with pytest.raises(ManifestError, match="manifest.json"):
        update_split(
            tmp_path,
            "train",
            tokenizers={},
            shards=[{"name": "../x.tar", "count": 1}],
            summary={},
            failures=[],
            skipped=[],
        )
    assert not (tmp_path / "manifest.json").exists()
