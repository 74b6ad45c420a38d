"""MotionClip: one motion sequence as read from any motion corpus (features, optional joints, captions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class MotionClip:
    id: str
    source: str  # "aist" | "humanml3d" | "dancedb"
    path: Path
    fps: float
    features: np.ndarray  # [N,263] float32
    joints: np.ndarray | None = None  # [N,22,3]
    genre: str | None = None
    feeling: str | None = None  # a DanceDB take's mood (its file name's second word), for the motion caption
    captions: list[str] = field(default_factory=list)
