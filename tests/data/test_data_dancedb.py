"""DanceDB in the AMASS format: SMPL-H `.npz` takes (z up, 120 fps) read to the same 22 joints as AIST++, bad takes
named, and a build with --dancedb pairs them as source dancedb."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from unimumo.cli.shards import main
from unimumo.data.sources import dancedb
from unimumo.data.synthetic_corpus import TINY_SHARDS_ARGS, build_argv
from unimumo.motion.humanml3d_features import MotionFormatError
from unimumo.motion.skeleton import smpl_to_joints22
from unimumo.motion.synthetic_dance import synthetic_smpl_dance
from unimumo.shards.format import decode_sample
from unimumo.shards.tar_reader import read_shard

RATE = 120.0


def amass_take(seconds: float = 6.0, bpm: float = 110.0, seed: int = 0) -> tuple[dict, np.ndarray]:
    """An AMASS-format take (SMPL-H poses with random fingers, z-up world) of a synthetic dance at RATE, and the
    y-up 22 joints of the same dance at RATE."""
    poses, trans = synthetic_smpl_dance(int(seconds * RATE), RATE, bpm, seed)
    expected = smpl_to_joints22(poses, trans)
    y_up_to_z_up = dancedb.Z_UP_TO_Y_UP.T  # the inverse rotation
    root = Rotation.from_matrix(y_up_to_z_up @ Rotation.from_rotvec(poses[:, :3]).as_matrix()).as_rotvec()
    fingers = np.random.default_rng(seed).normal(0.0, 0.3, (len(poses), 90))
    smplh = np.concatenate([root, poses[:, 3:66], fingers], axis=1)
    take = {
        "poses": smplh,
        "trans": trans @ y_up_to_z_up.T,
        "mocap_framerate": np.array(RATE),
        "betas": np.zeros(16),
        "gender": np.array("female"),
    }
    return take, expected


def test_an_amass_take_reads_to_the_aist_joints_at_60_fps(tmp_path):
    take, expected = amass_take()
    path = tmp_path / "Session_1" / "Andria_Happy_v1_C3D_poses.npz"
    path.parent.mkdir()
    np.savez(path, **take)
    clip = dancedb.read_clip(path)
    assert (clip.id, clip.source, clip.fps, clip.feeling) == ("Andria_Happy_v1_C3D_poses", "dancedb", 60.0, "happy")
    assert clip.joints.shape == (len(expected[::2]), 22, 3) and clip.features.shape == (len(clip.joints) - 1, 263)
    np.testing.assert_allclose(clip.joints, expected[::2], atol=1e-4)  # 120 -> 60 fps, z up -> y up
    assert clip.joints[:, 15, 1].mean() > clip.joints[:, 10, 1].mean() + 1.0  # standing: the head 1 m above a foot


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda t: t.pop("mocap_framerate"), r"missing keys \['mocap_framerate'\]"),
        (lambda t: t.update(poses=t["poses"][:, :72]), r"poses \[720, 72\] / trans \[720, 3\], expected \[N,156\]"),
        (lambda t: t["trans"].__setitem__((5, 1), np.nan), "NaN/inf in poses or trans"),
        (lambda t: t.update(mocap_framerate=np.array(0.0)), "mocap_framerate 0.0 is not a positive number"),
        (lambda t: t.update(poses=np.array([{"a": 1}], dtype=object)), "cannot read AMASS .npz"),  # never unpickled
    ],
)
def test_a_bad_take_is_a_format_error_naming_the_file(tmp_path, change, message):
    take, _ = amass_take()
    change(take)
    path = tmp_path / "bad_take.npz"
    np.savez(path, **take)
    with pytest.raises(MotionFormatError, match=f"bad_take.npz: .*{message}"):
        dancedb.read_clip(path)


def test_a_pickle_or_an_npy_under_an_npz_name_is_refused(tmp_path):
    (tmp_path / "pickled.npz").write_bytes(pickle.dumps({"poses": np.zeros((4, 156))}))
    with pytest.raises(MotionFormatError, match="pickled.npz: cannot read AMASS .npz"):
        dancedb.read_clip(tmp_path / "pickled.npz")
    with open(tmp_path / "single.npz", "wb") as handle:
        np.save(handle, np.zeros((4, 156)))
    with pytest.raises(MotionFormatError, match="single.npz: cannot read AMASS .npz .*not an .npz archive"):
        dancedb.read_clip(tmp_path / "single.npz")


def write_dancedb(root, takes: dict[str, str]) -> None:
    """Takes {id: split} (AMASS nests them by session), split files, one ignore-listed and one broken train take."""
    for index, take in enumerate(takes):
        data, _ = amass_take(seconds=4.0 + index, seed=index)
        folder = root / f"2012_session_{index % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        if take.startswith("Broken"):
            data["poses"] = data["poses"][:, :100]
        np.savez(folder / f"{take}.npz", **data)
    for split in ("train", "val", "test"):
        (root / f"dancedb_{split}.txt").write_text("".join(f"{t}\n" for t, s in takes.items() if s == split))
    (root / "ignore_list.txt").write_text("Elena_Miserable_v1_C3D_poses\n")


def test_a_build_with_dancedb_pairs_its_takes_and_records_the_bad_ones(synthetic_corpus, tmp_path):
    root = tmp_path / "DanceDB"
    write_dancedb(
        root,
        {
            "Andria_Happy_v1_C3D_poses": "train",
            "Stefanos_Angry_v2_C3D_poses": "train",
            "Elena_Miserable_v1_C3D_poses": "train",
            "Broken_Sad_v1_C3D_poses": "train",
            "Vasso_Relaxed_v1_C3D_poses": "val",
        },
    )
    out = tmp_path / "with_dancedb"
    assert (
        main(
            build_argv(
                synthetic_corpus,
                out,
                "train",
                *TINY_SHARDS_ARGS,
                "--dancedb",
                str(root),
                "--source-weight",
                "dancedb=1000",
            )
        )
        == 0
    )
    samples = [decode_sample(raw) for url in sorted(out.glob("train-*.tar")) for raw in read_shard(str(url))]
    dance = [s for s in samples if s["json"]["source"] == "dancedb"]
    assert {s["json"]["motion_id"] for s in dance} == {"Andria_Happy_v1_C3D_poses", "Stefanos_Angry_v2_C3D_poses"}
    for sample in dance:
        feeling = sample["json"]["motion_id"].split("_")[1].lower()
        assert sample["motion.txt"] in (f"This is a {feeling} dance.", f"The dance is {feeling}.")
        assert sample["json"]["motion_source_fps"] == 60.0
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    broken = [f for f in failures if "Broken_Sad" in f["file"]]
    assert len(broken) == 1 and broken[0]["stage"] == "motion" and "expected [N,156]" in broken[0]["reason"]
    skipped = [json.loads(line) for line in (out / "skipped.jsonl").read_text().splitlines()]
    assert {"id": "Elena_Miserable_v1_C3D_poses", "reason": "ignored"}.items() <= next(
        s for s in skipped if s["id"].startswith("Elena")
    ).items()
    summary = json.loads((out / "manifest.json").read_text())["splits"]["train"]
    assert summary["pairing"]["sources"]["dancedb"] == len(dance) and summary["build_args"]["dancedb"] == str(root)
