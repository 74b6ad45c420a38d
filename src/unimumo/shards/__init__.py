"""The shard format, both sides: sample schema, manifest, writer, reader, verify and inspect."""
