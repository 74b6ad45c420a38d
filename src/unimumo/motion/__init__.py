"""Motion representation: SMPL skeleton, forward kinematics, HumanML3D 263-d features, resampling.

skeleton              SMPL-24 rest offsets, kinematic tree, forward kinematics -> 22 HumanML3D joints,
                      joint-array validation
humanml3d_features    joints <-> HumanML3D features (recover_from_ric), validation, MotionFormatError
resample              frame-rate conversion (AIST++ 60 fps, HumanML3D 20 fps <-> the VQ-VAE's rate)
stats                 per-channel feature mean/std from training clips
reconstruction_error  MPJPE in millimetres
synthetic_dance       rhythmic SMPL dances whose joint speed has its minima on the beats
"""
