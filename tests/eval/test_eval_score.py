"""Scoring any system's outputs: Beats Coverage / Hit and BAS against the upstream code, `score-music`, `score-dance`.

Golden figures: `python /tmp/golden_beats/run.py` (a script kept outside the project) imports
`write_music_pairs` and `write_dances` from this file, writes the files, and runs the upstream functions on
them: `beat_detect` + `beat_scores` of Cralence/My_Eval @ ce5b01d57d56ecd12c79947fbe40d1266b9f3803
`eval_motion2music.py` per pair, and the whole script as published for the totals
(`python eval_motion2music.py --ref_path data/ref --syn_path data/syn` -> "Total beats-cover and beats-hit:
0.85 0.55"); and `calc_motion_beat` + `detect_music_beat(..., 60)` + `beat_alignment` of
hanyangclarence/My_Project @ fb07319 `cal_beat_alignment.py` for BAS. Run with numpy 2.4.6, scipy 1.17.1,
librosa 0.11.0, soundfile 0.14.0 (this project's venv).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from unimumo.cli.eval import main
from unimumo.eval.beats_metrics import music_dance_bas, score_beats
from unimumo.motion.skeleton import smpl_forward_kinematics
from unimumo.motion.synthetic_dance import synthetic_smpl_dance

SAMPLING_RATE = 32000
MUSIC_PAIRS = (  # (reference onsets, generated onsets (s), reference seconds, generated seconds)
    ((0.25, 1.4, 3.6, 4.2, 5.05), (0.6, 2.3, 3.1, 5.5), 6.0, 6.0),
    ((0.5, 2.5), (0.5, 1.1, 1.9, 2.6, 2.9, 3.3), 4.0, 4.0),
    ((0.3, 2.7, 4.4, 6.8, 7.2), (0.9, 2.2, 6.1), 8.0, 8.0),
    ((0.4, 1.6), (0.4, 1.6), 3.0, 2.0),  # lengths differ: not scored, a 0 in the average (upstream)
)
# upstream per pair (coverage, hit); None: "shape does not equal", skipped but counted
GOLDEN_PAIRS = ((0.8, 0.6), (2.0, 1.0), (0.6, 0.6), None)
GOLDEN_TOTAL = (0.85, 0.55)
DANCE_BPMS = (96.0, 120.0, 110.0, 100.0)
GOLDEN_BAS = {  # My_Project's BAS of each music file against its dance
    "generated": (0.2916267503591521, 0.12353094579497997, 0.20083712494737194, 0.002421926637712189),
    "reference": (0.16565006549820896, 0.8484403005816146, 0.19972767463810634, 0.002421926637712189),
}


def burst_track(seed: int, seconds: float, onsets, sampling_rate: int = SAMPLING_RATE) -> np.ndarray:
    """A quiet 220 Hz tone with seeded noise, and a decaying noise burst at each onset time."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sampling_rate)
    wav = 0.02 * np.sin(2 * np.pi * 220.0 * np.arange(n) / sampling_rate) + rng.normal(0.0, 0.002, n)
    length = int(0.08 * sampling_rate)
    decay = np.exp(-np.arange(length) / (0.015 * sampling_rate))
    for at in onsets:
        start = int(at * sampling_rate)
        stop = min(n, start + length)
        wav[start:stop] += rng.normal(0.0, 0.5, stop - start) * decay[: stop - start]
    return (wav / np.abs(wav).max() * 0.9).astype(np.float32)


def write_music_pairs(directory: Path) -> tuple[Path, Path]:
    """directory/ref/clipI.wav and directory/syn/clipI.wav (16-bit PCM at 32 kHz) for every MUSIC_PAIRS entry."""
    reference, generated = Path(directory) / "ref", Path(directory) / "syn"
    reference.mkdir(parents=True, exist_ok=True)
    generated.mkdir(parents=True, exist_ok=True)
    for index, (ref_onsets, gen_onsets, ref_seconds, gen_seconds) in enumerate(MUSIC_PAIRS):
        sf.write(
            reference / f"clip{index}.wav", burst_track(index, ref_seconds, ref_onsets), SAMPLING_RATE, subtype="PCM_16"
        )
        sf.write(
            generated / f"clip{index}.wav",
            burst_track(100 + index, gen_seconds, gen_onsets),
            SAMPLING_RATE,
            subtype="PCM_16",
        )
    return reference, generated


def write_dances(directory: Path) -> Path:
    """directory/clipI.npy: float32 22-joint synthetic dances at 60 fps, as long as each generated clip."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for index, ((_, _, _, seconds), bpm) in enumerate(zip(MUSIC_PAIRS, DANCE_BPMS)):
        poses, trans = synthetic_smpl_dance(int(seconds * 60), 60.0, bpm, 40 + index)
        np.save(directory / f"clip{index}.npy", smpl_forward_kinematics(poses, trans)[:, :22].astype(np.float32))
    return directory


@pytest.fixture(scope="module")
def music_pairs(tmp_path_factory):
    return write_music_pairs(tmp_path_factory.mktemp("beats"))


def test_beats_coverage_and_hit_match_upstream(music_pairs):
    reference, generated = music_pairs
    pairs = list(zip(sorted(reference.iterdir()), sorted(generated.iterdir())))
    table, per_pair = score_beats(pairs)
    for scored, golden in zip(per_pair, GOLDEN_PAIRS):
        assert (None if scored.coverage is None else (scored.coverage, scored.hit)) == golden, scored
    assert (table["beats_coverage"], table["beats_hit"]) == pytest.approx(GOLDEN_TOTAL, abs=1e-12)
    assert table["beats_pairs"] == 4 and table["beats_length_mismatch"] == 1


def test_bas_matches_upstream(music_pairs, tmp_path):
    reference, generated = music_pairs
    dances = write_dances(tmp_path / "dance")
    for index in range(len(MUSIC_PAIRS)):
        joints = np.load(dances / f"clip{index}.npy")
        for column, directory in (("generated", generated), ("reference", reference)):
            bas = music_dance_bas(directory / f"clip{index}.wav", joints, 60.0)
            assert bas == pytest.approx(GOLDEN_BAS[column][index], rel=1e-9), (column, index)
    # the same dance at 30 fps is taken back to 60 fps before its beats are found
    joints = np.load(dances / "clip1.npy")
    assert music_dance_bas(generated / "clip1.wav", joints[::2], 30.0) == pytest.approx(
        GOLDEN_BAS["generated"][1], abs=0.1
    )


def test_score_music_command(music_pairs, tmp_path, capsys):
    reference, generated = music_pairs
    dances = write_dances(tmp_path / "dance")
    out = tmp_path / "scored"
    argv = ["score-music", "--generated", str(generated), "--reference", str(reference), "--out", str(out)]
    assert main(argv + ["--dance", str(dances)]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["task"] == "score-music"
    made = report["metrics"]["generated"]
    assert (made["beats_coverage"], made["beats_hit"]) == pytest.approx(GOLDEN_TOTAL, abs=1e-12)
    assert made["beats_length_mismatch"] == 1 and made["beats_pairs"] == 4
    assert made["BAS"] == pytest.approx(np.mean(GOLDEN_BAS["generated"]), rel=1e-9) and made["BAS_nan"] == 0
    assert report["metrics"]["reference"]["BAS"] == pytest.approx(np.mean(GOLDEN_BAS["reference"]), rel=1e-9)
    inputs = report["inputs"]
    assert [Path(entry["generated"]).name for entry in inputs] == [f"clip{i}.wav" for i in range(4)]
    assert [Path(entry["dance"]).name for entry in inputs] == [f"clip{i}.npy" for i in range(4)]
    assert inputs[1]["beats_coverage"] == 2.0 and inputs[3]["beats_coverage"] is None
    assert report["info"]["beats_metric"].startswith("Cralence/My_Eval@ce5b01d")
    assert "| beats_coverage | 0.8500 |" in (out / "metrics.md").read_text()
    assert "beats_coverage=0.8500" in capsys.readouterr().out

    # without --dance: no BAS; the config is printed on request
    plain = tmp_path / "plain"
    assert main(argv[:-1] + [str(plain)]) == 0
    assert "BAS" not in json.loads((plain / "metrics.json").read_text())["metrics"]["generated"]
    capsys.readouterr()
    assert main(argv + ["--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["config"] == "ScoreMusicConfig" and printed["generated"] == str(generated)


def test_score_music_refuses_bad_inputs(music_pairs, tmp_path, capsys):
    reference, generated = music_pairs
    fewer = tmp_path / "fewer"
    fewer.mkdir()
    (fewer / "clip0.wav").write_bytes((generated / "clip0.wav").read_bytes())
    base = ["score-music", "--reference", str(reference), "--out", str(tmp_path / "out")]
    assert main(base + ["--generated", str(fewer)]) == 2
    assert "4 reference music files" in capsys.readouterr().err

    silent = tmp_path / "silent"
    silent.mkdir()
    for index in range(4):
        sf.write(silent / f"clip{index}.wav", np.zeros(SAMPLING_RATE * 2, np.float32), SAMPLING_RATE)
    assert (
        main(["score-music", "--reference", str(silent), "--generated", str(silent), "--out", str(tmp_path / "out")])
        == 2
    )
    assert "clip0.wav: the reference has no onset" in capsys.readouterr().err

    broken = tmp_path / "broken"
    broken.mkdir()
    for index in range(4):
        (broken / f"clip{index}.wav").write_bytes(b"RIFF0000WAVE")
    assert main(base + ["--generated", str(broken)]) == 2
    assert "clip0.wav: cannot read audio" in capsys.readouterr().err
    assert main(base + ["--generated", str(generated), "--dance", str(tmp_path / "none")]) == 2
    assert "dance joints directory is missing" in capsys.readouterr().err

    twins = tmp_path / "twins"  # the quality metrics pair by name stem: one stem, two files, is ambiguous
    twins.mkdir()
    for path in reference.iterdir():
        (twins / path.name).write_bytes(path.read_bytes())
    (twins / "clip1.flac").write_bytes(sf_bytes(reference / "clip1.wav"))
    quality = ["--metrics", "fad", "--vggish", str(reference / "clip0.wav"), "--out", str(tmp_path / "twins_out")]
    assert main(["score-music", "--reference", str(twins), "--generated", str(generated), *quality]) == 2
    assert "shared by several reference files, e.g. clip1.flac, clip1.wav" in capsys.readouterr().err
    assert main(["score-music", "--reference", str(reference), "--generated", str(twins), *quality]) == 2
    assert "shared by several generated files, e.g. clip1.flac, clip1.wav" in capsys.readouterr().err
    assert not (tmp_path / "twins_out" / "metrics.json").exists()


def sf_bytes(path: Path) -> bytes:
    """The audio of `path` encoded as FLAC."""
    import io

    wav, rate = sf.read(path)
    buffer = io.BytesIO()
    sf.write(buffer, wav, rate, format="FLAC")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def aist_layout(synthetic_corpus, tmp_path_factory):
    from testkit.aist_layout import write_aist_layout

    return write_aist_layout(synthetic_corpus, tmp_path_factory.mktemp("aist") / "aist_plusplus_final")


def test_score_dance_scores_any_files_as_music2motion_does(aist_layout, tmp_path, capsys):
    import pickle

    import torch

    from unimumo.data.sources.aist import read_smpl
    from unimumo.eval.dance_benchmark import aist_ground_truth
    from unimumo.eval.dance_metrics import dance_metrics
    from unimumo.eval.protocols import get_protocol
    from unimumo.motion.resample import resample_motion

    root, music, names = aist_layout
    truth, _ = aist_ground_truth(root, "test", get_protocol("unimumo"), 60.0)
    # the ground truth itself, as another system would hand it over: 30 fps .npy, EDGE's .pkl, a .pt tensor
    generated = tmp_path / "system"
    generated.mkdir()
    np.save(generated / "a.npy", resample_motion(truth[0], 60.0, 30.0))
    poses, trans, scaling = read_smpl(root / "motions" / f"{names[1]}.pkl")
    full_pose = smpl_forward_kinematics(poses, trans, scaling)
    with open(generated / "b.pkl", "wb") as handle:  # EDGE's output: SMPL parameters and 24 joints
        pickle.dump(
            {"smpl_poses": poses, "smpl_trans": trans, "full_pose": resample_motion(full_pose, 60.0, 30.0)}, handle
        )
    torch.save(torch.from_numpy(resample_motion(truth[2], 60.0, 30.0)), generated / "c.pt")
    np.save(generated / "d.npy", resample_motion(truth[3], 60.0, 30.0).reshape(-1, 66))  # flat [N, J*3]
    out = tmp_path / "scored"
    argv = ["score-dance", "--generated", str(generated), "--fps", "30", "--aist", str(root), "--out", str(out)]
    assert main(argv) == 0
    report = json.loads((out / "metrics.json").read_text())
    made, real = report["metrics"]["generated"], report["metrics"]["ground_truth"]
    assert report["info"]["ground_truth_sequences"] == 4 and report["info"]["protocol"] == "unimumo"
    assert [Path(entry["file"]).name for entry in report["inputs"]] == ["a.npy", "b.pkl", "c.pt", "d.npy"]
    assert "BAS" not in made
    # the same joints through dance_metrics, as music2motion --aist scores generated motion
    read_back = [resample_motion(resample_motion(j, 60.0, 30.0), 30.0, 60.0).astype(np.float32) for j in truth]
    direct = dance_metrics(read_back, truth, [None] * 4, 60.0, [None] * 4, protocol="unimumo")
    for name in ("FID_k", "FID_m", "Div_k", "Div_m", "PFC"):
        assert made[name] == pytest.approx(direct["generated"][name], rel=1e-4, abs=1e-4), name
        assert real[name] == pytest.approx(direct["ground_truth"][name], rel=1e-6), name
    assert made["FID_k"] < 0.5 * real["Div_k"]  # the real motion, resampled twice, sits on the ground truth

    # with the music each dance was made for: BAS per file
    paired_music = tmp_path / "music"
    paired_music.mkdir()
    for index, name in enumerate(names):
        (paired_music / f"{'abcd'[index]}.wav").write_bytes((music / f"{name.split('_')[4]}.wav").read_bytes())
    assert main(argv[:-1] + [str(tmp_path / "with_music"), "--music", str(paired_music)]) == 0
    with_music = json.loads((tmp_path / "with_music" / "metrics.json").read_text())
    assert 0.0 < with_music["metrics"]["generated"]["BAS"] <= 1.0
    assert with_music["info"]["music_beats"].startswith("Bailando onset beats")
    capsys.readouterr()
    assert main(argv + ["--print-config"]) == 0
    assert json.loads(capsys.readouterr().out)["fps"] == 30.0


def test_score_dance_never_executes_a_pickle(aist_layout, tmp_path, capsys):
    import os

    root, _, _ = aist_layout
    marker = tmp_path / "executed"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    generated = tmp_path / "evil"
    generated.mkdir()
    import pickle

    (generated / "a.pkl").write_bytes(pickle.dumps({"full_pose": Exploit()}))
    np.save(generated / "b.npy", np.zeros((10, 22, 3)))
    argv = ["score-dance", "--generated", str(generated), "--aist", str(root), "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "a.pkl: cannot read joints" in err and "refusing global" in err and not marker.exists()
    (generated / "a.pkl").write_bytes(pickle.dumps({"smpl_poses": np.zeros((10, 72))}))
    assert main(argv) == 2
    assert "a.pkl: a dict without joints" in capsys.readouterr().err
    np.save(generated / "a.npy", np.zeros((10, 20, 3)))
    (generated / "a.pkl").unlink()
    assert main(argv) == 2
    assert "a.npy: 20 joints, the protocol needs 22" in capsys.readouterr().err
    from unimumo.eval.config import EvalConfigError, ScoreDanceConfig, validate

    with pytest.raises(EvalConfigError, match="fps must be > 0.*protocol must be one of"):
        validate(ScoreDanceConfig(generated=str(generated), out="o", aist=str(root), fps=0, protocol="mine"))


def test_z_up_joints_are_turned_y_up(tmp_path):
    import pickle

    from unimumo.eval.system_outputs import read_joints

    poses, trans = synthetic_smpl_dance(90, 60.0, 120.0, 3)
    y_up = smpl_forward_kinematics(poses, trans)
    z_up = np.stack([y_up[..., 0], -y_up[..., 2], y_up[..., 1]], axis=-1)  # EDGE's z-up frame
    with open(tmp_path / "edge.pkl", "wb") as handle:
        pickle.dump({"smpl_poses": poses, "smpl_trans": trans, "full_pose": z_up}, handle)
    np.testing.assert_allclose(read_joints(tmp_path / "edge.pkl", 24, 60.0, 60.0, up_axis="z"), y_up, atol=1e-5)
    turned = read_joints(tmp_path / "edge.pkl", 22, 60.0, 30.0, up_axis="z")
    assert turned.shape == (45, 22, 3) and turned.dtype == np.float32
    assert (
        main(
            [
                "score-dance",
                "--generated",
                str(tmp_path),
                "--aist",
                str(tmp_path),
                "--up-axis",
                "z",
                "--out",
                str(tmp_path / "o"),
                "--print-config",
            ]
        )
        == 0
    )
