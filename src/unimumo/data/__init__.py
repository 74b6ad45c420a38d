"""Data: raw-source readers, captions, pairing and time warp, the offline shard builder and slice merge, the
synthetic corpus."""
