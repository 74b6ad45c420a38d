"""A small synthetic corpus in the real on-disk formats, plus tiny random-weight frozen models.

`write_synthetic_corpus(out)` writes

    out/music4all/   audios/<16-char id>.mp3|.wav with kick/hi-hat beats at known tempi, the tab-separated
                     id_information.csv / id_metadata.csv / id_tags.csv / id_genres.csv, splits/{split}.txt,
                     music4all_ignore.txt (naming a present track)
    out/aist/        motions/<genre-coded name>.pkl (SMPL at 60 fps), splits/crossmodal_{split}.txt, ignore_list.txt
    out/humanml3d/   new_joint_vecs/<id>.npy [N,263] at 20 fps, texts/<id>.txt, {split}.txt
    out/models/      encodec/ (EncodecModel, 32 kHz, 50 frames/s, 4 x 2048), t5/ (T5ForConditionalGeneration),
                     musicgen/ (MusicgenForConditionalGeneration shaped like the UniMuMo `tiny` preset, whose text
                     encoder is t5/'s encoder and whose audio encoder is encodec/), motion_vqvae/ (MotionTokenizer),
                     text_tokenizer.model (sentencepiece on the corpus captions)
    out/corpus.json  ground truth: every track and motion with its split, tempo and kind

`write_aist_benchmark_set` turns its AIST++ part into the published dance benchmarks' inputs (an AIST++ root, the
music by music id, D2M-GAN's segment list), for the demo's `unimumo-eval paper` and the tests.

Deliberately broken inputs (all in the train split): a truncated wav, an empty mp3, an AIST++ pickle
with NaN poses, a HumanML3D clip of the wrong feature width and an empty .npy. Also a track shorter
than 10 s of beats, and one track / one sequence named in the ignore lists.
"""

from __future__ import annotations

import json
import pickle
import random
import string
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from transformers import (
    EncodecModel,
    MusicgenDecoderConfig,
    MusicgenForCausalLM,
    MusicgenForConditionalGeneration,
    T5Config,
    T5EncoderModel,
    T5ForConditionalGeneration,
)

from unimumo.data.captions import AIST_GENRES, MUSIC_TEMPLATES, all_caption_variants, music_caption
from unimumo.data.sources import music4all
from unimumo.models.configuration_unimumo import UniMuMoConfig
from unimumo.models.motion_tokenizer import MotionTokenizer
from unimumo.models.music_codec import tiny_random_encodec
from unimumo.models.text_tokenizer import EOS_ID, PAD_ID, train_text_tokenizer
from unimumo.motion.humanml3d_features import joints_to_features
from unimumo.motion.skeleton import smpl_to_joints22
from unimumo.motion.synthetic_dance import synthetic_smpl_dance
from unimumo.utils.io import atomic_open, atomic_write_json, atomic_write_text

SAMPLING_RATE = 32000
AIST_FPS, HUMANML3D_FPS = 60.0, 20.0
AIST_SCALING = 93.0  # AIST++ stores translations scaled; joints are at trans / smpl_scaling
MUSIC_GENRES = ("pop", "rock", "electronic", "funk", "hip hop", "disco")
MUSIC_TAGS = ("dance", "upbeat", "groovy", "catchy", "summer", "party", "chill", "retro")
SPLITS = ("train", "val", "test")
# the shard arguments of the shared `tiny_shards` test fixture: ~30 kB shards hold about one track each
TINY_SHARDS_ARGS = ("--pairs-per-track", "2", "--shard-size-mb", "0.03", "--no-progress")
HUMANML3D_TEXTS = (
    "a person dances rhythmically swaying from side to side",
    "someone bounces on their knees and swings both arms",
    "a man grooves to the music with small steps forward",
)


@dataclass
class SyntheticCorpusConfig:
    tracks: int = 12
    motions: int = 12
    seed: int = 0
    min_track_seconds: float = 12.0
    max_track_seconds: float = 14.0
    # motions at least 1.5 x the 10 s training window: after beat warping (rate <= sqrt 2) every pair
    # still covers a full window
    aist_seconds: float = 16.0
    humanml3d_seconds: float = 15.0

    def validate(self) -> None:
        if self.tracks < 3 or self.motions < 6:
            raise ValueError(
                f"synthetic corpus needs >= 3 tracks and >= 6 motions (one per split and source), got "
                f"tracks={self.tracks}, motions={self.motions}"
            )
        if not 10.5 < self.min_track_seconds <= self.max_track_seconds:
            raise ValueError("track lengths must exceed 10.5 s so good tracks keep >= 10 s of beats")


@dataclass
class CorpusItem:
    id: str
    split: str
    kind: str  # good | ignored | short_beats | truncated | empty | nan | wrong_width
    bpm: float
    path: str


def split_counts(n: int) -> dict[str, int]:
    held_out = max(1, n // 6)
    return {"train": n - 2 * held_out, "val": held_out, "test": held_out}


def split_names(n: int) -> list[str]:
    return [split for split, count in split_counts(n).items() for _ in range(count)]


def track_id(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(16))


def beat_audio(bpm: float, seconds: float, key: int, rng: np.random.Generator) -> np.ndarray:
    """Kick drum on every beat (accented downbeats), hi-hat on the off-beats, a quiet chord underneath."""
    n = int(seconds * SAMPLING_RATE)
    t = np.arange(n) / SAMPLING_RATE
    root = 110.0 * 2 ** (key / 12)
    wav = 0.04 * sum(np.sin(2 * np.pi * root * ratio * t) for ratio in (1.0, 1.26, 1.5))
    kick_t = np.arange(int(0.15 * SAMPLING_RATE)) / SAMPLING_RATE
    kick = np.sin(2 * np.pi * (50 * kick_t + 400 * (1 - np.exp(-kick_t * 30)) / 30)) * np.exp(-kick_t * 25)
    hat = rng.standard_normal(int(0.04 * SAMPLING_RATE))
    hat = np.diff(hat, prepend=0.0) * np.exp(-np.arange(hat.size) / (0.008 * SAMPLING_RATE)) * 0.15
    period = 60.0 / bpm
    for index, beat in enumerate(np.arange(rng.uniform(0.1, 0.3), seconds, period)):
        for sound, at, gain in ((kick, beat, 1.0 if index % 4 == 0 else 0.7), (hat, beat + period / 2, 0.3)):
            start = int(at * SAMPLING_RATE)
            stop = min(n, start + sound.size)
            if start < n:
                wav[start:stop] += gain * sound[: stop - start]
    return (0.8 * wav / np.abs(wav).max()).astype(np.float32)


def write_audio(path: Path, wav: np.ndarray) -> None:
    audio_format = "MP3" if path.suffix == ".mp3" else "WAV"
    with atomic_open(path, "wb") as handle:
        sf.write(handle, wav, SAMPLING_RATE, format=audio_format)


def write_music4all(root: Path, config: SyntheticCorpusConfig, rng: random.Random) -> list[CorpusItem]:
    np_rng = np.random.default_rng(config.seed)
    items = []
    specials = [("ignored", "train"), ("short_beats", "train"), ("truncated", "train"), ("empty", "train")]
    plan = [("good", split) for split in split_names(config.tracks)] + specials
    rows = {name: [] for name in ("information", "metadata", "tags", "genres")}
    for index, (kind, split) in enumerate(plan):
        tid = track_id(rng)
        bpm = round(rng.uniform(90.0, 140.0), 1)
        seconds = 8.0 if kind == "short_beats" else rng.uniform(config.min_track_seconds, config.max_track_seconds)
        extension = {"truncated": ".wav", "empty": ".mp3"}.get(kind, ".mp3" if index % 2 == 0 else ".wav")
        path = root / "audios" / f"{tid}{extension}"
        key = rng.randrange(12)
        wav = beat_audio(bpm, seconds, key, np_rng)
        if kind == "empty":
            atomic_write_text(path, "")
        elif kind == "truncated":
            write_audio(path, wav)
            path.write_bytes(path.read_bytes()[:200])
        else:
            write_audio(path, wav)
        genre, tags = rng.choice(MUSIC_GENRES), rng.sample(MUSIC_TAGS, 3)
        rows["information"].append([tid, f"Synthetic Artist {index}", f"Song {index}", f"Album {index % 3}"])
        rows["metadata"].append(
            [
                tid,
                f"sp{index:06d}",
                str(rng.randrange(100)),
                "2020",
                f"{rng.random():.3f}",
                f"{rng.random():.3f}",
                str(key),
                str(rng.randrange(2)),
                f"{rng.random():.3f}",
                f"{bpm:.1f}",
                str(int(seconds * 1000)),
            ]
        )
        rows["tags"].append([tid, ",".join(tags)])
        rows["genres"].append([tid, genre])
        items.append(CorpusItem(id=tid, split=split, kind=kind, bpm=bpm, path=str(path)))
    headers = {
        "information": ["id", "artist", "song", "album_name"],
        "metadata": [
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
        "tags": ["id", "tags"],
        "genres": ["id", "genres"],
    }
    for name, header in headers.items():
        lines = ["\t".join(row) for row in [header, *rows[name]]]
        atomic_write_text(root / f"id_{name}.csv", "\n".join(lines) + "\n")
    for split in SPLITS:
        atomic_write_text(root / "splits" / f"{split}.txt", "".join(f"{i.id}\n" for i in items if i.split == split))
    atomic_write_text(root / "music4all_ignore.txt", "".join(f"{i.id}\n" for i in items if i.kind == "ignored"))
    return items


def write_aist(root: Path, count: int, config: SyntheticCorpusConfig, rng: random.Random) -> list[CorpusItem]:
    items = []
    genres = list(AIST_GENRES)
    plan = [("good", split) for split in split_names(count)] + [("nan", "train"), ("ignored", "train")]
    for index, (kind, split) in enumerate(plan):
        code = genres[index % len(genres)]
        name = f"{code}_sBM_cAll_d{index % 30 + 1:02d}_m{code[1:]}{index % 6}_ch{index + 1:02d}"
        bpm = round(rng.uniform(85.0, 135.0), 1)
        seed = config.seed * 1000 + index
        poses, trans = synthetic_smpl_dance(int(config.aist_seconds * AIST_FPS), AIST_FPS, bpm, seed)
        if kind == "nan":
            poses[len(poses) // 2, 5] = np.nan
        data = {
            "smpl_poses": poses,
            "smpl_trans": trans * AIST_SCALING,
            "smpl_scaling": np.array([AIST_SCALING]),
            "smpl_loss": 0.0,
        }
        path = root / "motions" / f"{name}.pkl"
        with atomic_open(path, "wb") as handle:
            pickle.dump(data, handle)
        items.append(CorpusItem(id=name, split=split, kind=kind, bpm=bpm, path=str(path)))
    for split in SPLITS:
        atomic_write_text(
            root / "splits" / f"crossmodal_{split}.txt", "".join(f"{i.id}\n" for i in items if i.split == split)
        )
    atomic_write_text(root / "ignore_list.txt", "".join(f"{i.id}\n" for i in items if i.kind == "ignored"))
    return items


def write_humanml3d(root: Path, count: int, config: SyntheticCorpusConfig, rng: random.Random) -> list[CorpusItem]:
    items = []
    plan = [("good", split) for split in split_names(count)] + [("wrong_width", "train"), ("empty", "train")]
    for index, (kind, split) in enumerate(plan):
        clip_id = f"{index:06d}"
        bpm = round(rng.uniform(85.0, 135.0), 1)
        seed = config.seed * 1000 + 500 + index
        poses, trans = synthetic_smpl_dance(int(config.humanml3d_seconds * HUMANML3D_FPS), HUMANML3D_FPS, bpm, seed)
        features = joints_to_features(smpl_to_joints22(poses, trans), fps=HUMANML3D_FPS)
        path = root / "new_joint_vecs" / f"{clip_id}.npy"
        if kind == "empty":
            atomic_write_text(path, "")
        else:
            with atomic_open(path, "wb") as handle:
                np.save(handle, features[:, :251] if kind == "wrong_width" else features)
        lines = [
            f"{text}#{' '.join(word + '/X' for word in text.split())}#0.0#0.0\n"
            for text in rng.sample(HUMANML3D_TEXTS, 2)
        ]
        atomic_write_text(root / "texts" / f"{clip_id}.txt", "".join(lines))
        items.append(CorpusItem(id=clip_id, split=split, kind=kind, bpm=bpm, path=str(path)))
    for split in SPLITS:
        atomic_write_text(root / f"{split}.txt", "".join(f"{i.id}\n" for i in items if i.split == split))
    return items


def caption_corpus(music_root: Path) -> list[str]:
    """Every caption the builder can produce for this corpus: sentencepiece training text."""
    sentences = list(HUMANML3D_TEXTS) + all_caption_variants(
        list(AIST_GENRES.values()) + ["free"], list(HUMANML3D_TEXTS)
    )
    for split in SPLITS:
        for track in music4all.list_tracks(music_root, split):
            sentences += [
                music_caption(
                    genre=track.genre,
                    tempo=track.tempo,
                    key=track.key,
                    energy=track.energy,
                    tags=track.tags,
                    template=template,
                )
                for template in MUSIC_TEMPLATES
            ]
    return sentences


def write_models(out: Path, sentences: list[str], seed: int) -> None:
    tiny_random_encodec(seed, SAMPLING_RATE).save_pretrained(out / "encodec")
    torch.manual_seed(seed)
    tokenizer = train_text_tokenizer(sentences, out / "text_tokenizer.model", vocab_size=200)
    t5_config = T5Config(
        vocab_size=tokenizer.vocab_size,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        pad_token_id=PAD_ID,
        eos_token_id=EOS_ID,
        decoder_start_token_id=PAD_ID,
    )
    T5ForConditionalGeneration(t5_config).save_pretrained(out / "t5")
    write_tiny_musicgen(out / "musicgen", out / "t5", out / "encodec", seed)
    MotionTokenizer.from_random(seed=seed).save_pretrained(out / "motion_vqvae")


def write_tiny_musicgen(out: Path, t5_dir: Path, encodec_dir: Path, seed: int) -> Path:
    """A random `MusicgenForConditionalGeneration` (save_pretrained) with the decoder shape of the UniMuMo `tiny`
    preset; its text encoder is the encoder of the T5 in `t5_dir`, so its vocabulary is the corpus tokenizer's."""
    tiny = UniMuMoConfig.preset("tiny")
    torch.manual_seed(seed)
    decoder = MusicgenForCausalLM(
        MusicgenDecoderConfig(
            hidden_size=tiny.hidden_size,
            num_hidden_layers=tiny.num_hidden_layers,
            num_attention_heads=tiny.num_attention_heads,
            ffn_dim=tiny.ffn_dim,
            max_position_embeddings=tiny.max_position_embeddings,
            num_codebooks=tiny.num_codebooks,
            vocab_size=tiny.codebook_size,
            pad_token_id=tiny.codebook_size,
            bos_token_id=tiny.codebook_size,
        )
    )
    model = MusicgenForConditionalGeneration(
        text_encoder=T5EncoderModel.from_pretrained(t5_dir),
        decoder=decoder,
        audio_encoder=EncodecModel.from_pretrained(encodec_dir),
    )
    model.save_pretrained(out)
    return out


def write_synthetic_corpus(out: str | Path, config: SyntheticCorpusConfig | None = None) -> Path:
    config = config or SyntheticCorpusConfig()
    config.validate()
    out = Path(out)
    rng = random.Random(config.seed)
    aist_count = config.motions - config.motions // 3
    items = {
        "music4all": write_music4all(out / "music4all", config, rng),
        "aist": write_aist(out / "aist", aist_count, config, rng),
        "humanml3d": write_humanml3d(out / "humanml3d", config.motions - aist_count, config, rng),
    }
    write_models(out / "models", caption_corpus(out / "music4all"), config.seed)
    atomic_write_json(
        out / "corpus.json",
        {
            "config": asdict(config),
            **{name: [asdict(item) for item in group] for name, group in items.items()},
        },
    )
    return out


def d2m_segment_line(sequence: str, segment: int) -> str:
    """D2M-GAN's name of 2 s segment `segment` (from 1) of an AIST++ sequence, as its aist_motion_test_segment.txt
    writes it (camera c01, `_segN.npy`)."""
    parts = sequence.split("_")
    return f"./aistplus/motion_s2/test/{'_'.join(parts[:2] + ['c01'] + parts[3:])}_seg{segment}.npy"


def write_aist_benchmark_set(
    corpus: str | Path,
    root: Path,
    music: Path,
    num_test: int,
    music_seconds: Callable[[str], float],
    segments: Path | None = None,
) -> list[str]:
    """The published dance benchmarks' inputs in the AIST++ layout, made from a synthetic corpus (the demo's
    `unimumo-eval paper` inputs, the tests' AIST++ fixture). `root`: motions/ (a link to the corpus's SMPL pickles),
    splits/crossmodal_test.txt naming the first `num_test` good sequences of the corpus (of any split: the corpus
    has few) and its ignored one, ignore_list.txt removing that. `music`/<music id>.wav for every music id the
    motions name, as AIST++ ships its music apart: 16-bit PCM at 32 kHz, a beat track at the dance's tempo,
    `music_seconds(music id)` long. With `segments`: D2M-GAN's segment list naming the first 2 s segment of each
    test sequence. Returns the test sequences."""
    corpus = Path(corpus)
    items = json.loads((corpus / "corpus.json").read_text())["aist"]
    good = [item["id"] for item in items if item["kind"] == "good"][:num_test]
    ignored = [item["id"] for item in items if item["kind"] == "ignored"]
    (root / "splits").mkdir(parents=True, exist_ok=True)
    if not (root / "motions").exists():
        (root / "motions").symlink_to((corpus / "aist" / "motions").resolve())
    atomic_write_text(root / "splits" / "crossmodal_test.txt", "".join(f"{name}\n" for name in good + ignored))
    atomic_write_text(root / "ignore_list.txt", "".join(f"{name}\n" for name in ignored))
    music.mkdir(parents=True, exist_ok=True)
    for index, item in enumerate(items):
        name = item["id"].split("_")[4]
        if not (music / f"{name}.wav").exists():
            wav = beat_audio(item["bpm"], music_seconds(name), index % 12, np.random.default_rng(index))
            with atomic_open(music / f"{name}.wav", "wb") as handle:
                sf.write(handle, wav, SAMPLING_RATE, format="WAV", subtype="PCM_16")
    if segments is not None:
        atomic_write_text(segments, "".join(d2m_segment_line(name, 1) + "\n" for name in good))
    return good


def tokenizer_args(corpus: str | Path) -> list[str]:
    """The --music-codec / --motion-tokenizer / --text-tokenizer arguments naming a synthetic corpus' tokenizers."""
    models = Path(corpus) / "models"
    return [
        "--music-codec",
        str(models / "encodec"),
        "--motion-tokenizer",
        str(models / "motion_vqvae"),
        "--text-tokenizer",
        str(models / "text_tokenizer.model"),
    ]


def build_argv(corpus: str | Path, out: str | Path, split: str, *extra: str) -> list[str]:
    """`unimumo-shards build` arguments that turn a synthetic corpus into shards (tolerating its broken inputs)."""
    corpus = Path(corpus)
    return [
        "build",
        "--music4all",
        str(corpus / "music4all"),
        "--aist",
        str(corpus / "aist"),
        "--humanml3d",
        str(corpus / "humanml3d"),
        *tokenizer_args(corpus),
        "--out",
        str(out),
        "--split",
        split,
        "--max-failure-fraction",
        "0.5",
        *extra,
    ]
