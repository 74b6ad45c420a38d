"""Motion representation: SMPL skeleton, forward kinematics, HumanML3D 263-d features, resampling."""
