"""The Beat This! port (unimumo.beat_this) against golden values of the published package, its checkpoint checks,
and `--beat-tracker beat_this` in the beat-tracker plumbing (the network has random weights: it tracks no beat).

Golden values: PyPI beat-this 1.1.0 (= CPJKU/beat_this @ 9d787b9, MIT) with torchaudio 2.11.1 whose compiled
extension was removed (its MelSpectrogram is plain torch), outside this repository:
    PYTHONPATH=<site> python make_golden.py  # builds beat_this.model.beat_tracker.BeatThis with the tiny
    # hyper-parameters of testkit/beat_this_checkpoint.py, loads keyed_weights(model.state_dict()), saves the
    # checkpoint as here (byte-equal weights), then runs beat_this.inference.Audio2Frames(checkpoint) on
    # loop_breakbeat.flac (16 kHz) tiled 4 times (7.6 s) and tiled to 35 s, and
    # beat_this.model.postprocessor.Postprocessor("minimal") on the logits less their median.
"""

from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from testkit.beat_this_checkpoint import save_tiny_beat_this
from unimumo.beat_this import (
    BeatCheckpointError,
    beat_logits,
    beat_this_beats,
    frames_to_beats,
    load_beat_this,
    log_mel,
    logit_peaks,
)
from unimumo.rhythm import require_beat_tracker, track_beats

LOOP = Path(__file__).parent / "assets" / "beats" / "loop_breakbeat.flac"
GOLDEN_BEAT_START = [1.2803212404251099, 0.9655263423919678, 0.3075253367424011, -0.04517264664173126,
                     0.6271001696586609, 2.3719449043273926]  # fmt: skip
GOLDEN_DOWNBEAT_START = [-0.3535531759262085, -0.18148013949394226, 0.13365329802036285, -0.24396346509456635,
                         -0.07012306153774261, 0.8757424354553223]  # fmt: skip
GOLDEN_PEAKS_START = [0.0, 0.1, 0.24, 0.34, 0.42, 0.64, 0.84, 0.96, 1.04, 1.14, 1.24, 1.38, 1.52, 1.62, 1.72]
GOLDEN_LONG_SEAM = [0.051718488335609436, 0.07360468804836273, 0.8028403520584106, 1.8180114030838013,
                    0.805046796798706, -0.22168448567390442]  # fmt: skip  # beat[1490:1496], where the chunks meet


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_tiny_beat_this(tmp_path_factory.mktemp("beat_this") / "tiny.ckpt")


@pytest.fixture(scope="module")
def loop():
    wav, rate = soundfile.read(LOOP, dtype="float32")
    return wav, rate


def test_frame_logits_equal_the_published_code(checkpoint, loop):
    wav, rate = loop
    model = load_beat_this(str(checkpoint))
    beat, downbeat = beat_logits(model, log_mel(np.tile(wav, 4), rate))
    assert beat.shape == downbeat.shape == (381,)  # 50 frames/s
    np.testing.assert_allclose(beat[:6].numpy(), GOLDEN_BEAT_START, atol=2e-4)
    np.testing.assert_allclose(downbeat[:6].numpy(), GOLDEN_DOWNBEAT_START, atol=2e-4)
    assert float(beat.double().sum()) == pytest.approx(372.3632089048624, abs=0.02)
    assert float(downbeat.double().sum()) == pytest.approx(218.56717928498983, abs=0.02)
    assert (float(beat.min()), float(beat.max())) == pytest.approx((-1.1195752620697021, 3.338412046432495), abs=2e-4)
    beats, downbeats = frames_to_beats(beat - beat.median(), downbeat - downbeat.median())
    assert beats.size == 61 and np.allclose(beats[:15], GOLDEN_PEAKS_START)
    assert downbeats.size == 51 and np.allclose(downbeats[:6], [0.1, 0.24, 0.34, 0.42, 0.64, 0.96])


def test_a_long_piece_is_predicted_in_overlapping_chunks_as_published(checkpoint, loop):
    wav, rate = loop
    beat, downbeat = beat_logits(load_beat_this(str(checkpoint)), log_mel(np.tile(wav, 19)[: 35 * rate], rate))
    assert beat.shape == (1751,)
    np.testing.assert_allclose(beat[1490:1496].numpy(), GOLDEN_LONG_SEAM, atol=2e-4)
    assert float(beat.double().sum()) == pytest.approx(1581.538346419111, abs=0.1)
    assert float(downbeat.double().sum()) == pytest.approx(926.0766657143831, abs=0.1)


def test_beat_times_from_frames_merge_adjacent_peaks():
    logits = torch.full((100,), -1.0)
    logits[[10, 11]] = 2.0  # a plateau: both frames are maxima, merged into their mean
    logits[[40, 60]] = 1.0
    logits[62] = 0.5  # within +-3 frames of a larger one: not a peak
    assert logit_peaks(logits).tolist() == [10.5 / 50, 40 / 50, 60 / 50]


def test_the_beat_this_tracker_gives_beats_and_downbeats_on_them(checkpoint, loop):
    wav, rate = loop
    beats, downbeats = beat_this_beats(np.tile(wav, 4), rate, checkpoint)
    assert beats.size and np.all(np.diff(beats) > 0) and set(downbeats) <= set(beats)
    track = track_beats(np.tile(wav, 4), rate, "beat_this", checkpoint)
    np.testing.assert_array_equal(track.beats, beats)
    assert track.phase is None


def test_bad_checkpoints_are_refused_with_the_cause(tmp_path, checkpoint):
    missing = tmp_path / "final0.ckpt"
    with pytest.raises(BeatCheckpointError, match=f"{missing}: file not found"):
        load_beat_this(str(missing))
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(BeatCheckpointError, match="not a readable PyTorch checkpoint"):
        load_beat_this(str(garbage))
    code = tmp_path / "code.ckpt"
    torch.save({"state_dict": {}, "hook": Path("x")}, code)  # an object that weights-only loading refuses
    with pytest.raises(BeatCheckpointError, match="not a readable PyTorch checkpoint"):
        load_beat_this(str(code))
    no_state = tmp_path / "no_state.ckpt"
    torch.save({"weights": {}}, no_state)
    with pytest.raises(BeatCheckpointError, match="no 'state_dict'"):
        load_beat_this(str(no_state))
    saved = torch.load(checkpoint, weights_only=True)
    saved["hyper_parameters"] = {**saved["hyper_parameters"], "n_layers": 2}  # weights of a 1-layer network
    mismatched = tmp_path / "mismatched.ckpt"
    torch.save(saved, mismatched)
    with pytest.raises(BeatCheckpointError, match="do not fit the Beat This! network"):
        load_beat_this(str(mismatched))
    saved["hyper_parameters"] = {**saved["hyper_parameters"], "n_layers": "six"}
    torch.save(saved, mismatched)
    with pytest.raises(BeatCheckpointError, match="do not fit the Beat This! network"):
        load_beat_this(str(mismatched))


def test_the_tracker_check_pairs_beat_this_with_a_checkpoint(tmp_path, checkpoint):
    require_beat_tracker("beat_this", checkpoint)
    with pytest.raises(ValueError, match="--beat-checkpoint FILE"):
        require_beat_tracker("beat_this")
    with pytest.raises(ValueError, match="goes only with the beat_this tracker"):
        require_beat_tracker("steady", checkpoint)
    with pytest.raises(BeatCheckpointError, match="file not found"):
        require_beat_tracker("beat_this", tmp_path / "none.ckpt")


def test_a_rewritten_checkpoint_is_read_again(tmp_path):
    path = save_tiny_beat_this(tmp_path / "weights.ckpt")
    first = load_beat_this(path)
    assert load_beat_this(str(path)) is first  # one load per process ...
    save_tiny_beat_this(path, beat_bias=1.0)
    bias = load_beat_this(path).task_heads.beat_downbeat_lin.bias
    assert float(bias[0]) == 1.0 != float(first.task_heads.beat_downbeat_lin.bias[0])  # ... and version of the file
