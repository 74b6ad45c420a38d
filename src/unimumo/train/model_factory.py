"""The model builders a stage names (`Stage.model`), and the model description export rebuilds from.

`build_unimumo`: a fresh `UniMuMoForConditionalGeneration` (preset + overrides, T5 parts from
--text-model) or, with --init-from, a checkpoint told apart by its config.json model_type: a UniMuMo
export of an earlier stage, or a transformers MusicGen directory (`musicgen`: MusicgenForConditionalGeneration,
`musicgen_decoder`: MusicgenForCausalLM) imported by `UniMuMoForConditionalGeneration.from_musicgen`.
A checkpoint fixes the model shape: an explicit model.preset must agree with it. A weight the checkpoint
does not fill is an error naming it unless a pattern of init.allow_random (--allow-random-init) allows
it. `build_captioner`: `build_unimumo`, then each block's captioning attention copied from its trained
causal self-attention (a resumed run then loads its own checkpoint over it). `build_motion_vqvae`: a
`MotionVQVAE` from its preset, normalised with the training data's feature statistics, or with
model.codebook=music a `MusicCodebookMotionVQVAE` holding the frozen encoder and codebooks of --music-codec.

The recipe holds the training loss weights (loss.music_weight / loss.motion_weight). The LM config
keeps them too, because an exported model's forward loss weighs the streams with them:
`build_unimumo` writes them into the config, fresh or --init-from, and is the only place that does.
`check_motion_tokenizer` (the LM stages' start-up check) refuses shards of another motion tokenizer than the one
an --init-from export learnt (its tokenizer record, `unimumo.models.tokenizer_record`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch

from unimumo.train.checkpoint import CheckpointError
from unimumo.train.recipes import Recipe, RecipeError
from unimumo.utils.log import get_logger

logger = get_logger(__name__)

MUSICGEN_TYPES = ("musicgen", "musicgen_decoder")


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def model_classes() -> dict[str, type]:
    """The classes a checkpoint's `model_class` may name: a fixed table (no module a file names is imported)."""
    from unimumo.models.modeling_unimumo import UniMuMoForConditionalGeneration
    from unimumo.models.motion_vqvae import MotionVQVAE
    from unimumo.models.motion_vqvae_music import MusicCodebookMotionVQVAE

    return {_class_path(cls): cls for cls in (UniMuMoForConditionalGeneration, MotionVQVAE, MusicCodebookMotionVQVAE)}


def _check_local_dirs(recipe: Recipe) -> None:
    for key in ("init_from", "text_model", "music_codec"):
        path = getattr(recipe, key)
        if path is not None and not Path(path).is_dir():
            raise FileNotFoundError(
                f"{key}: {path} is not a local directory (models are never downloaded; "
                "give a save_pretrained directory)"
            )


def build_motion_vqvae(recipe: Recipe, feature_stats: tuple | None = None) -> torch.nn.Module:
    """The motion VQ-VAE of `recipe`, on the CPU; `feature_stats` (mean, std) of the training data normalise
    a fresh one."""
    _check_local_dirs(recipe)
    from unimumo.models.motion_vqvae import MotionVQVAE, MotionVQVAEConfig
    from unimumo.models.motion_vqvae_music import MusicCodebookMotionVQVAE, motion_vqvae_class, saved_config

    if recipe.init_from:
        try:
            cls = motion_vqvae_class(saved_config(recipe.init_from))
        except ValueError as error:
            raise RecipeError(f"init_from: {error}") from None
        if (cls is MusicCodebookMotionVQVAE) != (recipe.model.codebook == "music"):
            raise RecipeError(
                f"model.codebook: {recipe.init_from} holds a {cls.__name__}, not a "
                f"{recipe.model.codebook} motion VQ-VAE"
            )
        return cls.from_pretrained(recipe.init_from, **recipe.model.config)
    config = MotionVQVAEConfig.preset(recipe.model.preset, **recipe.model.config)
    if recipe.model.codebook == "music":
        from transformers import EncodecModel

        model = MusicCodebookMotionVQVAE.from_music_codec(config, EncodecModel.from_pretrained(recipe.music_codec))
    else:
        model = MotionVQVAE(config)
    if feature_stats is not None:
        model.set_feature_stats(*feature_stats)
    return model


# UniMuMoConfig keys that count something (at least 1; MotionVQVAEConfig checks its own)
LM_SIZE_KEYS = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "ffn_dim",
    "max_position_embeddings",
    "num_codebooks",
    "codebook_size",
)


def check_model_config(builder, recipe: Recipe, window_steps: Callable[[], int] | None) -> None:
    """model.config against the config class `builder` builds, at start-up, without weights: unknown keys, sizes
    below 1, values the config refuses, and (LM stages) a window of `window_steps()` code steps longer than the
    model's positions. RecipeError naming the key."""
    from transformers import PretrainedConfig

    from unimumo.constants import NUM_CODEBOOKS
    from unimumo.models.configuration_motion_vqvae import MotionVQVAEConfig
    from unimumo.models.configuration_unimumo import UniMuMoConfig

    cls = MotionVQVAEConfig if builder is build_motion_vqvae else UniMuMoConfig
    overrides = recipe.model.config
    known = set(cls().to_dict())
    unknown = sorted(key for key in overrides if key not in known)
    if unknown:
        own = sorted(known - set(PretrainedConfig().to_dict()))
        raise RecipeError(f"model.config.{unknown[0]}: not a {cls.__name__} key (its keys: {', '.join(own)})")
    for key, value in overrides.items():
        if (
            cls is UniMuMoConfig
            and key in LM_SIZE_KEYS
            and not (isinstance(value, int) and not isinstance(value, bool) and value >= 1)
        ):
            raise RecipeError(f"model.config.{key}: must be an integer >= 1, got {value!r}")
    values = None
    if recipe.model.preset is not None:
        values = dict(preset=recipe.model.preset)
    elif recipe.init_from is not None and (Path(recipe.init_from) / "config.json").is_file():
        try:
            saved = json.loads((Path(recipe.init_from) / "config.json").read_text())
        except (OSError, ValueError):
            return  # named when the model is built
        if saved.get("model_type") != cls.model_type:
            return  # a MusicGen directory: its shape is mapped when the model is built
        values = {key: saved[key] for key in known & set(saved) if key not in ("transformers_version", "model_type")}
    if values is None:
        return
    try:
        config = cls.preset(values.pop("preset"), **overrides) if "preset" in values else cls(**{**values, **overrides})
    except (ValueError, TypeError, ZeroDivisionError) as error:
        raise RecipeError(f"model.config: {error}") from None
    if window_steps is not None:
        steps = window_steps()
        needed = steps + NUM_CODEBOOKS - 1
        if needed > config.max_position_embeddings:
            raise RecipeError(
                f"data.window_s: {steps} code steps (+ {NUM_CODEBOOKS - 1} of codebook delay = {needed} "
                f"positions) exceed the model's max_position_embeddings ({config.max_position_embeddings}); shorten "
                "data.window_s"
            )


def checkpoint_type(path: str) -> str:
    """The model_type of the checkpoint directory `path` ("unimumo" or one of MUSICGEN_TYPES)."""
    config = Path(path) / "config.json"
    try:
        model_type = json.loads(config.read_text()).get("model_type")
    except (OSError, ValueError) as error:
        raise RecipeError(f"init_from: cannot read {config}: {error}") from None
    if model_type != "unimumo" and model_type not in MUSICGEN_TYPES:
        raise RecipeError(
            f"init_from: {config} describes a {model_type!r} model; give a UniMuMo export (unimumo) "
            f"or a transformers MusicGen directory ({', '.join(MUSICGEN_TYPES)})"
        )
    return model_type


def _check_preset(recipe: Recipe, checkpoint_shape: dict) -> None:
    """An explicit model.preset must have the shape of the checkpoint the model starts from."""
    from unimumo.models.configuration_unimumo import UniMuMoConfig

    if recipe.model.preset is None:
        return
    preset_shape = UniMuMoConfig.preset(recipe.model.preset).shape
    if preset_shape != checkpoint_shape:
        raise RecipeError(
            f"model.preset: preset {recipe.model.preset!r} has the shape {preset_shape} but init_from "
            f"{recipe.init_from} has {checkpoint_shape}; drop model.preset (the checkpoint fixes the "
            "shape) or start from a checkpoint of that shape"
        )


def _from_checkpoint(recipe: Recipe, overrides: dict) -> torch.nn.Module:
    from unimumo.models.configuration_unimumo import SHAPE_KEYS, UniMuMoConfig
    from unimumo.models.modeling_unimumo import UniMuMoForConditionalGeneration
    from unimumo.models.musicgen_import import MusicGenParts, check_covered, config_kwargs_from_musicgen

    path, allow = recipe.init_from, recipe.init.allow_random
    try:
        if checkpoint_type(path) in MUSICGEN_TYPES:
            shape = config_kwargs_from_musicgen(MusicGenParts.decoder_config(path))
            _check_preset(recipe, {key: shape[key] for key in SHAPE_KEYS})
            _log_motion_start(shards_motion_tokenizer(recipe))
            return UniMuMoForConditionalGeneration.from_musicgen(
                path, text_model_dir=recipe.text_model, allow_random=allow, **overrides
            )
        _check_preset(recipe, UniMuMoConfig.from_pretrained(path).shape)
        model, info = UniMuMoForConditionalGeneration.from_pretrained(path, output_loading_info=True, **overrides)
        mismatched = [str(item) for item in info.get("mismatched_keys", [])]
        if mismatched:
            raise RecipeError(f"init_from: {path} holds weights of another shape: {', '.join(mismatched)}")
        missing = set(info.get("missing_keys", ()))
        check_covered(model.state_dict().keys(), set(model.state_dict()) - missing, allow, source=path)
        return model
    except RecipeError:
        raise
    except ValueError as error:  # weights missing or not allowed to start random, or a shape this model lacks
        raise RecipeError(f"init_from: {error}") from None


def shards_motion_tokenizer(recipe: Recipe) -> dict | None:
    """The motion tokenizer entry data.shards' manifest records ({"path", "fingerprint", "codebook"}; no
    "codebook" in manifests written before the variant was recorded); None without a readable manifest (the shard
    loader names that problem)."""
    from unimumo.shards.manifest import Manifest

    if recipe.data.shards is None:
        return None
    try:
        recorded = Manifest.load(recipe.data.shards).tokenizers.get("motion_tokenizer")
    except (OSError, ValueError):
        return None
    return recorded if isinstance(recorded, dict) and isinstance(recorded.get("fingerprint"), str) else None


def check_motion_tokenizer(recipe: Recipe) -> None:
    """An LM that starts from a UniMuMo export (init_from) trains on shards of the motion tokenizer its motion
    stream learnt (the export's tokenizer record), not on another one's codes; RecipeError naming both."""
    from unimumo.models.tokenizer_record import recorded_tokenizer

    if recipe.init_from is None or not Path(recipe.init_from).is_dir():
        return  # named when the model is built
    learnt = recorded_tokenizer(recipe.init_from, "motion_tokenizer")  # an unreadable record: TokenizerRecordError
    given = shards_motion_tokenizer(recipe)
    if learnt is None or given is None or learnt["fingerprint"] == given["fingerprint"]:
        return
    raise RecipeError(
        f"init_from: {recipe.init_from} learnt the motion codes of motion tokenizer {learnt['fingerprint'][:12]} "
        f"({learnt.get('codebook', 'unrecorded')} codebook, {learnt['path']}), but data.shards "
        f"{recipe.data.shards} holds the codes of motion tokenizer {given['fingerprint'][:12]} "
        f"({given.get('codebook', 'unrecorded')} codebook, {given.get('path')}): the same ids mean other motions. "
        "Build the shards with the motion tokenizer of the earlier stages (--motion-tokenizer), or start the chain "
        "again from stage 1 on these shards"
    )


def _log_motion_start(motion_tokenizer: dict | None) -> None:
    """What stage 1's motion embeddings, copies of MusicGen's music embeddings, mean for the shards' tokenizer."""
    codebook = (motion_tokenizer or {}).get("codebook")
    if codebook == "music":
        meaning = "the published start: motion code k of level l is music code k of level l, the same vector"
    elif codebook == "independent":
        meaning = (
            "the independent tokenizer's ids are unrelated to the music codes, so the copy carries MusicGen's "
            "embedding scale and statistics, not meaning"
        )
    else:
        meaning = "the shards' manifest does not record which motion tokenizer variant made their codes"
    logger.info("motion embeddings and heads start as copies of MusicGen's music ones (%s)", meaning)


def build_unimumo(recipe: Recipe, feature_stats: tuple | None = None) -> torch.nn.Module:
    """The UniMuMo LM of `recipe`, on the CPU, with the recipe's config overrides and loss weights.

    `feature_stats` is part of the builder signature (`Stage.model`); the LM has no use for it.
    """
    _check_local_dirs(recipe)
    from unimumo.models.configuration_unimumo import UniMuMoConfig
    from unimumo.models.modeling_unimumo import UniMuMoForConditionalGeneration

    overrides = dict(
        recipe.model.config, music_loss_weight=recipe.loss.music_weight, motion_loss_weight=recipe.loss.motion_weight
    )
    if recipe.init_from:
        return _from_checkpoint(recipe, overrides)
    config = UniMuMoConfig.preset(recipe.model.preset, **overrides)
    return UniMuMoForConditionalGeneration.from_components(config, text_model_dir=recipe.text_model)


def build_captioner(recipe: Recipe, feature_stats: tuple | None = None) -> torch.nn.Module:
    """`build_unimumo` whose captioning attention starts as the (trained) causal self-attention."""
    model = build_unimumo(recipe, feature_stats)
    model.init_captioning_attention()
    return model


def describe(model: torch.nn.Module) -> dict:
    """What export needs to rebuild the model class around a consolidated state dict."""
    return {"model_class": _class_path(type(model)), "model_config": model.config.to_dict()}


def rebuild(description: dict) -> torch.nn.Module:
    """An instance of the described model class with the described config (weights random)."""
    classes = model_classes()
    name = description.get("model_class")
    if name not in classes:
        raise CheckpointError(f"model_class: {name!r} is not a UniMuMo model class (one of {', '.join(classes)})")
    cls = classes[name]
    config = cls.config_class.from_dict(description["model_config"])
    return cls(config)
