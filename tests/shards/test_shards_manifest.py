"""manifest.json: the typed Manifest, its format version (v1 migrated, unknown formats refused) and split listing."""

import json

import pytest

from unimumo.eval.assets import tokenizer_path
from unimumo.shards.manifest import FORMAT, Manifest, ManifestError, ManifestMismatchError, ShardEntry, update_split

V1 = {
    "format": "unimumo-shards/1",
    "tokenizers": {
        "music_codec": {"path": "/m/encodec", "fingerprint": "a" * 64},
        "motion_codec": {"path": "/m/motion_vqvae", "fingerprint": "b" * 64},
    },
    "shards": [
        {"name": "train-000000.tar", "split": "train", "count": 3, "bytes": 10, "sha256": "c" * 64},
        {"name": "val-000000.tar", "split": "val", "count": 2, "bytes": 10, "sha256": "d" * 64},
    ],
    "splits": {"train": {"samples": 3}, "val": {"samples": 2}},
}


def write(directory, manifest):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def test_a_format_1_manifest_loads_with_the_motion_tokenizer_renamed(tmp_path):
    shards = write(tmp_path / "s", V1)
    (tmp_path / "motion_vqvae").mkdir()
    manifest = Manifest.load(shards)
    assert set(manifest.tokenizers) == {"music_codec", "motion_tokenizer"}
    assert manifest.shards[0] == ShardEntry("train-000000.tar", "train", 3, 10, "c" * 64)
    assert manifest.split_paths("val") == [str(shards / "val-000000.tar")]
    assert Manifest.load(shards / "manifest.json").path == shards / "manifest.json"
    with pytest.raises(ManifestError, match=r"no shards for split 'test' \(splits present: \['train', 'val'\]\)"):
        manifest.split_paths("test")
    recorded = dict(V1, tokenizers={"motion_codec": {"path": str(tmp_path / "motion_vqvae"), "fingerprint": "b"}})
    assert tokenizer_path(write(tmp_path / "e", recorded), "motion_tokenizer", None) == tmp_path / "motion_vqvae"


def test_updating_a_format_1_directory_writes_format_2(tmp_path):
    shards = write(tmp_path / "s", V1)
    tokenizers = {"music_codec": V1["tokenizers"]["music_codec"], "motion_tokenizer": V1["tokenizers"]["motion_codec"]}
    update_split(
        shards,
        "test",
        tokenizers=tokenizers,
        summary={"samples": 1},
        failures=[],
        skipped=[],
        shards=[{"name": "test-000000.tar", "count": 1, "bytes": 5, "sha256": "e" * 64}],
    )
    written = json.loads((shards / "manifest.json").read_text())
    assert written["format"] == FORMAT == "unimumo-shards/2"
    assert set(written["tokenizers"]) == {"music_codec", "motion_tokenizer"}
    assert written["shards"][:2] == V1["shards"]
    assert written["shards"][2] == {
        "name": "test-000000.tar",
        "split": "test",
        "count": 1,
        "bytes": 5,
        "sha256": "e" * 64,
    }
    assert written["splits"] == {**V1["splits"], "test": {"samples": 1}}
    other = dict(tokenizers, motion_tokenizer={"path": "/m/other", "fingerprint": "f" * 64})
    with pytest.raises(ManifestMismatchError, match="built with motion_tokenizer /m/motion_vqvae"):
        update_split(shards, "test", tokenizers=other, summary={}, failures=[], skipped=[], shards=[])


@pytest.mark.parametrize(
    "found, message",
    [
        ("unimumo-shards/3", "'unimumo-shards/3' was built by a newer unimumo .*; upgrade unimumo"),
        ("unimumo-shards/0", "'unimumo-shards/0' was built by an older unimumo .*; rebuild the shards"),
        ("webdataset/1", "unknown manifest format 'webdataset/1', expected 'unimumo-shards/2'"),
        (None, "unknown manifest format None"),
    ],
)
def test_other_formats_are_refused_with_a_clear_message(tmp_path, found, message):
    shards = write(tmp_path / "s", dict(V1, format=found))
    with pytest.raises(ManifestError, match=f"{shards / 'manifest.json'}: .*{message}"):
        Manifest.load(shards)


def test_malformed_manifests_name_the_file(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere/manifest.json: shard manifest not found"):
        Manifest.load(missing)
    assert Manifest.load(missing, missing_ok=True).shards == []
    bad_entry = write(tmp_path / "e", dict(V1, format=FORMAT, shards=[{"name": "a.tar", "split": "train"}]))
    with pytest.raises(ManifestError, match="manifest.json: malformed shard entry"):
        Manifest.load(bad_entry)
    bad_shards = write(tmp_path / "b", dict(V1, format=FORMAT, shards={"a.tar": 1}))
    with pytest.raises(ManifestError, match="manifest.json: expected tokenizers"):
        Manifest.load(bad_shards)
    (tmp_path / "j" / "manifest.json").parent.mkdir()
    (tmp_path / "j" / "manifest.json").write_text("[1, 2]")
    with pytest.raises(ManifestError, match="manifest.json: expected a JSON object, got list"):
        Manifest.load(tmp_path / "j")
