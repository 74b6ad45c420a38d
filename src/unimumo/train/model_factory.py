"""The model builders a stage names (`Stage.model`), and the model description export rebuilds from.

`build_unimumo`: a fresh `UniMuMoForConditionalGeneration` (preset + overrides, T5 parts from
--text-model) or, with --init-from, the export of an earlier stage. `build_motion_vqvae`: a
`MotionVQVAE` from its preset, normalised with the training data's feature statistics.

The recipe holds the training loss weights (loss.music_weight / loss.motion_weight). The LM config
keeps them too, because an exported model's forward loss weighs the streams with them:
`build_unimumo` writes them into the config, fresh or --init-from, and is the only place that does.
"""
from __future__ import annotations

import importlib
from pathlib import Path

import torch

from unimumo.train.recipes import Recipe


def _class_path(model: torch.nn.Module) -> str:
    return f"{type(model).__module__}.{type(model).__qualname__}"


def import_class(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _check_local_dirs(recipe: Recipe) -> None:
    for key in ("init_from", "text_model"):
        path = getattr(recipe, key)
        if path is not None and not Path(path).is_dir():
            raise FileNotFoundError(f"{key}: {path} is not a local directory (models are never downloaded; "
                                    "give a save_pretrained directory)")


def build_motion_vqvae(recipe: Recipe, feature_stats: tuple | None = None) -> torch.nn.Module:
    """The motion VQ-VAE of `recipe`, on the CPU; `feature_stats` (mean, std) of the training data normalise
    a fresh one."""
    _check_local_dirs(recipe)
    from unimumo.models.motion_vqvae import MotionVQVAE, MotionVQVAEConfig

    if recipe.init_from:
        return MotionVQVAE.from_pretrained(recipe.init_from, **recipe.model.config)
    model = MotionVQVAE(MotionVQVAEConfig.preset(recipe.model.preset, **recipe.model.config))
    if feature_stats is not None:
        model.set_feature_stats(*feature_stats)
    return model


def build_unimumo(recipe: Recipe, feature_stats: tuple | None = None) -> torch.nn.Module:
    """The UniMuMo LM of `recipe`, on the CPU, with the recipe's config overrides and loss weights.

    `feature_stats` is part of the builder signature (`Stage.model`); the LM has no use for it.
    """
    _check_local_dirs(recipe)
    from unimumo.models.configuration_unimumo import UniMuMoConfig
    from unimumo.models.modeling_unimumo import UniMuMoForConditionalGeneration

    overrides = dict(recipe.model.config, music_loss_weight=recipe.loss.music_weight,
                     motion_loss_weight=recipe.loss.motion_weight)
    if recipe.init_from:
        return UniMuMoForConditionalGeneration.from_pretrained(recipe.init_from, **overrides)
    config = UniMuMoConfig.preset(recipe.model.preset, **overrides)
    return UniMuMoForConditionalGeneration.from_components(config, text_model_dir=recipe.text_model)


def describe(model: torch.nn.Module) -> dict:
    """What export needs to rebuild the model class around a consolidated state dict."""
    return {"model_class": _class_path(model), "model_config": model.config.to_dict()}


def rebuild(description: dict) -> torch.nn.Module:
    """An instance of the described model class with the described config (weights random)."""
    cls = import_class(description["model_class"])
    config = cls.config_class.from_dict(description["model_config"])
    return cls(config)
