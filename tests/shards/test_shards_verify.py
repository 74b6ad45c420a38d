"""`unimumo-shards verify` catches corruption and tokenizer mismatches; `inspect` prints a readable summary."""

import json
import shutil

import pytest

from unimumo.cli.shards import EXIT_FAILURES, main
from unimumo.models.text_tokenizer import train_text_tokenizer


@pytest.fixture
def shards_copy(tiny_shards, tmp_path):
    return shutil.copytree(tiny_shards, tmp_path / "copy")


def first_train_shard(shards):
    return shards / next(e["name"] for e in json.loads((shards / "manifest.json").read_text())["shards"])


def test_verify_passes_on_a_sound_directory(tiny_shards, capsys):
    assert main(["verify", str(tiny_shards)]) == 0
    assert capsys.readouterr().out.strip().endswith("OK")


def test_verify_reports_and_checks_the_failed_and_skipped_listings(shards_copy, capsys):
    assert main(["verify", str(shards_copy), "--skip-tokenizers"]) == 0
    out = capsys.readouterr().out
    failed = len((shards_copy / "failures.jsonl").read_text().splitlines())
    skipped = (shards_copy / "skipped.jsonl").read_text().splitlines()
    assert f"{failed} failed inputs (failures.jsonl), {len(skipped)} skipped inputs (skipped.jsonl)" in out
    (shards_copy / "skipped.jsonl").write_text("".join(line + "\n" for line in skipped[1:]))
    assert main(["verify", str(shards_copy), "--skip-tokenizers"]) == EXIT_FAILURES
    assert "skipped inputs listed, summary counts" in capsys.readouterr().out


def test_verify_detects_a_flipped_byte(shards_copy, capsys):
    shard = first_train_shard(shards_copy)
    data = bytearray(shard.read_bytes())
    data[len(data) // 3] ^= 0x01
    shard.write_bytes(bytes(data))
    assert main(["verify", str(shards_copy), "--skip-tokenizers"]) == EXIT_FAILURES
    out = capsys.readouterr().out
    assert f"FAIL {shard}: sha256 mismatch" in out


def test_verify_detects_a_truncated_or_missing_shard(shards_copy, capsys):
    shard = first_train_shard(shards_copy)
    shard.write_bytes(shard.read_bytes()[:5000])
    manifest = json.loads((shards_copy / "manifest.json").read_text())
    (shards_copy / manifest["shards"][-1]["name"]).unlink()
    assert main(["verify", str(shards_copy), "--skip-tokenizers"]) == EXIT_FAILURES
    out = capsys.readouterr().out
    assert "samples, manifest says" in out or "unreadable tar" in out
    assert "listed in manifest but missing" in out


def test_verify_detects_another_tokenizer(tiny_shards, tmp_path, capsys):
    other = train_text_tokenizer(
        ["a completely different caption corpus", "with other words"] * 20, tmp_path / "other.model", vocab_size=40
    )
    assert main(["verify", str(tiny_shards), "--text-tokenizer", str(other.path)]) == EXIT_FAILURES
    assert "text_tokenizer fingerprint" in capsys.readouterr().out


def test_inspect_prints_summary_and_samples(tiny_shards, capsys):
    assert main(["inspect", str(tiny_shards), "--split", "val", "--samples", "2"]) == 0
    out = capsys.readouterr().out
    assert "train:" in out and "val:" in out and "test:" in out
    assert out.count("\nsample ") == 2 and "music codes" in out and "beats" in out
    assert "failure [train]" in out
    assert "skipped [train]" in out and ": short_beats, " in out or "more in skipped.jsonl" in out


def test_inspect_and_verify_reject_a_directory_without_manifest(tmp_path, capsys):
    assert main(["inspect", str(tmp_path)]) != 0
    assert "no manifest.json" in capsys.readouterr().err
    assert main(["verify", str(tmp_path)]) == EXIT_FAILURES
    assert "no manifest.json" in capsys.readouterr().out


def test_verify_reports_an_unparsable_manifest(tmp_path, capsys):
    (tmp_path / "manifest.json").write_text("{not json")
    assert main(["verify", str(tmp_path)]) == EXIT_FAILURES
    assert f"FAIL {tmp_path / 'manifest.json'}: not valid JSON" in capsys.readouterr().out


def test_inspect_names_a_truncated_shard(shards_copy, capsys):
    shard = first_train_shard(shards_copy)
    shard.write_bytes(shard.read_bytes()[:5000])
    assert main(["inspect", str(shards_copy), "--split", "train", "--samples", "100"]) != 0
    assert str(shard) in capsys.readouterr().err


def test_the_old_motion_codec_option_is_a_deprecated_alias(tiny_shards, capsys):
    recorded = json.loads((tiny_shards / "manifest.json").read_text())["tokenizers"]["motion_tokenizer"]["path"]
    assert main(["verify", str(tiny_shards), "--motion-codec", recorded, "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "DeprecationWarning: --motion-codec is deprecated" in err and "use --motion-tokenizer" in err
    elsewhere = recorded + "-elsewhere"
    assert main(["verify", str(tiny_shards), "--motion-codec", elsewhere, "--no-progress"]) == EXIT_FAILURES
    assert "motion_vqvae-elsewhere: motion_tokenizer not found" in capsys.readouterr().out
    assert main(["verify", str(tiny_shards), "--motion-tokenizer", recorded, "--no-progress"]) == 0
    assert "deprecated" not in capsys.readouterr().err
