"""The benchmark's metric table on synthetic dances whose beats are known."""

import numpy as np
import pytest

from unimumo.eval.dance_metrics import dance_metrics
from unimumo.motion.skeleton import smpl_to_joints22
from unimumo.motion.synthetic_dance import synthetic_smpl_dance

FPS = 30.0


def dances(bpms, seed):
    return [smpl_to_joints22(*synthetic_smpl_dance(120, FPS, bpm, seed + i)) for i, bpm in enumerate(bpms)]


def beats(bpms):
    return [np.arange(1, 8) * 60.0 / bpm for bpm in bpms]


@pytest.mark.parametrize("protocol,fid_tolerance", [("corrected", 1e-6), ("unimumo", 1e-4)])
def test_a_set_against_itself(protocol, fid_tolerance):
    bpms = (100.0, 110.0, 120.0, 130.0)
    motions = dances(bpms, seed=0)
    table = dance_metrics(motions, motions, beats(bpms), FPS, protocol=protocol)
    generated, truth = table["generated"], table["ground_truth"]
    # the upstream route (scipy's sqrtm of a singular product) leaves a round-off residue of ~1e-5
    assert generated["FID_k"] == pytest.approx(0.0, abs=fid_tolerance)
    assert generated["FID_m"] == pytest.approx(0.0, abs=fid_tolerance)
    assert generated["Div_k"] == pytest.approx(truth["Div_k"]) and generated["Div_m"] == pytest.approx(truth["Div_m"])
    assert generated["BAS"] == pytest.approx(truth["BAS"]) and generated["BAS"] > 0.8  # dances on the beat
    assert generated["PFC"] == pytest.approx(truth["PFC"]) and generated["PFC"] >= 0.0


def test_other_dances_score_worse():
    bpms = (100.0, 110.0, 120.0, 130.0)
    truth = dances(bpms, seed=0)
    frozen = [
        np.repeat(m[:1], len(m), axis=0) + 0.01 * np.random.default_rng(i).normal(size=m.shape)
        for i, m in enumerate(truth)
    ]  # jittering in place
    table = dance_metrics(frozen, truth, beats(bpms), FPS, protocol="corrected")
    assert table["generated"]["FID_k"] > 1.0
    assert table["generated"]["BAS"] < table["ground_truth"]["BAS"]


def test_inputs_are_checked():
    motions = dances((100.0, 120.0), seed=0)
    with pytest.raises(ValueError, match="1 ground-truth motions with 2 beat lists"):
        dance_metrics(motions, motions[:1], beats((100.0, 120.0)), FPS)
    with pytest.raises(ValueError, match="at least 2 motions in each set"):
        dance_metrics(motions[:1], motions[:1], beats((100.0,)), FPS)
