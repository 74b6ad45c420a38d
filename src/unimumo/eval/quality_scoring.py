"""Music quality of paired clips: FAD, KL and CLAP score, each clip's model outputs cached (`unimumo.eval.clip_cache`).

`score_quality(clips, metrics, models, cache_root)` is what `unimumo-eval text2music --musiccaps` and `unimumo-eval
score-music --metrics fad,kl,clap` run on (generated, reference) file pairs with a caption each:

- fad: the Frechet distance between the VGGish frame embeddings of every generated clip and those of every
  reference clip, the audio taken to 16 kHz by the default loader (`unimumo.eval.music_quality`, the published path);
- kl_softmax, kl_sigmoid: the KL divergences between the PANNs Cnn14 label distributions of each generated clip
  and its reference, averaged over the pairs, with the default loader;
- the same with each other loader variant of `music_quality.LOADERS`, labelled by its name: `fad_decimate`,
  `kl_softmax_decimate_resample`, ... (not the published numbers);
- clap: the mean cosine of each generated clip's CLAP audio embedding (48 kHz) and its caption's text embedding
  (`unimumo.eval.clap`);
- fad_clap (with fad and clap): the Frechet distance of the generated and the reference clips' CLAP audio
  embeddings, the embedding FAD users also ask for (not a published column).

The metric functions are the homes of the formulas; this module reads the files, pairs, caches and averages.
Evaluation models load only when a clip is not cached, so a rerun over cached clips loads none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unimumo.eval.clip_cache import ClipCache, checkpoint_fingerprint, file_digest, text_digest
from unimumo.eval.system_outputs import EvalInputError
from unimumo.utils.log import get_logger

logger = get_logger(__name__)

CLAP_BATCH = 32  # clips per CLAP call (My_Eval eval_clap.py's batch size)


@dataclass(frozen=True)
class QualityClip:
    clip: str  # its id (MusicCaps ytid, or the file name stem)
    generated: Path
    reference: Path
    caption: str | None = None  # CLAP's text


@dataclass(frozen=True)
class QualityModels:
    """The evaluation checkpoints, local files in the formats their projects publish."""

    vggish: str | None = None  # torchvggish's vggish-10086976.pth
    panns: str | None = None  # PANNs' Cnn14_mAP=0.431.pth (16 kHz: Cnn14_16k_mAP=0.438.pth)
    clap: str | None = None  # laion_clap's 630k-audioset-best.pt
    clap_text_model: str | None = None  # roberta-base's tokenizer and config directory
    device: str = "cpu"  # where they run

    @classmethod
    def of(cls, config) -> QualityModels:
        return cls(config.vggish, config.panns, config.clap, config.clap_text_model, config.device)


def _suffix(loader: str) -> str:
    """The metric-name suffix of an audio loader variant: none for the default (the published path)."""
    from unimumo.eval.music_quality import DEFAULT_LOADER

    return "" if loader == DEFAULT_LOADER else "_" + loader.replace("+", "_")


class _Model:
    """An evaluation model loaded on first use, with its checkpoint fingerprint (the cache key)."""

    def __init__(self, load: Callable[[], object], fingerprint: str):
        self._load, self._model, self.fingerprint = load, None, fingerprint

    def __call__(self):
        if self._model is None:
            self._model = self._load()
        return self._model


def check_models(metrics: tuple[str, ...], models: QualityModels) -> None:
    """Every evaluation checkpoint `metrics` need exists (call it before generating anything)."""
    needed = {"fad": ("vggish",), "kl": ("panns",), "clap": ("clap", "clap_text_model")}
    for metric in metrics:
        for field in needed.get(metric, ()):
            path = getattr(models, field)
            if not path or not Path(path).exists():
                raise EvalInputError(f"{path}: evaluation checkpoint not found (--{field.replace('_', '-')})")


def score_quality(
    clips: list[QualityClip], metrics: tuple[str, ...], models: QualityModels, cache_root: str | Path
) -> tuple[dict[str, float], dict, list[dict]]:
    """(values, info, per-clip entries) of `metrics` (fad, kl, clap) over `clips`; per-clip entries are in order."""
    from unimumo.eval import music_quality as mq

    check_models(metrics, models)
    cache_root = Path(cache_root)
    cache_root.mkdir(parents=True, exist_ok=True)
    if len(clips) < 2 and "fad" in metrics:
        raise EvalInputError(f"FAD needs at least 2 clips (a covariance), got {len(clips)}")
    values: dict[str, float] = {}
    info: dict = {"quality_metrics": ",".join(metrics), "cache": {}}
    per_clip = [{"clip": c.clip, "generated": str(c.generated), "reference": str(c.reference)} for c in clips]
    generated = [(c.clip, file_digest(c.generated)) for c in clips]
    reference = [(c.clip, file_digest(c.reference)) for c in clips]

    def outputs(kind: str, model: _Model, loader: str, side: str, compute) -> list[dict[str, np.ndarray]]:
        cache = ClipCache(cache_root, f"{kind}_{side}", model.fingerprint, loader)
        paths = [getattr(c, side) for c in clips]
        items = generated if side == "generated" else reference

        def run(indices: list[int]) -> list[dict[str, np.ndarray]]:
            # each file read again per model and loader: holding every clip's audio would not fit in memory
            return [compute(model(), mq.to_16k(*mq.read_audio(paths[i]), loader=loader)) for i in indices]

        results = cache.fetch_many(items, run)
        info["cache"][f"{kind}_{side}_{loader}"] = cache.summary()
        return results

    if "fad" in metrics:
        vggish = _Model(
            lambda: mq.load_vggish(models.vggish).to(models.device), checkpoint_fingerprint(models.vggish, cache_root)
        )

        def embed(model, audio_16k):
            return {"embeddings": np.asarray(mq.vggish_embeddings(model, audio_16k), dtype=np.float64)}

        for loader in mq.LOADERS:
            made, real = (outputs("vggish", vggish, loader, side, embed) for side in ("generated", "reference"))
            fad = mq.frechet_distance(*(np.concatenate([r["embeddings"] for r in side]) for side in (made, real)))
            values[f"fad{_suffix(loader)}"] = float(fad)
    if "kl" in metrics:
        panns = _Model(
            lambda: mq.load_panns(models.panns).to(models.device), checkpoint_fingerprint(models.panns, cache_root)
        )

        def classify(model, audio_16k):  # the logits alone: KL reads nothing else
            return {"logits": np.asarray(mq.panns_outputs(model, audio_16k)["logits"])}

        for loader in mq.LOADERS:
            made, real = (outputs("panns", panns, loader, side, classify) for side in ("generated", "reference"))
            for name, value in mq.kl_divergences(made, real).items():
                values[f"{name}{_suffix(loader)}"] = float(value)
            for entry, one, other in zip(per_clip, made, real):
                scores = mq.kl_divergences([one], [other])
                entry.update({f"{name}{_suffix(loader)}": float(v) for name, v in scores.items()})
    if "fad" in metrics or "kl" in metrics:
        variants = ", ".join(_suffix(name)[1:] for name in mq.LOADERS if name != mq.DEFAULT_LOADER)
        info["audio_loader"] = (
            f"{mq.DEFAULT_LOADER} for fad and kl_* (the published path); labelled variants: {variants} "
            "(unimumo.eval.music_quality.LOADERS)"
        )
    if "clap" in metrics:
        values.update(_clap(clips, models, cache_root, info, per_clip, fad="fad" in metrics))
    return values, info, per_clip


def _clap(clips, models: QualityModels, cache_root: Path, info: dict, per_clip: list[dict], fad: bool) -> dict:
    """{"clap": ...} and, with `fad`, "fad_clap": the Frechet distance of the generated and reference clips' CLAP
    audio embeddings (one per clip; not a published column)."""
    from unimumo.eval.clap import SAMPLE_RATE, clap_score, load_audio, load_clap

    missing = [c.clip for c in clips if not c.caption]
    if missing:
        raise EvalInputError(f"CLAP needs a caption for every clip; none for {', '.join(missing[:5])}")
    fingerprint = checkpoint_fingerprint(models.clap, cache_root)
    text_fingerprint = checkpoint_fingerprint(models.clap_text_model, cache_root)
    scorer = _Model(
        lambda: load_clap(models.clap, models.clap_text_model, models.device), f"{fingerprint[:16]}{text_fingerprint}"
    )

    def audio_embeddings(side: str) -> np.ndarray:
        cache = ClipCache(cache_root, f"clap_audio_{side}", scorer.fingerprint, f"{SAMPLE_RATE}hz")
        paths = [getattr(c, side) for c in clips]

        def embed(indices: list[int]) -> list[dict[str, np.ndarray]]:
            wavs = [load_audio(paths[i]) for i in indices]
            return [{"embedding": e} for e in np.asarray(scorer().audio_embeddings(wavs), dtype=np.float64)]

        items = [(c.clip, file_digest(path)) for c, path in zip(clips, paths)]
        embeddings = np.stack([r["embedding"] for r in cache.fetch_many(items, embed, CLAP_BATCH)])
        info["cache"][f"clap_audio_{side}"] = cache.summary()
        return embeddings

    def embed_text(indices: list[int]) -> list[dict[str, np.ndarray]]:
        texts = [clips[i].caption for i in indices]
        return [{"embedding": e} for e in np.asarray(scorer().text_embeddings(texts), dtype=np.float64)]

    audio = audio_embeddings("generated")
    text_cache = ClipCache(cache_root, "clap_text", scorer.fingerprint)
    captions = [(c.clip, text_digest(c.caption)) for c in clips]
    text = np.stack([r["embedding"] for r in text_cache.fetch_many(captions, embed_text, CLAP_BATCH)])
    info["cache"]["clap_text"] = text_cache.summary()
    for index, entry in enumerate(per_clip):
        entry["clap"] = float(clap_score(audio[index : index + 1], text[index : index + 1]))
    info["clap"] = "cosine of the generated clip's CLAP audio embedding (48 kHz) and its caption's text embedding"
    values = {"clap": float(clap_score(audio, text))}
    if fad:
        from unimumo.eval.music_quality import frechet_distance

        values["fad_clap"] = float(frechet_distance(audio, audio_embeddings("reference")))
        info["fad_clap"] = "Frechet distance of CLAP audio embeddings (one per clip; not a published column)"
    return values
