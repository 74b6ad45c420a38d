"""Random-weight evaluation models of the real architectures, in the file formats their projects publish.

They stand in for the published checkpoints where none may be downloaded: in the demo (`write_random_models`, whose
FAD / KL / CLAP show the pipeline, not the quality of any music) and in the golden tests, which ran the upstream code on
exactly these files (tests/eval/test_eval_music_quality.py, tests/eval/test_eval_clap.py record their digests).

* `write_vggish_checkpoint`: torchvggish's `vggish-10086976.pth` format (the VGG state dict alone), real size;
* `write_panns_checkpoint`: PANNs' `Cnn14_16k_mAP=0.438.pth` format (`{"iteration", "model", "sampler"}`, the
  sampler's state holding numpy arrays as the training checkpoints do), real size. Weights come from numpy's PCG64
  (`np.random.default_rng(seed)`), uniform with He-like scales (so activations neither vanish nor explode through the
  real depths), BatchNorm statistics set for the inputs each layer sees; the STFT and mel matrices of Cnn14 are the
  real ones (`unimumo.eval.panns`). Same seed, same files, on any machine.
* `write_laion_checkpoint`: what `laion_clap.CLAP_Module(enable_fusion=False).load_ckpt` reads (laion's
  `630k-audioset-best.pt` format): a dict whose `state_dict` holds the DDP-prefixed (`module.`) weights of laion's
  `CLAP` model, here with laion's own HTSAT (`HTSAT_Swin_Transformer`: spectrogram size 256, patch 4, window 8, 64 mel
  bins, HTSAT-tiny's audio front end) made narrow and shallow (`TINY_HTSAT`), and a one-layer roberta
  (`TINY_ROBERTA`; width 768, which laion's text projection requires). Each tensor comes from its own numpy PCG64
  stream seeded by its key's crc32, the STFT kernels and mel filterbank are the real ones (torchlibrosa's
  hann-windowed DFT, librosa's slaney mel) and the derived Swin buffers (relative position index, shifted-window mask)
  are computed as Swin does.
* `write_roberta_dir`: the CLAP text side's directory as a user would name it (`--clap-text-model`): config.json and a
  real byte-level BPE tokenizer (vocab.json, merges.txt) with a small vocabulary.
* `write_t2m_evaluator`, `write_glove`, `write_spacy_tagger` (`write_random_t2m_evaluator`: all three at `TINY_T2M`
  sizes): HumanML3D's text-motion evaluator as T2M publishes it (`checkpoints/t2m`: `text_mot_match/model/finest.tar`
  and `Comp_v6_KLD005/meta/{mean,std}.npy`), its GloVe files (`our_vab_*`, random vectors for LEXICON's lemmas) and a
  blank English spaCy pipeline with a rule-based tagger and lookup lemmatizer for LEXICON's words (spaCy: the
  `unimumo[eval]` extra). Each weight comes from a PCG64 stream seeded by its name's crc32
  (tests/eval/test_eval_t2m_evaluator.py's golden values are for these files).
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
import zlib
from pathlib import Path

import librosa
import numpy as np
import torch

from unimumo.eval.panns import Cnn14, front_end_state
from unimumo.eval.t2m_evaluator import CHECKPOINT, META, T2MEvaluator, T2MEvaluatorConfig, import_spacy
from unimumo.eval.vggish import VGGish
from unimumo.utils.io import atomic_open


def write_random_models(directory: Path, seed: int = 0) -> dict[str, Path]:
    """{"vggish", "panns", "clap": file, "clap_text_model": directory}: the demo's random evaluation models (written
    once; existing files are kept)."""
    paths = {
        "vggish": directory / "vggish-random.pth",
        "panns": directory / "Cnn14_16k-random.pth",
        "clap": directory / "clap-random-tiny.pt",
        "clap_text_model": directory / "clap-text-roberta-tiny",
    }
    if not paths["vggish"].is_file():
        write_vggish_checkpoint(paths["vggish"], seed)
    if not paths["panns"].is_file():
        write_panns_checkpoint(paths["panns"], seed + 1)
    if not paths["clap"].is_file():
        write_laion_checkpoint(paths["clap"])
    if not (paths["clap_text_model"] / "merges.txt").is_file():  # written last
        write_roberta_dir(paths["clap_text_model"])
    return paths


# ---------------------------------------------------------------- VGGish and PANNs Cnn14


def _uniform(rng: np.random.Generator, shape: tuple[int, ...], scale: float, center: float = 0.0) -> torch.Tensor:
    values = rng.random(shape, dtype=np.float32)
    values *= np.float32(2 * scale)
    values += np.float32(center - scale)
    return torch.from_numpy(values)


def _random_state(
    model_class: type[torch.nn.Module], seed: int, bn_stats: dict[str, tuple[float, float]], given: dict
) -> dict:
    """Weights U(+-sqrt(6 / fan_in)) (He), biases U(+-0.05); BatchNorm affine near identity, its running mean and
    variance from `bn_stats[name]` (mean, std of its input) or (0, 1); the entries in `given` as they are."""
    with torch.device("meta"):
        shapes = model_class().state_dict()
    rng = np.random.default_rng(seed)
    state = {}
    for name, value in shapes.items():
        module, _, kind = name.rpartition(".")
        if name in given:
            state[name] = given[name]
        elif kind == "num_batches_tracked":
            state[name] = torch.tensor(1000, dtype=torch.long)
        elif kind == "running_mean":
            mean, std = bn_stats.get(module, (0.0, 1.0))
            state[name] = _uniform(rng, tuple(value.shape), 0.1 * std, mean)
        elif kind == "running_var":
            _, std = bn_stats.get(module, (0.0, 1.0))
            state[name] = _uniform(rng, tuple(value.shape), 0.3 * std**2, std**2)
        elif value.ndim == 1 and module.split(".")[-1].startswith("bn"):
            state[name] = _uniform(rng, tuple(value.shape), 0.2, 1.0 if kind == "weight" else 0.0)
        elif kind == "bias":
            state[name] = _uniform(rng, tuple(value.shape), 0.05)
        else:
            fan_in = int(np.prod(value.shape[1:]))
            state[name] = _uniform(rng, tuple(value.shape), float(np.sqrt(6.0 / fan_in)))
    return state


def state_digest(state: dict) -> str:
    """sha256 over each tensor's key, shape and first and last 256 values: which weights a golden value was for."""
    digest = hashlib.sha256()
    for name, value in state.items():
        flat = value.reshape(-1)
        digest.update(f"{name}{tuple(value.shape)}".encode())
        digest.update(torch.cat([flat[:256], flat[-256:]]).numpy().tobytes())
    return digest.hexdigest()[:16]


def write_vggish_checkpoint(path: Path, seed: int = 0) -> Path:
    """torchvggish's format: the VGG state dict alone."""
    with atomic_open(path, "wb") as handle:
        torch.save(_random_state(VGGish, seed, {}, {}), handle)
    return path


def write_panns_checkpoint(path: Path, seed: int = 1) -> Path:
    """PANNs' training-checkpoint format: {"iteration", "model": state dict, "sampler"}."""
    state = _random_state(Cnn14, seed, {"bn0": (-30.0, 20.0)}, front_end_state())  # bn0 sees log-mel in dB
    sampler = {
        "indexes_per_class": [np.arange(5, dtype=np.int64) + k for k in range(3)],
        "queue": [2, 0, 1],
        "pointers_of_classes": [0, 1, 2],
    }
    with atomic_open(path, "wb") as handle:
        torch.save({"iteration": 660000, "model": state, "sampler": sampler}, handle)
    return path


# ---------------------------------------------------------------- LAION-CLAP (HTSAT + roberta)

# HTSAT's geometry as laion's create_htsat_model builds it (all of laion's HTSAT configs share it), and the audio_cfg
# of laion's HTSAT-tiny.json; only the widths, depths and heads are tiny here.
SPEC_SIZE, PATCH, WINDOW, MEL_BINS, NUM_CLASSES = 256, 4, 8, 64, 527
CLAP_SAMPLE_RATE, N_FFT, FMIN, FMAX = 48000, 1024, 50, 14000
TINY_HTSAT = {"embed_dim": 8, "depths": (1, 2, 1, 1), "num_heads": (1, 1, 2, 2)}
JOINT_DIM = 512  # laion's joint_embed_shape

# BPE merges of the tiny tokenizer (GPT-2 byte alphabet: "Ġ" is a leading space); each adds one token.
MERGES = (
    ("Ġ", "t"),
    ("h", "e"),
    ("Ġt", "he"),
    ("i", "n"),
    ("e", "r"),
    ("Ġ", "a"),
    ("o", "n"),
    ("Ġ", "s"),
    ("a", "n"),
    ("Ġ", "m"),
    ("u", "s"),
    ("Ġm", "us"),
    ("i", "c"),
    ("Ġmus", "ic"),
    ("Ġ", "d"),
    ("r", "u"),
    ("Ġd", "ru"),
    ("m", "s"),
    ("Ġdru", "ms"),
    ("in", "g"),
    ("Ġ", "b"),
    ("e", "a"),
    ("Ġb", "ea"),
    ("Ġbea", "t"),
)
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
TINY_ROBERTA = {
    "hidden_size": 768,
    "num_hidden_layers": 1,
    "num_attention_heads": 12,
    "intermediate_size": 32,
    "max_position_embeddings": 80,  # laion tokenizes to 77 tokens; roberta's positions start after padding_idx 1
}


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (what a byte-level BPE vocabulary is written in)."""
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, extra = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return dict(zip(bs, map(chr, cs)))


def roberta_vocab() -> dict[str, int]:
    byte_chars = bytes_to_unicode()
    tokens = [*SPECIALS, *(byte_chars[b] for b in range(256)), *(a + b for a, b in MERGES), "<mask>"]
    return {token: index for index, token in enumerate(tokens)}


def roberta_config() -> dict:
    return {
        "model_type": "roberta",
        "architectures": ["RobertaModel"],
        "vocab_size": len(roberta_vocab()),
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "type_vocab_size": 1,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-5,
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
        **TINY_ROBERTA,
    }


def write_roberta_dir(path: str | Path) -> Path:
    """A roberta directory with a tiny vocabulary: config.json, vocab.json, merges.txt (roberta-base's file set)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(roberta_config(), indent=2))
    (path / "vocab.json").write_text(json.dumps(roberta_vocab(), ensure_ascii=False))
    (path / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in MERGES), encoding="utf-8")
    return path


# ---------------------------------------------------------------- the checkpoint


def _relative_position_index(window: int) -> np.ndarray:
    coords = np.stack(np.meshgrid(np.arange(window), np.arange(window), indexing="ij")).reshape(2, -1)
    relative = (coords[:, :, None] - coords[:, None, :]).transpose(1, 2, 0) + (window - 1)
    return relative[:, :, 0] * (2 * window - 1) + relative[:, :, 1]


def _shifted_window_mask(resolution: int, window: int, shift: int) -> np.ndarray:
    """Swin's SW-MSA mask: -100 between tokens of a window that come from different regions of the rolled image."""
    regions = np.zeros((resolution, resolution))
    bounds = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    for count, (rows, cols) in enumerate((r, c) for r in bounds for c in bounds):
        regions[rows, cols] = count
    windows = regions.reshape(resolution // window, window, resolution // window, window)
    windows = windows.transpose(0, 2, 1, 3).reshape(-1, window * window)
    return np.where(windows[:, None, :] != windows[:, :, None], -100.0, 0.0)


def _stft_kernels() -> tuple[np.ndarray, np.ndarray]:
    """torchlibrosa's STFT conv kernels: the hann-windowed DFT rows 0..n_fft/2, real and imaginary parts."""
    window = librosa.filters.get_window("hann", N_FFT, fftbins=True)
    phase = 2 * np.pi * np.outer(np.arange(N_FFT // 2 + 1), np.arange(N_FFT)) / N_FFT
    return (np.cos(phase) * window)[:, None, :], (-np.sin(phase) * window)[:, None, :]


class _Tensors:
    """Collects laion's state dict in key order; random values come from a per-key stream."""

    def __init__(self) -> None:
        self.values: dict[str, np.ndarray] = {}

    @staticmethod
    def _normal(key: str, shape: tuple[int, ...]) -> np.ndarray:
        return np.random.default_rng(zlib.crc32(key.encode())).standard_normal(shape)

    def put(self, key: str, value) -> None:
        self.values[key] = np.asarray(value)

    def random(self, key: str, shape: tuple[int, ...], scale: float, offset: float = 0.0) -> None:
        self.values[key] = offset + scale * self._normal(key, shape)

    def linear(self, prefix: str, out_dim: int, in_dim: int, bias: bool = True) -> None:
        self.random(f"{prefix}.weight", (out_dim, in_dim), 1 / math.sqrt(in_dim))
        if bias:
            self.random(f"{prefix}.bias", (out_dim,), 0.02)

    def layer_norm(self, prefix: str, dim: int) -> None:
        self.random(f"{prefix}.weight", (dim,), 0.1, offset=1.0)
        self.random(f"{prefix}.bias", (dim,), 0.1)


def _audio_branch(t: _Tensors, prefix: str) -> int:
    real, imag = _stft_kernels()
    t.put(f"{prefix}.spectrogram_extractor.stft.conv_real.weight", real)
    t.put(f"{prefix}.spectrogram_extractor.stft.conv_imag.weight", imag)
    mel = librosa.filters.mel(sr=CLAP_SAMPLE_RATE, n_fft=N_FFT, n_mels=MEL_BINS, fmin=FMIN, fmax=FMAX)
    t.put(f"{prefix}.logmel_extractor.melW", mel.T)
    t.random(f"{prefix}.bn0.weight", (MEL_BINS,), 0.1, offset=1.0)
    t.random(f"{prefix}.bn0.bias", (MEL_BINS,), 0.1)
    t.random(f"{prefix}.bn0.running_mean", (MEL_BINS,), 5.0, offset=-30.0)  # log-mel in dB
    t.put(f"{prefix}.bn0.running_var", 400.0 + 50.0 * np.abs(t._normal(f"{prefix}.bn0.running_var", (MEL_BINS,))))
    t.put(f"{prefix}.bn0.num_batches_tracked", np.int64(1000))
    dim = TINY_HTSAT["embed_dim"]
    t.random(f"{prefix}.patch_embed.proj.weight", (dim, 1, PATCH, PATCH), 1 / PATCH)
    t.random(f"{prefix}.patch_embed.proj.bias", (dim,), 0.02)
    t.layer_norm(f"{prefix}.patch_embed.norm", dim)
    resolution = SPEC_SIZE // PATCH
    num_stages = len(TINY_HTSAT["depths"])
    for stage, (depth, heads) in enumerate(zip(TINY_HTSAT["depths"], TINY_HTSAT["num_heads"], strict=True)):
        window = min(WINDOW, resolution)
        for index in range(depth):
            block = f"{prefix}.layers.{stage}.blocks.{index}"
            t.layer_norm(f"{block}.norm1", dim)
            t.random(f"{block}.attn.relative_position_bias_table", ((2 * window - 1) ** 2, heads), 0.02)
            t.put(f"{block}.attn.relative_position_index", _relative_position_index(window))
            t.linear(f"{block}.attn.qkv", 3 * dim, dim)
            t.linear(f"{block}.attn.proj", dim, dim)
            t.layer_norm(f"{block}.norm2", dim)
            t.linear(f"{block}.mlp.fc1", 4 * dim, dim)
            t.linear(f"{block}.mlp.fc2", dim, 4 * dim)
            if index % 2 == 1 and resolution > WINDOW:
                t.put(f"{block}.attn_mask", _shifted_window_mask(resolution, window, window // 2))
        if stage < num_stages - 1:
            t.linear(f"{prefix}.layers.{stage}.downsample.reduction", 2 * dim, 4 * dim, bias=False)
            t.layer_norm(f"{prefix}.layers.{stage}.downsample.norm", 4 * dim)
            dim, resolution = 2 * dim, resolution // 2
    t.layer_norm(f"{prefix}.norm", dim)
    freq_rows = SPEC_SIZE // 2 ** (num_stages - 1) // PATCH // (SPEC_SIZE // MEL_BINS)
    t.random(f"{prefix}.tscam_conv.weight", (NUM_CLASSES, dim, freq_rows, 3), 0.02)
    t.random(f"{prefix}.tscam_conv.bias", (NUM_CLASSES,), 0.02)
    t.linear(f"{prefix}.head", NUM_CLASSES, NUM_CLASSES)
    return dim


def _text_branch(t: _Tensors, prefix: str) -> None:
    config = roberta_config()
    width, inner = config["hidden_size"], config["intermediate_size"]
    t.random(f"{prefix}.embeddings.word_embeddings.weight", (config["vocab_size"], width), 0.5)
    t.random(f"{prefix}.embeddings.position_embeddings.weight", (config["max_position_embeddings"], width), 0.5)
    t.random(f"{prefix}.embeddings.token_type_embeddings.weight", (config["type_vocab_size"], width), 0.5)
    t.layer_norm(f"{prefix}.embeddings.LayerNorm", width)
    # saved by the transformers the checkpoints were trained with (laion_clap 1.1.7's loader deletes it unconditionally)
    t.put(f"{prefix}.embeddings.position_ids", np.arange(config["max_position_embeddings"])[None])
    for index in range(config["num_hidden_layers"]):
        layer = f"{prefix}.encoder.layer.{index}"
        for name in ("query", "key", "value"):
            t.linear(f"{layer}.attention.self.{name}", width, width)
        t.linear(f"{layer}.attention.output.dense", width, width)
        t.layer_norm(f"{layer}.attention.output.LayerNorm", width)
        t.linear(f"{layer}.intermediate.dense", inner, width)
        t.linear(f"{layer}.output.dense", width, inner)
        t.layer_norm(f"{layer}.output.LayerNorm", width)
    t.linear(f"{prefix}.pooler.dense", width, width)


def laion_state_dict() -> dict[str, torch.Tensor]:
    """laion's `CLAP` state dict (keys as `model.state_dict()` names them, without the DDP prefix)."""
    t = _Tensors()
    audio_width = _audio_branch(t, "audio_branch")
    _text_branch(t, "text_branch")
    for branch, width in (("text", TINY_ROBERTA["hidden_size"]), ("audio", audio_width)):
        t.linear(f"{branch}_transform.sequential.0", JOINT_DIM, JOINT_DIM)
        t.linear(f"{branch}_transform.sequential.3", JOINT_DIM, JOINT_DIM)
        t.linear(f"{branch}_projection.0", JOINT_DIM, width)
        t.linear(f"{branch}_projection.2", JOINT_DIM, JOINT_DIM)
    t.put("logit_scale_a", np.log(1 / 0.07))
    t.put("logit_scale_t", np.log(1 / 0.07))
    return {
        key: torch.from_numpy(value.astype(np.int64 if value.dtype.kind == "i" else np.float32, order="C"))
        for key, value in t.values.items()
    }


def state_dict_digest(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 over every (key, dtype, shape, bytes) in key order: equal digests mean equal weights."""
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        value = state_dict[key].contiguous()
        digest.update(f"{key}|{value.dtype}|{tuple(value.shape)}|".encode())
        digest.update(value.numpy().tobytes())
    return digest.hexdigest()


def write_laion_checkpoint(path: str | Path) -> Path:
    """The tiny checkpoint as laion's training saves one: {'epoch', 'name', 'state_dict' with `module.` keys}."""
    path = Path(path)
    state = {f"module.{key}": value for key, value in laion_state_dict().items()}
    with atomic_open(path, "wb") as handle:
        torch.save({"epoch": 1, "name": "tiny-random-htsat-roberta", "state_dict": state}, handle)
    return path


# ---------------------------------------------------------------- HumanML3D's text-motion evaluator (T2M)

TINY_T2M = T2MEvaluatorConfig(
    movement_hidden=16, movement_latent=8, word_size=12, text_hidden=16, motion_hidden=16, embedding_size=8
)

# word -> (POS for the rule-based tagger, lemma): the vocabulary of the tagger and of the GloVe files
LEXICON = {
    "a": ("DET", "a"), "the": ("DET", "the"), "person": ("NOUN", "person"), "man": ("NOUN", "man"),
    "woman": ("NOUN", "woman"), "walks": ("VERB", "walk"), "walking": ("VERB", "walk"), "runs": ("VERB", "run"),
    "jumps": ("VERB", "jump"), "kicks": ("VERB", "kick"), "turns": ("VERB", "turn"), "left": ("VERB", "leave"),
    "right": ("ADJ", "right"), "forward": ("ADV", "forward"), "slowly": ("ADV", "slowly"), "then": ("ADV", "then"),
    "and": ("CCONJ", "and"), "with": ("ADP", "with"), "his": ("PRON", "his"), "arms": ("NOUN", "arm"),
    "legs": ("NOUN", "leg"), "foot": ("NOUN", "foot"), "circle": ("NOUN", "circle"), "twice": ("ADV", "twice"),
    "dances": ("VERB", "dance"), "spins": ("VERB", "spin"), "around": ("ADP", "around"), "to": ("ADP", "to"),
    "stumbles": ("VERB", "stumble"), "waves": ("VERB", "wave"), "hand": ("NOUN", "hand"), "in": ("ADP", "in"),
    "zigzag": ("NOUN", "zigzag"), "quickly": ("ADV", "quickly"), "up": ("ADP", "up"), "sits": ("VERB", "sit"),
    "chair": ("NOUN", "chair"), "on": ("ADP", "on"), "steps": ("NOUN", "step"), "bob": ("PROPN", "bob"),
}  # fmt: skip
GLOVE_WORDS = ["sos", "eos", "unk", *sorted({lemma for _, lemma in LEXICON.values()} - {"zigzag", "bob", "wave"})]


def write_random_t2m_evaluator(directory: Path) -> dict[str, Path]:
    """{"t2m_evaluator", "glove", "spacy_model": directory}: the demo's text-motion evaluator pieces (TINY_T2M sizes,
    written once; existing files are kept). A T2MEvaluatorError, before anything is written, when spaCy is missing."""
    import_spacy()
    paths = {"t2m_evaluator": directory / "t2m", "glove": directory / "glove", "spacy_model": directory / "spacy"}
    if not (paths["t2m_evaluator"] / META / "std.npy").is_file():  # written last
        write_t2m_evaluator(paths["t2m_evaluator"], TINY_T2M)
    if not (paths["glove"] / "our_vab_idx.pkl").is_file():
        write_glove(paths["glove"], TINY_T2M.word_size)
    if not (paths["spacy_model"] / "config.cfg").is_file():
        write_spacy_tagger(paths["spacy_model"])
    return paths


def _t2m_values(name: str, shape: tuple[int, ...]) -> torch.Tensor:
    """Uniform values from a PCG64 generator seeded by the name, scaled like a fan-in initialisation; as T2M's
    init_weight, the biases of the linear and convolution layers 0 and LayerNorm the identity."""
    if name.endswith(".bias") and "gru" not in name:
        return torch.zeros(shape)
    if name.endswith("output_net.1.weight"):
        return torch.ones(shape)
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 4
    values = np.random.default_rng(zlib.crc32(name.encode())).uniform(-1.0, 1.0, shape) * np.sqrt(3.0 / fan_in)
    return torch.from_numpy(values.astype(np.float32))


def write_t2m_evaluator(root: Path, config: T2MEvaluatorConfig = T2MEvaluatorConfig()) -> Path:
    """T2M's checkpoints/t2m layout: the three encoders' state dicts, Adam state dicts, epoch and iter in
    text_mot_match/model/finest.tar; the evaluator's motion mean/std in Comp_v6_KLD005/meta/."""
    model = T2MEvaluator(config, np.zeros(config.pose_size), np.ones(config.pose_size))
    state = {}
    for part in ("movement_encoder", "text_encoder", "motion_encoder"):
        module = getattr(model, part)
        state[part] = {name: _t2m_values(f"{part}.{name}", tuple(p.shape)) for name, p in module.state_dict().items()}
    for part in ("text_encoder", "motion_encoder"):
        state[f"opt_{part}"] = torch.optim.Adam(getattr(model, part).parameters(), lr=1e-4).state_dict()
    state.update(epoch=7, iter=1234)
    (root / CHECKPOINT).parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, root / CHECKPOINT)
    (root / META).mkdir(parents=True, exist_ok=True)
    index = np.arange(config.pose_size)
    np.save(root / META / "mean.npy", (0.05 * np.sin(index * 0.3)).astype(np.float32))
    np.save(root / META / "std.npy", (0.5 + 0.25 * np.cos(index * 0.11) ** 2).astype(np.float32))
    return root


def write_glove(root: Path, dim: int = 300) -> Path:
    """our_vab_data.npy [words, dim], our_vab_words.pkl (list), our_vab_idx.pkl (word -> row), pickle protocol 3
    as T2M's files."""
    root.mkdir(parents=True, exist_ok=True)
    vectors = np.random.default_rng(300).uniform(-0.5, 0.5, (len(GLOVE_WORDS), dim))
    np.save(root / "our_vab_data.npy", vectors.astype(np.float32))
    (root / "our_vab_words.pkl").write_bytes(pickle.dumps(GLOVE_WORDS, protocol=3))
    (root / "our_vab_idx.pkl").write_bytes(pickle.dumps({w: i for i, w in enumerate(GLOVE_WORDS)}, protocol=3))
    return root


def write_spacy_tagger(root: Path) -> Path:
    """A blank English spaCy pipeline whose attribute ruler tags LEXICON's words (others get no POS) and whose
    lookup lemmatizer lemmatises them, saved with to_disk."""
    spacy = import_spacy()
    from spacy.lookups import Lookups

    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("attribute_ruler")
    for word, (pos, _) in LEXICON.items():
        ruler.add([[{"LOWER": word}]], {"POS": pos})
    lookups = Lookups()
    lookups.add_table("lemma_lookup", {word: lemma for word, (_, lemma) in LEXICON.items()})
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"}).initialize(lookups=lookups)
    nlp.to_disk(root)
    return root
