"""Small shared helpers: atomic file writes, fingerprints, seed derivation."""
