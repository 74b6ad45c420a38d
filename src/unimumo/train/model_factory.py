"""Builds the model a recipe trains, and describes it for checkpoints so export can rebuild it.

LM stages: a fresh `UniMuMoForConditionalGeneration` (preset + overrides, T5 parts from
--text-model) or, with --init-from, the export of an earlier stage. The recipe's modality loss
weights are written into the model config. motion_vqvae: a `MotionVQVAE` from its preset.
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


def build_model(recipe: Recipe, feature_stats: tuple | None = None) -> torch.nn.Module:
    """The model of `recipe`, on the CPU, with the recipe's config overrides applied.

    `feature_stats` (mean, std) of the motion training data normalise a fresh motion VQ-VAE.
    """
    for key in ("init_from", "text_model"):
        path = getattr(recipe, key)
        if path is not None and not Path(path).is_dir():
            raise FileNotFoundError(f"{key}: {path} is not a local directory (models are never downloaded; "
                                    "give a save_pretrained directory)")
    overrides = dict(recipe.model.config)
    if recipe.name == "motion_vqvae":
        from unimumo.models.motion_vqvae import MotionVQVAE, MotionVQVAEConfig

        if recipe.init_from:
            return MotionVQVAE.from_pretrained(recipe.init_from, **overrides)
        model = MotionVQVAE(MotionVQVAEConfig.preset(recipe.model.preset, **overrides))
        if feature_stats is not None:
            model.set_feature_stats(*feature_stats)
        return model

    from unimumo.models.configuration_unimumo import UniMuMoConfig
    from unimumo.models.modeling_unimumo import UniMuMoForConditionalGeneration

    overrides.update(music_loss_weight=recipe.loss.music_weight, motion_loss_weight=recipe.loss.motion_weight)
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
