"""BVH export: parse the written file back and check forward kinematics reproduces the joints."""

import numpy as np
from scipy.spatial.transform import Rotation

from unimumo.eval.bvh import write_bvh
from unimumo.motion.skeleton import smpl_to_joints22
from unimumo.motion.synthetic_dance import synthetic_smpl_dance


def parse_bvh(text):
    """A minimal BVH reader: joint tree, offsets, channels, frame values -> positions of joints and end sites."""
    lines = iter(line.strip() for line in text.splitlines())
    nodes, stack = [], []
    for line in lines:
        if line.startswith(("ROOT", "JOINT", "End Site")):
            nodes.append({"parent": stack[-1] if stack else None, "channels": [], "end": line == "End Site"})
        elif line == "{":
            stack.append(len(nodes) - 1)
        elif line == "}":
            stack.pop()
        elif line.startswith("OFFSET"):
            nodes[stack[-1]]["offset"] = np.array(line.split()[1:], float)
        elif line.startswith("CHANNELS"):
            nodes[stack[-1]]["channels"] = line.split()[2:]
        elif line == "MOTION":
            break
    frames = int(next(lines).split()[1])
    frame_time = float(next(lines).split()[2])
    values = np.array([next(lines).split() for _ in range(frames)], float)
    positions = np.zeros((frames, len(nodes), 3))
    rotations = np.zeros((frames, len(nodes), 3, 3))
    column = 0
    for index, node in enumerate(nodes):
        count = len(node["channels"])
        chunk = values[:, column : column + count]
        column += count
        local = np.broadcast_to(np.eye(3), (frames, 3, 3))
        if count:
            assert node["channels"][-3:] == ["Zrotation", "Xrotation", "Yrotation"]
            local = Rotation.from_euler("ZXY", chunk[:, -3:], degrees=True).as_matrix()
        if node["parent"] is None:
            positions[:, index] = chunk[:, :3]
            rotations[:, index] = local
        else:
            parent = node["parent"]
            positions[:, index] = positions[:, parent] + rotations[:, parent] @ node["offset"]
            rotations[:, index] = rotations[:, parent] @ local
    return positions, frame_time, nodes


def test_bvh_round_trip_reproduces_rigid_motion(tmp_path):
    poses, trans = synthetic_smpl_dance(num_frames=40, fps=20.0, bpm=110.0, seed=5)
    joints = smpl_to_joints22(poses, trans).astype(np.float64)
    path = tmp_path / "dance.bvh"
    write_bvh(path, joints, fps=20.0)
    positions, frame_time, nodes = parse_bvh(path.read_text())
    assert frame_time == 0.05 and positions.shape == (40, 22, 3)
    assert sum(node["end"] for node in nodes) == 5  # feet, head, wrists
    # depth-first order differs from SMPL order: every written node must reproduce a distinct joint
    matched = set()
    for node_index in range(22):
        error = np.linalg.norm(joints - positions[:, node_index : node_index + 1], axis=-1).mean(axis=0)
        assert error.min() < 1e-4, f"BVH node {node_index} matches no joint (best error {error.min():.2e} m)"
        matched.add(int(error.argmin()))
    assert matched == set(range(22))
