"""Command-line entry points: unimumo-shards, unimumo-train, unimumo-eval."""
