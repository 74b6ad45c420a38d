"""Constants shared by the data pipeline, the models and the trainer (the task table is unimumo.tasks)."""

NUM_CODEBOOKS = 4
CODEBOOK_SIZE = 2048
SPECIAL_TOKEN_ID = 2048  # delay-pattern filler and start token; embedding tables hold CODEBOOK_SIZE + 1 rows
CODE_RATE = 50  # codes per second for both music and motion
MOTION_FEATURE_DIM = 263
NUM_JOINTS = 22
REQUEUE_EXIT_CODE = 42  # the trainer exits with this after a signal-triggered checkpoint
