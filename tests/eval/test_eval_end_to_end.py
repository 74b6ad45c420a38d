"""End to end: every `unimumo-eval` command on a tiny random UniMuMo and the tiny shards."""

import json
import math
import tarfile

import pytest

from unimumo.cli.eval import main
from unimumo.eval.text_metrics import rouge_l


def common_args(command, model, shards, out):
    argv = [
        command,
        "--model",
        str(model),
        "--shards",
        str(shards),
        "--out",
        str(out),
        "--num-samples",
        "3",
        "--seconds",
        "2",
        "--batch-size",
        "2",
        "--device",
        "cpu",
    ]
    return argv if command == "caption" else argv + ["--render", "1", "--motion-fps", "20"]


def run_music2motion(model, shards, out):
    assert main(common_args("music2motion", model, shards, out)) == 0


def test_music2motion_end_to_end_writes_every_output(tiny_model, tiny_shards, tmp_path, capsys):
    out = tmp_path / "m2m"
    run_music2motion(tiny_model, tiny_shards, out)
    report = json.loads((out / "metrics.json").read_text())
    assert report["task"] == "music2motion" and report["info"]["num_samples"] == 3
    info = report["info"]
    assert info["benchmark"].startswith("the shards' test split: not a published benchmark")
    assert info["protocol"] == "unimumo" and info["protocol_upstream"] == "Cralence/My_Eval@ce5b01d"
    assert info["motion_text"] == "genre" and "reconstruction" in info["ground_truth_set"]
    assert info["ground_truth"] == "reconstruction" and "not comparable" in info["ground_truth_note"]
    assert info["ground_truth_sequences"] == 3 and info["ground_truth_frames"] == 3 * 40  # 2 s at 20 fps
    assert info["music_beats"].startswith("Bailando onset beats")
    assert info["motion_text_without_genre"] == 2  # two HumanML3D dances among the 3 samples
    printed = capsys.readouterr().out
    assert "protocol: unimumo, motion text: genre, ground truth: reconstruction" in printed
    assert printed.count("not comparable with published tables") == 2  # before generating and in the summary
    generated, truth = report["metrics"]["generated"], report["metrics"]["ground_truth"]
    for name in ("FID_k", "FID_m", "Div_k", "Div_m", "PFC"):
        assert math.isfinite(generated[name]), name
    assert generated["BAS_nan"] + generated["PFC_nan"] >= 0 and isinstance(generated["BAS_nan"], int)
    assert truth["FID_k"] == pytest.approx(0.0, abs=1e-4)
    assert "| FID_k |" in (out / "metrics.md").read_text() and "- protocol: unimumo" in (out / "metrics.md").read_text()
    renders = sorted((out / "renders").iterdir())
    assert len(renders) == 1
    assert (renders[0] / "music.wav").stat().st_size > 44
    for name in ("generated", "ground_truth"):
        files = sorted(p.name for p in (renders[0] / name).iterdir())
        assert files == ["dance.gif", "motion.bvh", "motion.npy", "speed_beats.png"]
    chunks = sorted((out / "cache" / "music2motion").glob("chunk_*.npz"))
    assert [c.name for c in chunks] == ["chunk_00000.npz", "chunk_00001.npz"]

    # resume: completed chunks are reused (not rewritten) and the metrics are identical
    stamps = {c: c.stat().st_mtime_ns for c in chunks}
    chunks[1].unlink()  # as if interrupted before the second batch finished
    run_music2motion(tiny_model, tiny_shards, out)
    assert chunks[0].stat().st_mtime_ns == stamps[chunks[0]]
    assert json.loads((out / "metrics.json").read_text())["metrics"] == report["metrics"]

    # a fresh directory with the same seed reproduces the run; other settings are refused on resume
    again = tmp_path / "again"
    run_music2motion(tiny_model, tiny_shards, again)
    assert json.loads((again / "metrics.json").read_text())["metrics"] == report["metrics"]
    capsys.readouterr()
    assert main(common_args("music2motion", tiny_model, tiny_shards, out) + ["--seed", "7"]) == 2
    assert "different settings (seed)" in capsys.readouterr().err


def aist_root_with_test_split(corpus, root):
    """The corpus's AIST++ motions with a test split of its three first good sequences (its own has one)."""
    items = json.loads((corpus / "corpus.json").read_text())["aist"]
    names = [item["id"] for item in items if item["kind"] == "good"][:3]
    (root / "splits").mkdir(parents=True)
    (root / "motions").symlink_to(corpus / "aist" / "motions")
    (root / "splits" / "crossmodal_test.txt").write_text("\n".join(names) + "\n")
    return root, [corpus / "aist" / "motions" / f"{name}.pkl" for name in names]


def test_music2motion_against_real_aist_motion(tiny_model, tiny_shards, synthetic_corpus, tmp_path, capsys):
    import numpy as np

    from unimumo.data.sources.aist import FPS, read_clip
    from unimumo.eval.dance_metrics import dance_metrics
    from unimumo.motion.resample import resample_motion

    root, paths = aist_root_with_test_split(synthetic_corpus, tmp_path / "aist")
    out = tmp_path / "m2m_aist"
    assert main(common_args("music2motion", tiny_model, tiny_shards, out) + ["--aist", str(root)]) == 0
    report = json.loads((out / "metrics.json").read_text())
    info, truth = report["info"], report["metrics"]["ground_truth"]
    assert info["ground_truth"] == "aist" and "ground_truth_note" not in info
    assert "ground truth: aist" in capsys.readouterr().out

    # the ground-truth column is the AIST++ reader's joints (at the benchmark's 20 fps), not the reconstruction
    joints = [resample_motion(read_clip(path).joints, FPS, 20.0) for path in paths]
    assert info["ground_truth_sequences"] == 3 and info["ground_truth_split"] == "test"
    assert info["ground_truth_frames"] == info["ground_truth_feature_frames"] == sum(len(j) for j in joints)
    direct = dance_metrics(joints, joints, [np.arange(0.5, 16.0, 0.5)] * 3, 20.0)["ground_truth"]
    for name in ("Div_k", "Div_m", "PFC"):
        assert truth[name] == pytest.approx(direct[name], rel=1e-6), name
    assert "BAS" not in truth  # AIST++ motion is read without its music
    assert math.isfinite(report["metrics"]["generated"]["FID_k"]) and report["metrics"]["generated"]["FID_k"] > 0
    assert "- ground_truth: aist" in (out / "metrics.md").read_text()


def test_dance_benchmark_refusals_come_before_generation(tiny_model, tiny_shards, synthetic_corpus, tmp_path, capsys):
    argv = common_args("music2motion", tiny_model, tiny_shards, tmp_path / "out")
    assert main(argv + ["--protocol", "bailando"]) == 2
    assert "decoded by the motion tokenizer to 22 joints" in capsys.readouterr().err
    assert main(argv + ["--ground-truth", "aist"]) == 2
    assert "--ground-truth aist needs --aist DIR" in capsys.readouterr().err
    assert main(argv + ["--aist", str(synthetic_corpus / "aist"), "--split", "val"]) == 2  # one val sequence
    assert "crossmodal_val.txt: 1 usable sequence(s)" in capsys.readouterr().err
    (tmp_path / "no_splits" / "motions").mkdir(parents=True)
    assert main(argv + ["--aist", str(tmp_path / "no_splits")]) == 2
    assert "crossmodal_test.txt: missing AIST++ list file" in capsys.readouterr().err
    assert not (tmp_path / "out" / "cache").exists()


def test_corrected_beats_of_beat_this_shards_use_their_weights(tiny_model, tiny_shards, tmp_path, capsys):
    """Shards recorded as built with beat_this (the manifest edited: only evaluation's plumbing is tested): the
    `corrected` protocol tracks music beats with the recorded weights, refuses to run without them, and takes
    --beat-checkpoint where they moved."""
    import shutil

    from testkit.beat_this_checkpoint import save_tiny_beat_this
    from unimumo.utils.fingerprint import fingerprint_file

    shards = shutil.copytree(tiny_shards, tmp_path / "shards")
    weights = save_tiny_beat_this(tmp_path / "tiny.ckpt")
    manifest = json.loads((shards / "manifest.json").read_text())
    for summary in manifest["splits"].values():
        summary["build_args"].update(beat_tracker="beat_this", beat_checkpoint=str(weights))
        summary["beat_checkpoint_sha256"] = fingerprint_file(weights)
    (shards / "manifest.json").write_text(json.dumps(manifest))
    moved = weights.rename(tmp_path / "moved.ckpt")
    argv = common_args("music2motion", tiny_model, shards, tmp_path / "out") + ["--protocol", "corrected"]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "tiny.ckpt are not here" in error and "give --beat-checkpoint FILE" in error
    assert not (tmp_path / "out" / "cache").exists()
    assert main(argv + ["--beat-checkpoint", str(moved)]) == 0
    info = json.loads((tmp_path / "out" / "metrics.json").read_text())["info"]
    assert info["music_beats"].startswith(f"the shard builder's beat tracker (beat_this, weights {moved.resolve()})")


def only_render_dir(out):
    (directory,) = (out / "renders").iterdir()
    return directory


def finite_or_none(table):
    return all(v is None or math.isfinite(v) for column in table.values() for v in column.values())


def test_text2music_end_to_end(tiny_model, tiny_shards, tmp_path, monkeypatch):
    from unimumo.eval import dance_benchmark

    calls = []
    onset_beat_frames = dance_benchmark.onset_beat_frames
    monkeypatch.setattr(dance_benchmark, "onset_beat_frames", lambda *a: calls.append(a) or onset_beat_frames(*a))
    out = tmp_path / "t2m"
    assert main(common_args("text2music", tiny_model, tiny_shards, out)) == 0
    assert len(calls) == 6  # Bailando's extractor on the 3 generated and the 3 ground-truth waveforms
    report = json.loads((out / "metrics.json").read_text())
    assert report["task"] == "text2music_motion" and finite_or_none(report["metrics"])
    info = report["info"]
    assert info["protocol"] == "unimumo" and info["music_beats"].startswith("Bailando onset beats")
    assert info["ground_truth_music_beats"].startswith("Bailando onset beats")
    assert math.isfinite(report["metrics"]["generated"]["FID_k"])
    for name in ("generated", "ground_truth"):
        files = sorted(p.name for p in (only_render_dir(out) / name).iterdir())
        assert files == ["dance.gif", "motion.bvh", "motion.npy", "music.wav", "speed_beats.png"]


def test_motion2music_end_to_end(tiny_model, tiny_shards, tmp_path):
    out = tmp_path / "d2m"
    assert main(common_args("motion2music", tiny_model, tiny_shards, out)) == 0
    report = json.loads((out / "metrics.json").read_text())
    metrics = report["metrics"]
    assert set(metrics["generated"]) == {"beat_coverage", "beat_hit", "BAS"} and finite_or_none(metrics)
    assert math.isfinite(metrics["generated"]["beat_coverage"]) and math.isfinite(metrics["ground_truth"]["beat_hit"])
    directory = only_render_dir(out)
    assert (directory / "generated_music.wav").is_file() and (directory / "ground_truth_music.wav").is_file()
    assert (directory / "dance" / "dance.gif").is_file() and (directory / "dance" / "motion.bvh").is_file()


def test_caption_end_to_end(tiny_model, tiny_shards, tmp_path):
    out = tmp_path / "cap"
    argv = common_args("caption", tiny_model, tiny_shards, out) + ["--max-length", "8", "--num-beams", "2"]
    assert main(argv) == 0
    report = json.loads((out / "metrics.json").read_text())
    metrics = report["metrics"]
    assert set(metrics) == {"music", "motion", "music_held_out", "motion_held_out"}
    assert all(v is None or 0.0 <= v <= 1.0 for column in metrics.values() for v in column.values())
    rows = [json.loads(line) for line in (out / "captions.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and {r["modality"] for r in rows} == {"music", "motion"}
    assert all(r["reference"] for r in rows)
    assert (out / "captions.md").read_text().count("\n| ") == 7  # header + 6 rows
    assert "training-set check" in (out / "metrics.md").read_text()

    # held out: the samples whose reference is none of the train split's captions (read here with tarfile)
    trained_on = set()
    for shard in sorted(tiny_shards.glob("train-*.tar")):
        with tarfile.open(shard) as tar:
            trained_on |= {
                tar.extractfile(m).read().decode().strip() for m in tar.getmembers() if m.name.endswith(".txt")
            }
    for modality in ("music", "motion"):
        pairs = [(r["generated"], r["reference"]) for r in rows if r["modality"] == modality]
        held_out = [(g, r) for g, r in pairs if r not in trained_on]
        assert report["info"]["held_out_samples"][f"{modality}_held_out"] == len(held_out)
        if held_out:
            generated, references = map(list, zip(*held_out))
            assert metrics[f"{modality}_held_out"]["ROUGE-L"] == pytest.approx(rouge_l(generated, references))
        else:
            assert set(metrics[f"{modality}_held_out"].values()) == {None}
    # the test split's motion templates partly repeat training sentences: both kinds are present
    assert 0 < report["info"]["held_out_samples"]["motion_held_out"] < 3


def test_missing_manifest_is_a_clear_error(tiny_model, tmp_path, capsys):
    assert main(common_args("music2motion", tiny_model, tmp_path / "nowhere", tmp_path / "out")) == 2
    assert "manifest.json: shard manifest not found" in capsys.readouterr().err


def test_help_explains_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for command in ("music2motion", "text2music", "motion2music", "caption"):
        assert command in text


def test_render_command_on_files(tmp_path, synthetic_corpus):
    import librosa
    import numpy as np

    from unimumo.eval.render import write_wav
    from unimumo.motion.skeleton import smpl_to_joints22
    from unimumo.motion.synthetic_dance import synthetic_smpl_dance

    np.save(tmp_path / "dance.npy", smpl_to_joints22(*synthetic_smpl_dance(60, 20.0, 120.0, seed=0)))
    write_wav(tmp_path / "music.wav", librosa.clicks(times=np.arange(0, 3, 0.5), sr=22050, length=3 * 22050), 22050)
    out = tmp_path / "rendered"
    assert (
        main(
            [
                "render",
                "--joints",
                str(tmp_path / "dance.npy"),
                "--fps",
                "20",
                "--wav",
                str(tmp_path / "music.wav"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "dance.gif",
        "metrics.json",
        "metrics.md",
        "motion.bvh",
        "motion.npy",
        "music.wav",
        "speed_beats.png",
    ]
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]["motion"]
    assert metrics["BAS"] > 0.5 and math.isfinite(metrics["PFC"])
    # motion codes decoded with the corpus's motion tokenizer
    np.save(tmp_path / "codes.npy", np.zeros((4, 50), dtype=np.int64))
    assert (
        main(
            [
                "render",
                "--motion-codes",
                str(tmp_path / "codes.npy"),
                "--motion-tokenizer",
                str(synthetic_corpus / "models" / "motion_vqvae"),
                "--out",
                str(tmp_path / "from_codes"),
            ]
        )
        == 0
    )
    assert np.load(tmp_path / "from_codes" / "motion.npy").shape == (20, 22, 3)
    assert main(["render", "--joints", str(tmp_path / "missing.npy"), "--out", str(out)]) == 2
