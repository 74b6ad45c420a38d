"""The HumanML3D text-motion evaluator (Guo et al., CVPR 2022): R-precision and the matching score (MM-Dist).

Architecture and checkpoint format as EricGuo5513/text-to-motion@72df96ec453edea2fbe9603b1d58a955eaf71636
networks/modules.py (`MovementConvEncoder`, `TextEncoderBiGRUCo`, `MotionEncoderBiGRUCo`) and
networks/evaluator_wrapper.py (EVALUATOR_UPSTREAM): the user's T2M `checkpoints/t2m` directory holds
`text_mot_match/model/finest.tar` (a dict with the three encoders' state dicts under `movement_encoder`,
`text_encoder`, `motion_encoder`, the optimizers' state dicts and `epoch`/`iter`; read with
`torch.load(weights_only=True)`, which admits tensors and plain Python values only) and the evaluator's
`Comp_v6_KLD005/meta/mean.npy` and `std.npy` (263 values each; read without pickle). The layer sizes are read from
the weights (the published ones: 263-d pose, 512-d movement latent, 512-d text and 1024-d motion GRUs, 512-d
co-embedding).

Words: GloVe as T2M ships it (`glove/our_vab_data.npy`, `our_vab_words.pkl`, `our_vab_idx.pkl`, utils/
word_vectorizer.py): the pickles are read by an unpickler that admits no global at all (a list of words and a dict
word -> row; anything else is refused). A token "word/POS" is the word's vector (the vector of `unk` for a word not
in the vocabulary, whose POS is then OTHER) and the one-hot of its POS among the 15 classes, where a word of the five
VIP lists takes its list's class. A caption is `sos/OTHER` + its first 20 tokens + `eos/OTHER`, padded with
`unk/OTHER` to 22.

Captions to tokens, as hanyangclarence/TM2T@8e8929994a8aaa115ad66928d1ea1a5909d15fcd
text_loaders/m2t_nmt_model_dataset.py `_process_text` (TEXT_UPSTREAM): hyphens removed, the sentence parsed by a
spaCy pipeline (upstream: `en_core_web_sm`, here the directory the user names, loaded with `spacy.load`: config and
msgpack/npy files, no pickle), tokens that are not alphabetic dropped, the lemma of a NOUN or VERB (except the word
"left"), the text otherwise, each with its coarse POS. HumanML3D's own captions come with these tokens
(texts/<id>.txt: `caption#word/POS ...#start#end`) and are used as they are, as upstream does.

Scoring, as TM2T final_evaluations_m2t.py `evaluate_matching_score` with T2M's utils/metrics.py
(MATCHING_UPSTREAM): motions z-normalised with the evaluator's mean/std, zero-padded or cut to 196 frames, the last
4 features (foot contacts) dropped, lengths // 4 for the motion GRU; pairs in batches of 32, an incomplete last batch
left out (`drop_last`); in each batch the rows ordered as upstream (by caption length, longest first, then by motion
length, longest first, which decides ties between equal captions), the euclidean distance matrix motion x text
(sqrt(-2ab + a^2 + b^2) in float32), R-precision top k the share of motions whose own caption is among the k
nearest, the matching score the mean distance of a motion to its own caption. Upstream shuffles the pairs with an
unseeded loader; here the caller gives the order (`unimumo-eval motion-caption` shuffles with a seed).
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from unimumo.errors import UniMuMoError

EVALUATOR_UPSTREAM = (
    "EricGuo5513/text-to-motion@72df96ec453edea2fbe9603b1d58a955eaf71636 networks/modules.py, "
    "networks/evaluator_wrapper.py, utils/word_vectorizer.py"
)
TEXT_UPSTREAM = (
    "hanyangclarence/TM2T@8e8929994a8aaa115ad66928d1ea1a5909d15fcd text_loaders/m2t_nmt_model_dataset.py _process_text"
)
MATCHING_UPSTREAM = (
    "hanyangclarence/TM2T@8e8929994a8aaa115ad66928d1ea1a5909d15fcd final_evaluations_m2t.py evaluate_matching_score, "
    "data/dataset.py Motion2TextEvalDataset; utils/metrics.py"
)
CHECKPOINT = Path("text_mot_match") / "model" / "finest.tar"
META = Path("Comp_v6_KLD005") / "meta"
GLOVE_PREFIX = "our_vab"
MAX_TEXT_LEN = 20  # caption tokens kept; + sos and eos
MAX_MOTION_FRAMES = 196
UNIT_LENGTH = 4  # frames per movement step (two stride-2 convolutions)
BATCH_SIZE = 32
TOP_K = 3
FOOT_CONTACTS = 4  # the last features of a HumanML3D pose vector, not seen by the movement encoder

# fmt: off
POS_CLASSES = (
    "VERB", "NOUN", "DET", "ADP", "NUM", "AUX", "PRON", "ADJ", "ADV",
    "Loc_VIP", "Body_VIP", "Obj_VIP", "Act_VIP", "Desc_VIP", "OTHER",
)
VIP_LISTS = {  # T2M's word lists; a word of a list takes the list's POS class (no word is in two lists)
    "Loc_VIP": ("left", "right", "clockwise", "counterclockwise", "anticlockwise", "forward", "back", "backward",
                "up", "down", "straight", "curve"),
    "Body_VIP": ("arm", "chin", "foot", "feet", "face", "hand", "mouth", "leg", "waist", "eye", "knee", "shoulder",
                 "thigh"),
    "Obj_VIP": ("stair", "dumbbell", "chair", "window", "floor", "car", "ball", "handrail", "baseball", "basketball"),
    "Act_VIP": ("walk", "run", "swing", "pick", "bring", "kick", "put", "squat", "throw", "hop", "dance", "jump",
                "turn", "stumble", "stop", "sit", "lift", "lower", "raise", "wash", "stand", "kneel", "stroll",
                "rub", "bend", "balance", "flap", "jog", "shuffle", "lean", "rotate", "spin", "spread", "climb"),
    "Desc_VIP": ("slowly", "carefully", "fast", "careful", "slow", "quickly", "happy", "angry", "sad", "happily",
                 "angrily", "sadly"),
}
# fmt: on
VIP_WORDS = {word: pos for pos, words in VIP_LISTS.items() for word in words}


class T2MEvaluatorError(UniMuMoError):
    kind = "T2M evaluator error"


def _required(path: Path, what: str, option: str) -> Path:
    if not path.is_file():
        raise T2MEvaluatorError(f"{path}: {what} not found ({option})")
    return path


def _read_npy(path: Path, what: str, option: str) -> np.ndarray:
    """A numeric .npy file (no pickle); a missing, torn or object-array file is a T2MEvaluatorError naming it."""
    try:
        return np.load(_required(path, what, option), allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise T2MEvaluatorError(f"{path}: {what}, not a numeric .npy array ({str(error).splitlines()[0]})") from None


# ---------------------------------------------------------------------------------------------------- architecture


@dataclass(frozen=True)
class T2MEvaluatorConfig:
    """The evaluator's sizes (the published checkpoint: 263, 512, 512, 300, 512, 1024, 512)."""

    pose_size: int = 263
    movement_hidden: int = 512
    movement_latent: int = 512
    word_size: int = 300
    text_hidden: int = 512
    motion_hidden: int = 1024
    embedding_size: int = 512

    @classmethod
    def from_state_dicts(cls, states: dict[str, dict[str, torch.Tensor]]) -> T2MEvaluatorConfig:
        movement, text, motion = states["movement_encoder"], states["text_encoder"], states["motion_encoder"]
        return cls(
            pose_size=movement["main.0.weight"].shape[1] + FOOT_CONTACTS,
            movement_hidden=movement["main.0.weight"].shape[0],
            movement_latent=movement["main.3.weight"].shape[0],
            word_size=text["pos_emb.weight"].shape[0],
            text_hidden=text["input_emb.weight"].shape[0],
            motion_hidden=motion["input_emb.weight"].shape[0],
            embedding_size=text["output_net.3.weight"].shape[0],
        )


def _head(in_size: int, hidden: int, out_size: int) -> nn.Sequential:
    """Linear, LayerNorm, LeakyReLU(0.2), Linear (indices 0, 1, 2, 3 as in the checkpoint)."""
    return nn.Sequential(
        nn.Linear(in_size, hidden), nn.LayerNorm(hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, out_size)
    )


class MovementConvEncoder(nn.Module):
    """Two stride-2 convolutions (kernel 4, padding 1; dropout, LeakyReLU 0.2) and a linear layer: [B,T,D] ->
    [B,T/4,latent]."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv1d(input_size, hidden_size, 4, 2, 1),
            nn.Dropout(0.2),
            nn.LeakyReLU(0.2),
            nn.Conv1d(hidden_size, output_size, 4, 2, 1),
            nn.Dropout(0.2),
            nn.LeakyReLU(0.2),
        )
        self.out_net = nn.Linear(output_size, output_size)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.out_net(self.main(inputs.permute(0, 2, 1)).permute(0, 2, 1))


class _BiGRUEncoder(nn.Module):
    """A bidirectional GRU from a learned initial state over the first `lengths` steps; its two last states
    concatenated through the output head."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        super().__init__()
        self.input_emb = nn.Linear(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True, bidirectional=True)
        self.output_net = _head(hidden_size * 2, hidden_size, output_size)
        self.hidden = nn.Parameter(torch.zeros(2, 1, hidden_size))

    def encode(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(self.input_emb(inputs), lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, last = self.gru(packed, self.hidden.repeat(1, inputs.shape[0], 1))
        return self.output_net(torch.cat([last[0], last[1]], dim=-1))


class TextEncoderBiGRUCo(_BiGRUEncoder):
    """Word vectors plus a linear embedding of the POS one-hots, through the bidirectional GRU."""

    def __init__(self, word_size: int, pos_size: int, hidden_size: int, output_size: int):
        super().__init__(word_size, hidden_size, output_size)
        self.pos_emb = nn.Linear(pos_size, word_size)

    def forward(self, word_embs: torch.Tensor, pos_onehot: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.encode(word_embs + self.pos_emb(pos_onehot), lengths)


class MotionEncoderBiGRUCo(_BiGRUEncoder):
    """Movement latents through the bidirectional GRU."""

    def forward(self, movements: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.encode(movements, lengths)


class T2MEvaluator(nn.Module):
    """The three encoders of T2M's evaluation wrapper, and the evaluator's motion mean/std."""

    def __init__(self, config: T2MEvaluatorConfig, mean: np.ndarray, std: np.ndarray):
        super().__init__()
        self.config = config
        self.movement_encoder = MovementConvEncoder(
            config.pose_size - FOOT_CONTACTS, config.movement_hidden, config.movement_latent
        )
        self.text_encoder = TextEncoderBiGRUCo(
            config.word_size, len(POS_CLASSES), config.text_hidden, config.embedding_size
        )
        self.motion_encoder = MotionEncoderBiGRUCo(config.movement_latent, config.motion_hidden, config.embedding_size)
        self.mean, self.std = mean, std

    @classmethod
    def from_dir(cls, root: str | Path, device: str = "cpu") -> T2MEvaluator:
        """T2M's `checkpoints/t2m` directory (see the module docstring), in eval mode on `device`."""
        root = Path(root)
        option = "--t2m-evaluator names T2M's checkpoints/t2m directory"
        path = _required(root / CHECKPOINT, "the text-motion evaluator checkpoint", option)
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            raise T2MEvaluatorError(
                f"{path}: not a checkpoint of tensors and plain values (refused by weights_only loading: "
                f"{str(error).splitlines()[0]})"
            ) from None
        except (OSError, RuntimeError, EOFError) as error:
            raise T2MEvaluatorError(f"{path}: cannot read the checkpoint ({error})") from None
        names = ("movement_encoder", "text_encoder", "motion_encoder")
        missing = [n for n in names if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get(n), dict)]
        if missing:
            raise T2MEvaluatorError(f"{path}: no state dict under {', '.join(missing)} (not T2M's finest.tar?)")
        stats = []
        for name in ("mean", "std"):
            stats.append(_read_npy(root / META / f"{name}.npy", f"the evaluator's motion {name}", option))
        try:
            config = T2MEvaluatorConfig.from_state_dicts(checkpoint)
            model = cls(config, *stats)
            for name in names:
                getattr(model, name).load_state_dict(checkpoint[name])
        except (KeyError, IndexError, RuntimeError) as error:
            raise T2MEvaluatorError(f"{path}: weights do not fit the evaluator: {str(error).splitlines()[0]}") from None
        for name, stat in zip(("mean", "std"), stats):
            if stat.shape != (config.pose_size,):
                raise T2MEvaluatorError(
                    f"{root / META / (name + '.npy')}: shape {stat.shape}, the checkpoint's poses have "
                    f"{config.pose_size} features"
                )
        return model.to(device).eval()

    def motion_input(self, features: np.ndarray) -> tuple[np.ndarray, int]:
        """HumanML3D features [N, 263] at 20 fps -> (z-normalised, zero-padded or cut to 196 frames; length)."""
        motion = (np.asarray(features) - self.mean) / self.std
        out = np.zeros((MAX_MOTION_FRAMES, motion.shape[1]), dtype=np.float32)
        out[: min(len(motion), MAX_MOTION_FRAMES)] = motion[:MAX_MOTION_FRAMES]
        return out, min(len(motion), MAX_MOTION_FRAMES)

    @torch.no_grad()
    def embed_motions(self, motions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        movements = self.movement_encoder(motions[..., :-FOOT_CONTACTS])
        return self.motion_encoder(movements, lengths // UNIT_LENGTH)

    @torch.no_grad()
    def embed_texts(self, word_embs: torch.Tensor, pos_onehot: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.text_encoder(word_embs, pos_onehot, lengths)


# ------------------------------------------------------------------------------------------------------- words


class _PlainUnpickler(pickle.Unpickler):
    """Builds lists, dicts, strings and numbers only: every global (class, function) is refused."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"global '{module}.{name}' refused (only plain lists/dicts/str/int)")


def read_plain_pickle(path: Path):
    try:
        return _PlainUnpickler(io.BytesIO(path.read_bytes())).load()
    except OSError as error:
        raise T2MEvaluatorError(f"{path}: cannot read ({error.strerror or error})") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
        raise T2MEvaluatorError(f"{path}: not a plain pickle of words ({error})") from None


class WordVectors:
    """T2M's GloVe vocabulary: a token "word/POS" -> (word vector, POS one-hot)."""

    def __init__(self, vectors: np.ndarray, index: dict[str, int]):
        self.vectors, self.index = vectors, index

    @classmethod
    def from_dir(cls, root: str | Path) -> WordVectors:
        root = Path(root)
        option = "--glove names T2M's glove/ directory"
        vectors = _read_npy(root / f"{GLOVE_PREFIX}_data.npy", "the GloVe vectors", option)
        words = read_plain_pickle(_required(root / f"{GLOVE_PREFIX}_words.pkl", "the GloVe words", option))
        index = read_plain_pickle(_required(root / f"{GLOVE_PREFIX}_idx.pkl", "the GloVe word index", option))
        path = root / f"{GLOVE_PREFIX}_idx.pkl"
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise T2MEvaluatorError(f"{root / (GLOVE_PREFIX + '_words.pkl')}: expected a list of words")
        if not isinstance(index, dict) or not all(isinstance(k, str) and isinstance(v, int) for k, v in index.items()):
            raise T2MEvaluatorError(f"{path}: expected a dict word -> row")
        if vectors.ndim != 2:
            raise T2MEvaluatorError(
                f"{root / (GLOVE_PREFIX + '_data.npy')}: expected [words, dim], not {vectors.shape}"
            )
        absent = [w for w in words if not 0 <= index.get(w, -1) < len(vectors)]
        if absent or "unk" not in words:
            raise T2MEvaluatorError(
                f"{path}: no row for {', '.join(map(repr, absent[:3])) or repr('unk')} among {len(vectors)} vectors"
            )
        return cls(vectors.astype(np.float32), {w: index[w] for w in words})  # upstream: only listed words have vectors

    def token(self, token: str) -> tuple[np.ndarray, np.ndarray]:
        word, _, pos = token.partition("/")
        onehot = np.zeros(len(POS_CLASSES), dtype=np.float32)
        if word in self.index:
            pos = VIP_WORDS.get(word, pos)
            onehot[POS_CLASSES.index(pos) if pos in POS_CLASSES else POS_CLASSES.index("OTHER")] = 1
            return self.vectors[self.index[word]], onehot
        onehot[POS_CLASSES.index("OTHER")] = 1
        return self.vectors[self.index["unk"]], onehot

    def caption(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
        """(word vectors [22, D], POS one-hots [22, 15], length with sos/eos) of a caption's tokens."""
        tokens = ["sos/OTHER", *tokens[:MAX_TEXT_LEN], "eos/OTHER"]
        length = len(tokens)
        tokens += ["unk/OTHER"] * (MAX_TEXT_LEN + 2 - length)
        words, pos = zip(*map(self.token, tokens))
        return np.stack(words), np.stack(pos), length


def import_spacy():
    """The spacy module; a T2MEvaluatorError saying how to install it when it is missing (an optional extra)."""
    try:
        import spacy
    except ImportError:
        raise T2MEvaluatorError(
            "spaCy is not installed: pip install 'unimumo[eval]' (needed to tag generated captions)"
        ) from None
    return spacy


def load_spacy(path: str | Path):
    """The spaCy pipeline directory the user names (upstream: en_core_web_sm); its parser must set POS and lemma."""
    path = Path(path)
    if not (path / "config.cfg").is_file():
        raise T2MEvaluatorError(
            f"{path}: not a spaCy pipeline directory (no config.cfg; --spacy-model names e.g. en_core_web_sm's "
            "en_core_web_sm-3.x.x directory)"
        )
    spacy = import_spacy()
    try:
        return spacy.load(path)
    except (OSError, ValueError, KeyError) as error:
        raise T2MEvaluatorError(f"{path}: cannot load the spaCy pipeline ({str(error).splitlines()[0]})") from None


def caption_tokens(nlp, sentence: str) -> list[str]:
    """A generated caption as T2M's "word/POS" tokens (see the module docstring)."""
    tokens = []
    for token in nlp(sentence.strip().replace("-", "")):
        if not token.text.isalpha():
            continue
        lemma = token.pos_ in ("NOUN", "VERB") and token.text != "left"
        tokens.append(f"{token.lemma_ if lemma else token.text}/{token.pos_}")
    return tokens


# ----------------------------------------------------------------------------------------------------- scoring


def euclidean_distance_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[N1, D] x [N2, D] -> distances [N1, N2], as sqrt(-2ab + a^2 + b^2) (upstream's arithmetic)."""
    return np.sqrt(-2 * a @ b.T + np.sum(np.square(a), axis=1, keepdims=True) + np.sum(np.square(b), axis=1))


@dataclass(frozen=True)
class Pair:
    """One scored caption-motion pair: the caption's "word/POS" tokens and the motion's 20 fps features [N, 263]."""

    tokens: list[str]
    features: np.ndarray


def r_precision_and_matching(
    evaluator: T2MEvaluator, vectors: WordVectors, pairs: list[Pair], batch_size: int = BATCH_SIZE
) -> dict[str, float] | None:
    """R-precision top 1..3 and the matching score over `pairs` in the given order (None with fewer than one
    batch)."""
    num_batches = len(pairs) // batch_size
    if num_batches == 0:
        return None
    device = next(evaluator.parameters()).device
    hits, distance = np.zeros(TOP_K), 0.0
    for b in range(num_batches):
        batch = [
            (vectors.caption(p.tokens), evaluator.motion_input(p.features))
            for p in pairs[b * batch_size : (b + 1) * batch_size]
        ]
        batch.sort(key=lambda item: item[0][2], reverse=True)  # upstream's collate: longest caption first
        words, pos, text_lengths = (torch.from_numpy(np.stack(x)) for x in zip(*(text for text, _ in batch)))
        motions = torch.from_numpy(np.stack([motion for _, (motion, _) in batch]))
        lengths = [length for _, (_, length) in batch]
        align = torch.from_numpy(np.argsort(lengths)[::-1].copy())  # then by motion length, longest first
        motion_emb = evaluator.embed_motions(motions[align].to(device), torch.tensor(lengths)[align])
        text_emb = evaluator.embed_texts(words.to(device), pos.to(device), text_lengths)[align.to(device)]
        dist = euclidean_distance_matrix(motion_emb.cpu().numpy(), text_emb.cpu().numpy())
        distance += float(dist.trace())
        ranks = np.argsort(dist, axis=1)[:, :TOP_K] == np.arange(batch_size)[:, None]
        hits += np.cumsum(ranks, axis=1).astype(bool).sum(axis=0)
    size = num_batches * batch_size
    scores = {f"r_precision_top{k + 1}": float(hits[k] / size) for k in range(TOP_K)}
    return {**scores, "matching_score": distance / size}


def score_entries(
    evaluator: T2MEvaluator,
    vectors: WordVectors,
    humanml3d: str | Path,
    entries: list,
    generated_tokens: dict[str, list[str]],
    order: list[int],
    seed: int = 0,
    batch_size: int = BATCH_SIZE,
) -> dict[str, dict[str, float] | None]:
    """R-precision and matching score of HumanML3D caption entries (`humanml3d_captions.CaptionEntry`, taken in
    `order`): "this_model" pairs each entry's motion (or segment) with its motion's generated caption's tokens,
    "ground_truth" with one of the entry's own captions (chosen at random with `seed`, as upstream's random.choice)."""
    rng = np.random.default_rng(seed)
    features, model_pairs, truth_pairs = {}, [], []
    for i in order:
        entry = entries[i]
        if entry.motion_id not in features:
            path = Path(humanml3d) / "new_joint_vecs" / f"{entry.motion_id}.npy"
            features[entry.motion_id] = np.load(path, mmap_mode="r", allow_pickle=False)
        motion = features[entry.motion_id]
        motion = motion if entry.frames is None else motion[entry.frames[0] : entry.frames[1]]
        truth_pairs.append(Pair(list(entry.tokens[rng.integers(len(entry.tokens))]), motion))
        model_pairs.append(Pair(generated_tokens[entry.motion_id], motion))
    return {
        "this_model": r_precision_and_matching(evaluator, vectors, model_pairs, batch_size),
        "ground_truth": r_precision_and_matching(evaluator, vectors, truth_pairs, batch_size),
    }


MATCHING_METRICS = tuple(f"r_precision_top{k}" for k in range(1, TOP_K + 1)) + ("matching_score",)
MATCHING_REPORTED = MATCHING_METRICS + tuple(f"{m}_ground_truth" for m in MATCHING_METRICS)
PIECES = {"t2m_evaluator": "--t2m-evaluator", "glove": "--glove", "spacy_model": "--spacy-model"}


def matching_problems(config) -> list[str]:
    """A config's evaluator settings (fields t2m_evaluator, glove, spacy_model, r_precision_batch_size): all three
    directories or none."""
    missing = [option for name, option in PIECES.items() if not getattr(config, name)]
    problems = []
    if 0 < len(missing) < len(PIECES):
        needed = ", ".join(PIECES.values())
        problems.append(f"R-precision and the matching score need {needed} together: missing {', '.join(missing)}")
    if not config.r_precision_batch_size >= TOP_K:
        problems.append(f"r_precision_batch_size must be >= {TOP_K}, got {config.r_precision_batch_size}")
    return problems


@dataclass
class Matching:
    """The loaded evaluator pieces of a run (loaded before captioning, so a missing one stops it at once)."""

    evaluator: T2MEvaluator
    vectors: WordVectors
    nlp: object

    @classmethod
    def load(cls, config) -> Matching | None:
        """From a config with the fields `matching_problems` checks; None when no evaluator is named."""
        if not config.t2m_evaluator:
            return None
        evaluator = T2MEvaluator.from_dir(config.t2m_evaluator, config.device)
        return cls(evaluator, WordVectors.from_dir(config.glove), load_spacy(config.spacy_model))

    def scores(
        self, humanml3d: str | Path, entries: list, generated: dict[str, str], seed: int, batch_size: int
    ) -> dict[str, float | None]:
        """The model's R-precision and matching score, and the ground truth's (keys suffixed `_ground_truth`), on
        the entries shuffled with `seed` (None: fewer entries than one batch)."""
        tokens = {key: caption_tokens(self.nlp, caption) for key, caption in generated.items()}
        order = np.random.default_rng(seed).permutation(len(entries)).tolist()
        scores = score_entries(self.evaluator, self.vectors, humanml3d, entries, tokens, order, seed, batch_size)
        values = [(scores[column] or {}).get(m) for column in ("this_model", "ground_truth") for m in MATCHING_METRICS]
        return dict(zip(MATCHING_REPORTED, values))
