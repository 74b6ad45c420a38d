"""Readers for the raw corpora in their on-disk formats (Music4All, AIST++, HumanML3D)."""

from unimumo.data.sources.clip import MotionClip
from unimumo.data.sources.music4all import TrackInfo

__all__ = ["MotionClip", "TrackInfo"]
