"""The demo's text -> music inputs: a MusicCaps-format set made from the synthetic corpus, and random-weight
VGGish / PANNs Cnn14 checkpoints in their projects' published formats.

`write_musiccaps_set` writes musiccaps-public.csv (MusicCaps' columns; ytid = the track id, caption = its tempo
caption) and each track's first seconds as a 16-bit wav named by ytid (the reference clips). `write_random_models`
writes torchvggish's format (the VGG state dict) and PANNs' (`{"model": state dict}`) with He-initialised random
weights (Cnn14's front end the published STFT / mel values, its input BatchNorm set for log-mel dB): the FAD and KL
they give show the pipeline, not the quality of any music.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import torch

from unimumo.data.captions import MUSIC_TEMPLATES, music_caption
from unimumo.eval.beats_metrics import load_music
from unimumo.eval.musiccaps import REQUIRED_COLUMNS
from unimumo.eval.render import write_wav
from unimumo.utils.io import atomic_open, atomic_write_text

SAMPLING_RATE = 32000
CLIP_SECONDS = 10.0  # MusicCaps clips are 10 s


def write_musiccaps_set(
    corpus: str | Path, directory: Path, count: int, seconds: float = CLIP_SECONDS
) -> tuple[Path, Path]:
    """(directory/musiccaps-public.csv, directory/audio) for the corpus's first `count` good Music4All tracks, each
    reference clip its first `seconds`."""
    corpus = Path(corpus)
    tracks = [item for item in json.loads((corpus / "corpus.json").read_text())["music4all"] if item["kind"] == "good"]
    audio = directory / "audio"
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow([*REQUIRED_COLUMNS, "aspect_list"])
    for item in tracks[:count]:
        caption = music_caption(
            genre="", tempo=item["bpm"], key=None, energy=None, tags=[], template=MUSIC_TEMPLATES[1]
        )
        writer.writerow([item["id"], 0, seconds, caption, "[]"])
        wav = load_music(corpus / "music4all" / "audios" / Path(item["path"]).name, SAMPLING_RATE)
        write_wav(audio / f"{item['id']}.wav", wav[: int(seconds * SAMPLING_RATE)], SAMPLING_RATE)
    atomic_write_text(directory / "musiccaps-public.csv", rows.getvalue())
    return directory / "musiccaps-public.csv", audio


def write_random_models(directory: Path, seed: int = 0) -> dict[str, Path]:
    """{"vggish": file, "panns": file}: random-weight checkpoints (written once; an existing file is kept)."""
    from unimumo.eval.panns import Cnn14, front_end_state
    from unimumo.eval.vggish import VGGish

    paths = {"vggish": directory / "vggish-random.pth", "panns": directory / "Cnn14_16k-random.pth"}
    torch.manual_seed(seed)
    if not paths["vggish"].is_file():
        with atomic_open(paths["vggish"], "wb") as handle:
            torch.save(_he_initialised(VGGish()).state_dict(), handle)
    if not paths["panns"].is_file():
        state = _he_initialised(Cnn14()).state_dict()
        state.update(front_end_state())
        state["bn0.running_mean"] = torch.full_like(state["bn0.running_mean"], -30.0)  # log-mel in dB
        state["bn0.running_var"] = torch.full_like(state["bn0.running_var"], 400.0)
        with atomic_open(paths["panns"], "wb") as handle:
            torch.save({"model": state}, handle)
    return paths



def _he_initialised(model: torch.nn.Module) -> torch.nn.Module:
    """He-uniform weights and zero biases for every convolution and linear layer, so that activations keep their
    scale through the real depth and different clips give different outputs (torch's default shrinks them to a
    constant)."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                torch.nn.init.kaiming_uniform_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    module.bias.zero_()
    return model
