"""Music, motion and text models: the UniMuMo LM, the motion VQ-VAE and tokenizer, the frozen codec wrappers.

`register_auto_classes` (run by `import unimumo`) makes `transformers.AutoConfig` / `AutoModel.from_pretrained`
load UniMuMo exports and motion tokenizer directories.
"""

from transformers import AutoConfig, AutoModel

from unimumo.models.configuration_motion_vqvae import MotionVQVAEConfig, MusicCodebookMotionVQVAEConfig
from unimumo.models.configuration_unimumo import UniMuMoConfig
from unimumo.models.modeling_unimumo import UniMuMoForConditionalGeneration
from unimumo.models.motion_tokenizer import MotionTokenizer
from unimumo.models.motion_vqvae import MotionVQVAE
from unimumo.models.motion_vqvae_music import MusicCodebookMotionVQVAE
from unimumo.models.music_codec import MusicCodec
from unimumo.models.text_tokenizer import TextTokenizer

__all__ = [
    "UniMuMoConfig",
    "UniMuMoForConditionalGeneration",
    "MotionVQVAEConfig",
    "MotionVQVAE",
    "MotionTokenizer",
    "MusicCodec",
    "TextTokenizer",
    "register_auto_classes",
]


def register_auto_classes() -> None:
    """Register the model types with AutoConfig and AutoModel; idempotent (re-registering replaces).

    The two motion tokenizers have a model type each (`unimumo_motion_vqvae`, `unimumo_motion_vqvae_music`), so
    AutoModel loads a saved tokenizer as its own variant.

    AutoModel gives the whole UniMuMoForConditionalGeneration, the class an export is saved from: its
    forward takes music/motion codes, not `input_ids`, so no task-specific auto class (causal LM,
    text-to-waveform) fits it.
    """
    for config_class, model_class in (
        (UniMuMoConfig, UniMuMoForConditionalGeneration),
        (MotionVQVAEConfig, MotionVQVAE),
        (MusicCodebookMotionVQVAEConfig, MusicCodebookMotionVQVAE),
    ):
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        AutoModel.register(config_class, model_class, exist_ok=True)
