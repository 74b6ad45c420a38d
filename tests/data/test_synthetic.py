"""The synthetic corpus is written in the real on-disk formats and its models load with the real classes."""

import csv
import json
import pickle

import numpy as np
from transformers import EncodecModel, T5ForConditionalGeneration

from unimumo.constants import CODE_RATE, CODEBOOK_SIZE, MOTION_FEATURE_DIM, NUM_CODEBOOKS
from unimumo.data.sources import music4all
from unimumo.data.synthetic_corpus import SyntheticCorpusConfig
from unimumo.models.motion_tokenizer import MotionTokenizer
from unimumo.models.music_codec import MusicCodec
from unimumo.models.text_tokenizer import TextTokenizer
from unimumo.rhythm import music_beats


def corpus_truth(corpus):
    return json.loads((corpus / "corpus.json").read_text())


def test_music4all_metadata_is_tab_separated_with_the_real_columns(synthetic_corpus):
    root = synthetic_corpus / "music4all"
    expected = {
        "id_information.csv": ["id", "artist", "song", "album_name"],
        "id_metadata.csv": [
            "id",
            "spotify_id",
            "popularity",
            "release",
            "danceability",
            "energy",
            "key",
            "mode",
            "valence",
            "tempo",
            "duration_ms",
        ],
        "id_tags.csv": ["id", "tags"],
        "id_genres.csv": ["id", "genres"],
    }
    ids = {item["id"] for item in corpus_truth(synthetic_corpus)["music4all"]}
    for name, header in expected.items():
        with open(root / name, newline="") as handle:
            rows = list(csv.reader(handle, delimiter="\t"))
        assert rows[0] == header
        assert {row[0] for row in rows[1:]} == ids
        assert all(len(row) == len(header) for row in rows)
    assert all(len(track_id) == 16 and track_id.isalnum() for track_id in ids)


def test_ignore_lists_name_present_inputs(synthetic_corpus):
    ignored = (synthetic_corpus / "music4all" / "music4all_ignore.txt").read_text().split()
    assert ignored and all(any((synthetic_corpus / "music4all" / "audios").glob(f"{i}.*")) for i in ignored)
    aist_ignored = (synthetic_corpus / "aist" / "ignore_list.txt").read_text().split()
    assert aist_ignored and all((synthetic_corpus / "aist" / "motions" / f"{n}.pkl").is_file() for n in aist_ignored)


def test_good_audio_has_beats_at_the_metadata_tempo(synthetic_corpus):
    truth = [t for t in corpus_truth(synthetic_corpus)["music4all"] if t["kind"] == "good"]
    suffixes = {t["path"].rsplit(".", 1)[1] for t in truth}
    assert suffixes == {"mp3", "wav"}
    for track in truth[:4]:
        wav = music4all.load_audio(track["path"], 22050)
        beats = music_beats(wav, 22050)
        assert abs(np.median(np.diff(beats)) - 60.0 / track["bpm"]) < 0.03, track
        assert beats[-1] - beats[0] >= 10.0


def test_aist_pickles_are_60fps_smpl_with_genre_coded_names(synthetic_corpus):
    truth = [m for m in corpus_truth(synthetic_corpus)["aist"] if m["kind"] == "good"]
    for motion in truth:
        with open(motion["path"], "rb") as handle:
            data = pickle.load(handle)
        frames = data["smpl_poses"].shape[0]
        assert data["smpl_poses"].shape == (frames, 72) and data["smpl_trans"].shape == (frames, 3)
        assert frames == SyntheticCorpusConfig().aist_seconds * 60
        assert motion["id"][:3] in {"gBR", "gPO", "gLO", "gMH", "gLH", "gHO", "gWA", "gKR", "gJS", "gJB"}
    for split in ("train", "val", "test"):
        assert (synthetic_corpus / "aist" / "splits" / f"crossmodal_{split}.txt").read_text().strip()


def test_humanml3d_clips_are_263d_at_20fps_with_texts(synthetic_corpus):
    truth = [m for m in corpus_truth(synthetic_corpus)["humanml3d"] if m["kind"] == "good"]
    for motion in truth:
        features = np.load(motion["path"])
        assert (
            features.shape == (SyntheticCorpusConfig().humanml3d_seconds * 20 - 1, MOTION_FEATURE_DIM)
            and np.isfinite(features).all()
        )
        lines = (synthetic_corpus / "humanml3d" / "texts" / f"{motion['id']}.txt").read_text().splitlines()
        assert lines and all(line.count("#") == 3 for line in lines)


def test_broken_inputs_are_really_broken(synthetic_corpus):
    truth = corpus_truth(synthetic_corpus)
    kinds = {item["kind"]: item for group in truth.values() if isinstance(group, list) for item in group}
    assert {"truncated", "empty", "nan", "wrong_width", "short_beats"} <= set(kinds)
    assert np.load(kinds["wrong_width"]["path"]).shape[1] != MOTION_FEATURE_DIM
    with open(kinds["nan"]["path"], "rb") as handle:
        assert np.isnan(pickle.load(handle)["smpl_poses"]).any()


def test_models_load_with_the_production_code_layout(synthetic_corpus):
    models = synthetic_corpus / "models"
    encodec = EncodecModel.from_pretrained(models / "encodec")
    assert encodec.config.sampling_rate == 32000 and encodec.config.frame_rate == CODE_RATE
    assert encodec.config.num_quantizers == NUM_CODEBOOKS and encodec.config.codebook_size == CODEBOOK_SIZE
    codec = MusicCodec.from_pretrained(models / "encodec")
    track = next(t for t in corpus_truth(synthetic_corpus)["music4all"] if t["kind"] == "good")
    codes = codec.encode(music4all.load_audio(track["path"], codec.sampling_rate)[: 32000 * 4])
    assert codes.shape == (NUM_CODEBOOKS, 200)
    assert all(len(np.unique(row)) > 5 for row in codes)  # codebooks are usable, not all-zero

    tokenizer = TextTokenizer(models / "text_tokenizer.model")
    t5 = T5ForConditionalGeneration.from_pretrained(models / "t5")
    assert t5.config.vocab_size == tokenizer.vocab_size
    ids = tokenizer.encode("The style of the dance is break.")
    assert ids[-1] == tokenizer.eos_id and tokenizer.decode(ids) == "The style of the dance is break."
    assert MotionTokenizer.from_pretrained(models / "motion_vqvae").fingerprint


def test_same_seed_writes_the_same_corpus(synthetic_corpus, tmp_path):
    from unimumo.data.synthetic_corpus import write_synthetic_corpus
    from unimumo.utils.fingerprint import fingerprint_file

    again = write_synthetic_corpus(tmp_path / "again")
    assert (again / "corpus.json").read_text().replace(str(again), "") == (
        synthetic_corpus / "corpus.json"
    ).read_text().replace(str(synthetic_corpus), "")
    for relative in (
        "music4all/id_metadata.csv",
        "models/text_tokenizer.model",
        "models/encodec/model.safetensors",
        "models/t5/model.safetensors",
        "aist/ignore_list.txt",
    ):
        assert fingerprint_file(again / relative) == fingerprint_file(synthetic_corpus / relative), relative
    first_audio = sorted((synthetic_corpus / "music4all" / "audios").iterdir())[0]
    assert fingerprint_file(again / "music4all" / "audios" / first_audio.name) == fingerprint_file(first_audio)


def test_synth_cli_rejects_a_corpus_too_small_for_three_splits(tmp_path, capsys):
    from unimumo.cli.shards import EXIT_USAGE, main

    assert main(["synth", "--out", str(tmp_path / "small"), "--tracks", "2"]) == EXIT_USAGE
    assert "tracks=2" in capsys.readouterr().err and not (tmp_path / "small").exists()
