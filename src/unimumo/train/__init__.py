"""Training: DeepSpeed engine, stage recipes and freeze plans, checkpoints and export."""
