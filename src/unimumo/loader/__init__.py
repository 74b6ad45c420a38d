"""The training stream: shards -> windows -> batches, resumable per (rank, worker)."""
