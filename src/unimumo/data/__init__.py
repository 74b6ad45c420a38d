"""Data: raw-source readers, beat alignment, the offline shard builder and the streaming loader."""
