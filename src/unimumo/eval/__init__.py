"""Evaluation: motion features, dance / rhythm / caption metrics, benchmark runs and renderings.

dance_features.py   kinetic (3 J) and manual geometric (32) features of 22- or 24-joint motions
metric_functions.py Frechet distance (robust matrix square root), diversity, PFC
text_metrics.py  BLEU, ROUGE-L
dance_metrics.py all dance metrics of a generated set against its ground truth
protocols.py     the published metric protocols (unimumo, bailando, edge) and `corrected`
samples.py       deterministic first-N-seconds test samples read from the shards
assets.py        the model and the tokenizers (by default those recorded in the shard manifest)
chunks.py        resumable, seeded batched work cached on disk
generation.py    an evaluation session: samples, model, cached generation, decoding
dance_benchmark.py  the dance benchmarks' protocol check, ground truth (AIST++ or reconstruction), music beats
music2motion.py, text2music.py, motion2music.py, caption.py   the `unimumo-eval` commands
beats_metrics.py Beats Coverage / Beats Hit (Cralence/My_Eval) and music-dance BAS (My_Project)
system_outputs.py any system's outputs (wavs, joints .npy / .pkl / .pt read without executing anything)
scoring.py       `score-music` / `score-dance`: those outputs scored as the benchmarks score generations
aist_inputs.py   the published inputs: EDGE's slices of the AIST++ test music, D2M-GAN's test segments
aist_benchmarks.py  music2motion / motion2music on the published inputs; paper.py `unimumo-eval paper`
musiccaps.py     MusicCaps as the authors read it; text2music_musiccaps.py `text2music --musiccaps` (FAD, KL, CLAP)
quality_scoring.py  FAD / KL / CLAP of paired clips (music_quality.py, clap.py); clip_cache.py per-clip cache
synthetic_musiccaps.py  the demo's MusicCaps-format set from the synthetic corpus
random_eval_models.py  random-weight VGGish, PANNs Cnn14 and tiny LAION-CLAP in their published formats (demo, tests)
config.py, benchmarks.py  one validated config per benchmark and the benchmark registry
render.py, bvh.py  wav, joints .npy, .bvh, stick-figure GIF with beats, speed/beat plot
render_files.py  `unimumo-eval render`: those renderings of any motion / music file
report.py        metrics.json and metrics.md
The command line is `unimumo.cli.eval` (`unimumo-eval`); beats and beat alignment are `unimumo.rhythm`.
"""
