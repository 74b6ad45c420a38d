"""Synthetic rhythmic SMPL dance motion for fixtures, demos and tests.

Every degree of freedom is a smooth function of one beat phase

    b(t) = t * bpm / 60                     (beats elapsed; beat k falls at t_k = k * 60 / bpm)
    psi(t) = pi * (b - sin(2 pi b) / (2 pi))

``psi`` advances by pi per beat and its time derivative, proportional to 1 - cos(2 pi b),
vanishes exactly on the beats. Since every joint angle and the root translation are functions
of ``psi`` alone, all joint velocities vanish on the beats: joint speed has its local minima at
t = k * 60 / bpm, k = 0, 1, 2, ... (the first beat is at t = 0) and peaks between beats.
The body sways to one side on even beats and to the other on odd beats, bounces in the knees,
swings the arms and steps slowly forward; the seed draws the amplitudes and facing.
"""

from __future__ import annotations

import numpy as np

from unimumo.motion.skeleton import NUM_SMPL_JOINTS

PELVIS_HEIGHT = 0.93  # metres above the floor for the neutral SMPL skeleton standing upright


def beat_phase(times: np.ndarray, bpm: float) -> np.ndarray:
    """psi(t): pi per beat, with zero derivative on the beats (see module docstring)."""
    beats = np.asarray(times, dtype=np.float64) * bpm / 60.0
    return np.pi * (beats - np.sin(2.0 * np.pi * beats) / (2.0 * np.pi))


def synthetic_smpl_dance(num_frames: int, fps: float, bpm: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rhythmic SMPL motion: axis-angle poses [N,72] float32 and root translation [N,3] float32 (metres).

    Joint speed has local minima on the beats t = k * 60 / bpm (first beat at t = 0).
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if not fps > 0 or not bpm > 0:
        raise ValueError(f"fps and bpm must be positive, got fps={fps}, bpm={bpm}")
    rng = np.random.default_rng(seed)
    # One extreme pose on even beats (sway = +1), the mirrored one on odd beats (sway = -1).
    # Using cos(psi) alone keeps each joint's speed unimodal between two beats.
    psi = beat_phase(np.arange(num_frames) / fps, bpm)
    sway = np.cos(psi)
    even = (1.0 + sway) / 2.0  # 1 on even beats, 0 on odd beats
    poses = np.zeros((num_frames, NUM_SMPL_JOINTS, 3))
    facing = rng.uniform(-np.pi, np.pi)
    poses[:, 0, 1] = facing + rng.uniform(0.1, 0.4) * sway  # pelvis twist around the vertical
    dip = rng.uniform(0.1, 0.4) * even  # both knees bend on even beats ...
    weight_shift = rng.uniform(0.1, 0.3)  # ... and the weight moves from one leg to the other
    for hip, knee_joint, side in ((1, 4, even), (2, 5, 1.0 - even)):
        knee = 0.1 + dip + weight_shift * side
        poses[:, hip, 0] = -0.5 * knee
        poses[:, knee_joint, 0] = knee
    poses[:, 1, 2] = poses[:, 2, 2] = rng.uniform(0.05, 0.15) * sway  # legs follow the side sway
    for spine in (3, 6, 9):
        poses[:, spine, 2] = rng.uniform(0.03, 0.1) * sway
        poses[:, spine, 0] = rng.uniform(-0.08, 0.08) * sway
    poses[:, 15, 0] = rng.uniform(-0.2, 0.2) * sway  # head nod
    arm_swing = rng.uniform(0.2, 0.6)
    poses[:, 16, 2] = -1.2 + arm_swing * sway  # left arm lowered from the T-pose
    poses[:, 17, 2] = 1.2 + arm_swing * sway  # right arm mirrored
    poses[:, 16, 1] = rng.uniform(-0.3, 0.3) * sway
    poses[:, 17, 1] = rng.uniform(-0.3, 0.3) * sway
    poses[:, 18, 1] = -(0.2 + rng.uniform(0.3, 1.2) * even)  # elbows bend on even beats
    poses[:, 19, 1] = 0.2 + rng.uniform(0.3, 1.2) * even

    trans = np.zeros((num_frames, 3))
    forward = np.array([np.sin(facing), 0.0, np.cos(facing)])
    side = np.array([np.cos(facing), 0.0, -np.sin(facing)])
    step = rng.uniform(0.0, 0.05) * psi / np.pi  # metres per beat, slowly drifting forward
    trans += step[:, None] * forward + (rng.uniform(0.03, 0.1) * sway)[:, None] * side
    trans[:, 1] = PELVIS_HEIGHT - 0.25 * dip  # the pelvis drops as the knees bend
    return poses.reshape(num_frames, 3 * NUM_SMPL_JOINTS).astype(np.float32), trans.astype(np.float32)
