"""The published dance-metric protocols against figures produced by the upstream evaluation code.

Golden figures: `python /tmp/golden/run_upstream.py` (a script kept outside the project) imports
`dance_set` and `beat_frames` from this file, writes the sets as the upstream code's input files and runs
Cralence/My_Eval @ ce5b01d (motion_eval/metrics_new.py: calc_and_save_feats + quantized_metrics;
beat_align_score.py: calc_db + get_mb + BA, with calc_db's reshape(-1, 24, 3) set to 22 joints;
eval_pfc.py: calc_physical_score(dir, 60) on one file per directory), lisiyao21/Bailando @ cc90b98
(utils/metrics_new.py: calc_and_save_feats on the generated set, the ground-truth features as
extract_aist_features.py computes them, quantized_metrics; utils/beat_align_score.py), and
Stanford-TML/EDGE @ 17c3428 (eval/eval_pfc.py: calc_physical_score on the 30 fps joints with y and z
swapped, EDGE being z-up). Run with numpy 2.4.6, scipy 1.17.1, librosa 0.11.0 (this project's venv).
"""

import numpy as np
import pytest

from unimumo.eval.dance_metrics import dance_metrics
from unimumo.motion.skeleton import smpl_forward_kinematics
from unimumo.motion.synthetic_dance import synthetic_smpl_dance

FPS = 60.0


def dance_set(seed: int, lengths, num_joints: int) -> tuple[list[np.ndarray], list[float]]:
    """Float32 joint sequences [N,num_joints,3] at 60 fps: synthetic dances with a seeded pose and root
    random walk on top (so that no two are alike), and their tempi (bpm)."""
    rng = np.random.default_rng(seed)
    motions, tempi = [], []
    for index, length in enumerate(lengths):
        bpm = float(rng.uniform(90.0, 140.0))
        poses, trans = synthetic_smpl_dance(length, FPS, bpm, seed * 100 + index)
        poses = poses + np.cumsum(rng.normal(0.0, 0.01, poses.shape), axis=0)
        trans = trans + np.cumsum(rng.normal(0.0, 0.002, trans.shape), axis=0)
        motions.append(smpl_forward_kinematics(poses, trans)[:, :num_joints].astype(np.float32))
        tempi.append(bpm)
    return motions, tempi


def beat_frames(seed: int, tempi, lengths) -> list[np.ndarray]:
    """Music beat frames (60 fps) of each sequence: its tempo's grid with a seeded jitter of +-2 frames."""
    rng = np.random.default_rng(seed)
    beats = []
    for bpm, length in zip(tempi, lengths):
        grid = np.arange(0.0, length / FPS, 60.0 / bpm) * FPS
        frames = np.round(grid + rng.integers(-2, 3, len(grid))).astype(np.int64)
        beats.append(np.unique(frames[(frames >= 0) & (frames < length)]))
    return beats


GENERATED_LENGTHS = (240, 300, 1250, 180, 360, 270)
TRUTH_LENGTHS = (300, 1300, 240, 420, 200, 330, 260, 390)


def drum_loop(sampling_rate: int = 30720, bpm: float = 100.0, seconds: float = 8.0) -> np.ndarray:
    """A kick on every beat and a closed hi-hat on every eighth note (decaying noise bursts, seeded)."""
    rng = np.random.default_rng(0)
    wav = np.zeros(int(seconds * sampling_rate), dtype=np.float32)
    time = np.arange(int(0.15 * sampling_rate)) / sampling_rate
    kick = np.sin(2 * np.pi * 60.0 * time) * np.exp(-time * 25.0)
    hat = rng.normal(0.0, 0.3, len(time)) * np.exp(-time * 80.0)
    for eighth in range(int(seconds * bpm / 60.0 * 2)):
        start = int(eighth * 30.0 / bpm * sampling_rate)
        sound = kick + hat if eighth % 2 == 0 else hat
        end = min(len(wav), start + len(sound))
        wav[start:end] += sound[: end - start].astype(np.float32)
    return wav


def golden_sets(num_joints: int):
    generated, generated_tempi = dance_set(1, GENERATED_LENGTHS, num_joints)
    truth, truth_tempi = dance_set(2, TRUTH_LENGTHS, num_joints)
    generated_beats = [frames / FPS for frames in beat_frames(3, generated_tempi, GENERATED_LENGTHS)]
    truth_beats = [frames / FPS for frames in beat_frames(4, truth_tempi, TRUTH_LENGTHS)]
    return generated, truth, generated_beats, truth_beats


# quantized_metrics' fid_k, fid_m, div_k, div_m, div_k_gt, div_m_gt (real parts; fid_m is blown up by the
# std + 1e-10 normalisation of manual features that are constant over the ground truth), calc_ba_score of
# each set, the mean of calc_physical_score over the sequences.
UPSTREAM = {
    "unimumo": {
        "generated": {
            "FID_k": 282.67455128940173,
            "FID_m": 8.347507132625348e17,
            "Div_k": 19.14459228515625,
            "Div_m": 1003155456.0,
            "BAS": 0.7792412950205897,
            "PFC": 1.6373357442681469,
        },
        "ground_truth": {
            "Div_k": 12.051023483276367,
            "Div_m": 7.042060852050781,
            "BAS": 0.700600019265555,
            "PFC": 1.3603567499966576,
        },
    },
    "bailando": {
        "generated": {
            "FID_k": 296.8473426425007,
            "FID_m": 8.347507132625348e17,
            "Div_k": 19.764890670776367,
            "Div_m": 1003155392.0,
            "BAS": 0.7908885402380791,
            "PFC": 1.6373357442681469,
        },
        "ground_truth": {
            "Div_k": 12.606771469116211,
            "Div_m": 7.177820682525635,
            "BAS": 0.722764158207845,
            "PFC": 1.3603567499966576,
        },
    },
}
EXACT = ("BAS", "PFC")


@pytest.mark.parametrize("protocol,num_joints", [("unimumo", 22), ("bailando", 24)])
def test_protocol_reproduces_the_upstream_figures(protocol, num_joints):
    generated, truth, generated_beats, truth_beats = golden_sets(num_joints)
    table = dance_metrics(generated, truth, generated_beats, FPS, truth_beats, protocol=protocol)
    for column, figures in UPSTREAM[protocol].items():
        for metric, expected in figures.items():
            if metric in EXACT:
                assert table[column][metric] == expected, (column, metric)
            else:
                assert table[column][metric] == pytest.approx(expected, rel=1e-4), (column, metric)
        assert table[column]["BAS_nan"] == 0 and table[column]["PFC_nan"] == 0


@pytest.mark.parametrize(
    "protocol,num_joints,first_bas", [("unimumo", 22, 0.7314596411327964), ("bailando", 24, 0.7557354840333181)]
)
def test_per_sequence_beats_bas_and_pfc_are_exact(protocol, num_joints, first_bas):
    from unimumo.eval.protocols import get_protocol, upstream_beat_alignment, upstream_foot_contact
    from unimumo.rhythm import speed_minimum_frames

    generated, _, generated_beats, _ = golden_sets(num_joints)
    chosen = get_protocol(protocol)
    # calc_db's motion beats of sequences 0 and 3, BA of sequence 0, calc_physical_score of sequence 0 (60 fps)
    assert speed_minimum_frames(generated[0]).tolist() == (
        [32, 61, 93, 124, 156, 186, 218] if num_joints == 22 else [31, 61, 93, 124, 156, 186, 218]
    )
    assert speed_minimum_frames(generated[3]).tolist() == [33, 68, 102, 135, 175]
    assert upstream_beat_alignment(generated[0], generated_beats[0], FPS, chosen, "g0") == first_bas
    assert upstream_foot_contact(generated[0], FPS, chosen, "g0") == 2.2366557563250806


def test_edge_pfc_matches_eval_pfc_at_30_fps():
    from unimumo.eval.protocols import get_protocol, upstream_foot_contact

    generated, truth, generated_beats, truth_beats = golden_sets(22)
    expected = [
        10.107668012745233,
        4.500575359374688,
        7.536158834245406,
        7.491120968653292,
        3.345033664998457,
        2.8907755357224287,
    ]  # EDGE eval_pfc.calc_physical_score per sequence
    edge = get_protocol("edge")
    assert [upstream_foot_contact(m, FPS, edge, "g") for m in generated] == expected
    table = dance_metrics(generated, truth, generated_beats, FPS, truth_beats, protocol="edge")
    assert table["generated"] == {"PFC": pytest.approx(np.mean(expected), rel=1e-12), "PFC_nan": 0}


def test_music_beat_frames_match_bailandos_extractor():
    from unimumo.rhythm import onset_beat_frames

    # Bailando @ cc90b98 extractor.py: get_hpss, get_onset_strength (median), get_onset_beat at 30720 Hz, hop 512
    # (`python /tmp/golden/music_beats.py`; librosa 0.11 needs its onset_strength/peak_pick arguments as keywords)
    expected = [55, 91, 127, 163, 199, 235, 271, 307, 343, 379, 415, 451]
    assert onset_beat_frames(drum_loop(), 30720).tolist() == expected


def test_undefined_sequences_are_nan_counted_not_zero():
    generated, truth, generated_beats, truth_beats = golden_sets(22)
    still = np.repeat(generated[0][:1], 200, axis=0)  # no motion beat, a root that never accelerates
    for protocol in ("unimumo", "corrected"):
        table = dance_metrics(
            generated + [still], truth, generated_beats + [generated_beats[0]], FPS, truth_beats, protocol=protocol
        )
        assert table["generated"]["BAS_nan"] == 1 and table["generated"]["PFC_nan"] == 1
        assert table["generated"]["BAS"] > 0.5 and table["generated"]["PFC"] > 0.0


def test_protocol_joint_counts_and_names_are_checked():
    generated, truth, generated_beats, truth_beats = golden_sets(22)
    with pytest.raises(ValueError, match="protocol 'bailando' needs 24 joints"):
        dance_metrics(generated, truth, generated_beats, FPS, truth_beats, protocol="bailando")
    with pytest.raises(ValueError, match="unknown dance-metric protocol 'aist'"):
        dance_metrics(generated, truth, generated_beats, FPS, truth_beats, protocol="aist")


def test_motion_text_conditioning():
    from unimumo.eval.music2motion import conditioned, motion_text
    from unimumo.eval.samples import EvalSample

    codes = np.zeros((4, 10), dtype=np.int64)
    sample = EvalSample(
        "k",
        codes,
        codes,
        "a song",
        "A person is dancing break.",
        np.zeros(1, np.int64),
        np.zeros(1, np.int64),
        meta={"motion_genre": "break"},
    )
    assert motion_text(sample, "genre") == "The style of the dance is break."
    assert motion_text(sample, "caption") == "A person is dancing break." and motion_text(sample, "none") == ""

    class Letters:
        def encode(self, text):
            return [ord(c) for c in text]

    (none,) = conditioned([sample], "none", Letters())
    assert none.motion_text == "" and none.motion_ids.tolist() == [] and none.music_text == "a song"
    assert motion_text(EvalSample("k", codes, codes, "", "A person walks.", codes[0], codes[0]), "genre") == ""
