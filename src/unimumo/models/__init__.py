"""Music, motion and text models: the UniMuMo LM, the motion VQ-VAE and the frozen codec wrappers."""
