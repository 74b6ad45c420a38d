"""Beat trackers on real annotated music: F-measure (+-70 ms) and tempo accuracy per track, means per candidate.

    python benchmarks/beats.py --prepare DIR      # build the annotated set from Debian packages (see below)
    python benchmarks/beats.py --data DIR [--candidates a,b]

The essentia candidates need essentia (AGPL-3.0-only, optional: pip install "unimumo[beats]"); without it the
default is the librosa candidates only.

A data directory holds <name>.wav (any rate, mono or stereo) with <name>.beats (one beat time in seconds
per line) and sources.json ({name: {"source": ..., "licence": ..., "annotation": ...}}).

`--prepare` reproduces the set used to choose `unimumo.rhythm.track_beats`'s trackers from installed Debian packages
(nothing is committed; install them first):
    apt-get install sonic-pi-samples hydrogen hydrogen-drumkits
* sonic-pi-samples (recorded loops, CC0 / CC-BY per Debian's copyright file): each loop holds a whole number
  of beats and starts on one (it is cut to loop seamlessly), so tiled to 30 s its beat grid is exact.
* hydrogen (GPL-2+ demo songs with sampled GM / TR-808 drum kits): rendered with `h2cli`; the song tempo
  (<bpm>) gives the grid from t = 0.

Scores: F-measure as mir_eval.beat.f_measure (a detection within +-70 ms of an annotation counts once; no
trimming of the first 5 s) and tempo accuracy = 60 / median inter-beat interval within 4 % of the annotated
tempo, or of its double or half (octave equivalents).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from unimumo.rhythm import ESSENTIA_SAMPLING_RATE, beats_tempo, require_beat_tracker, track_beats  # noqa: E402

SECONDS = 30.0
WINDOW = 0.07
TEMPO_TOLERANCE = 0.04
SONIC_PI = Path("/usr/share/sonic-pi/samples")
HYDROGEN = Path("/usr/share/hydrogen/data/demo_songs")
# loop -> beats in one loop (its length over the count gives the tempo in brackets)
LOOPS = {"loop_amen_full": 16, "loop_breakbeat": 4, "loop_compus": 16, "loop_garzul": 16, "loop_mika": 16,
         "loop_safari": 16, "loop_tabla": 16, "loop_industrial": 2, "loop_mehackit1": 4, "loop_perc1": 4}
LOOP_LICENCE = "CC0-1.0 / CC-BY (sonic-pi-samples, /usr/share/doc/sonic-pi-samples/copyright)"
HYDROGEN_LICENCE = "GPL-2+ (hydrogen, hydrogen-drumkits: /usr/share/doc/hydrogen/copyright)"


def f_measure(reference: np.ndarray, estimated: np.ndarray, window: float = WINDOW) -> float:
    """mir_eval.beat.f_measure: greedy one-to-one matching within +-window seconds."""
    if reference.size == 0 or estimated.size == 0:
        return 0.0
    used = np.zeros(estimated.size, dtype=bool)
    hits = 0
    for beat in reference:
        distance = np.where(used, np.inf, np.abs(estimated - beat))
        best = int(np.argmin(distance))
        if distance[best] <= window:
            used[best] = True
            hits += 1
    precision, recall = hits / estimated.size, hits / reference.size
    return 0.0 if hits == 0 else 2 * precision * recall / (precision + recall)


def tempo_ok(estimated: float, reference: float) -> bool:
    return any(abs(estimated - reference * factor) <= TEMPO_TOLERANCE * reference * factor for factor in (0.5, 1, 2))


def librosa_beats(wav: np.ndarray, sr: int, *, trim: bool, percussive: bool) -> np.ndarray:
    import librosa

    if percussive:
        onset = librosa.onset.onset_strength(y=librosa.effects.percussive(wav), sr=sr, aggregate=np.median)
        _, beats = librosa.beat.beat_track(onset_envelope=onset, sr=sr, trim=trim, units="time")
    else:
        _, beats = librosa.beat.beat_track(y=wav, sr=sr, trim=trim, units="time")
    return np.asarray(beats, dtype=np.float64)


def essentia_degara_beats(wav: np.ndarray, sr: int) -> np.ndarray:
    import essentia.standard as es
    import librosa

    audio = librosa.resample(wav, orig_sr=sr, target_sr=ESSENTIA_SAMPLING_RATE) if sr != ESSENTIA_SAMPLING_RATE else wav
    return np.asarray(es.RhythmExtractor2013(method="degara")(audio.astype(np.float32))[1], dtype=np.float64)


CANDIDATES = {
    "librosa_default": lambda wav, sr: librosa_beats(wav, sr, trim=True, percussive=False),
    "librosa_untrimmed": lambda wav, sr: track_beats(wav, sr, "librosa").beats,  # builder: --beat-tracker librosa
    "librosa_percussive": lambda wav, sr: librosa_beats(wav, sr, trim=False, percussive=True),
    "essentia_degara": essentia_degara_beats,
    "essentia_multifeature": lambda wav, sr: track_beats(wav, sr, "essentia").beats,  # --beat-tracker essentia
}
ESSENTIA_CANDIDATES = ("essentia_degara", "essentia_multifeature")


def default_candidates() -> list[str]:
    """Every candidate, less essentia's when essentia is not installed."""
    try:
        require_beat_tracker("essentia")
    except ValueError:
        return [name for name in CANDIDATES if name not in ESSENTIA_CANDIDATES]
    return list(CANDIDATES)


def prepare(out: Path) -> None:
    """Write the annotated set from the installed Debian packages (see the module docstring)."""
    import soundfile

    out.mkdir(parents=True, exist_ok=True)
    sources = {}
    for loop, count in LOOPS.items():
        path = SONIC_PI / f"{loop}.flac"
        if not path.is_file():
            raise SystemExit(f"{path}: missing; apt-get install sonic-pi-samples")
        wav, sr = soundfile.read(path, dtype="float32", always_2d=True)
        length = len(wav) / sr
        tiled = np.tile(wav, (int(np.ceil(SECONDS / length)), 1))[: int(SECONDS * sr)]
        soundfile.write(out / f"{loop}.wav", tiled, sr)
        beats = np.arange(0.0, SECONDS, length / count)
        np.savetxt(out / f"{loop}.beats", beats, fmt="%.6f")
        sources[loop] = {"source": f"sonic-pi-samples {path.name}", "licence": LOOP_LICENCE,
                         "annotation": f"{count} beats per {length:.4f} s loop, tiled",
                         "bpm": round(60 * count / length, 3)}
    if shutil.which("h2cli") is None:
        raise SystemExit("h2cli: missing; apt-get install hydrogen hydrogen-drumkits")
    with tempfile.TemporaryDirectory() as scratch:
        for song in sorted(HYDROGEN.glob("*.h2song")):
            bpm = float(ElementTree.parse(song).getroot().findtext("bpm"))
            rendered = Path(scratch) / f"{song.stem}.wav"
            subprocess.run(["h2cli", "-s", str(song), "-o", str(rendered)], check=True, capture_output=True,
                           timeout=600)
            wav, sr = soundfile.read(rendered, dtype="float32", always_2d=True)
            wav = wav[: int(SECONDS * sr)]
            soundfile.write(out / f"{song.stem}.wav", wav, sr)
            np.savetxt(out / f"{song.stem}.beats", np.arange(0.0, len(wav) / sr, 60.0 / bpm), fmt="%.6f")
            sources[song.stem] = {"source": f"hydrogen {song.name} rendered with h2cli", "licence": HYDROGEN_LICENCE,
                                  "annotation": f"song tempo {bpm} bpm from t = 0", "bpm": bpm}
    (out / "sources.json").write_text(json.dumps(sources, indent=1) + "\n")
    print(f"wrote {len(sources)} tracks to {out}")


def evaluate(data: Path, names: list[str], sampling_rate: int) -> dict:
    import librosa

    tracks = sorted(path.stem for path in data.glob("*.beats"))
    if not tracks:
        raise SystemExit(f"{data}: no <name>.beats files")
    results = {name: {} for name in names}
    seconds = dict.fromkeys(names, 0.0)
    for track in tracks:
        wav, _ = librosa.load(data / f"{track}.wav", sr=sampling_rate, mono=True)
        reference = np.loadtxt(data / f"{track}.beats", ndmin=1)
        reference = reference[reference < len(wav) / sampling_rate]
        true_tempo = beats_tempo(reference)
        for name in names:
            start = time.perf_counter()
            beats = CANDIDATES[name](wav, sampling_rate)
            seconds[name] += time.perf_counter() - start
            tempo = beats_tempo(beats)
            results[name][track] = {"f": f_measure(reference, beats), "tempo": tempo, "true_tempo": true_tempo,
                                    "tempo_ok": bool(tempo_ok(tempo, true_tempo))}
    return {"tracks": tracks, "results": results, "seconds": seconds}


def report(summary: dict) -> None:
    names = list(summary["results"])
    width = max(len(track) for track in summary["tracks"])
    print(f"{'track':{width}}  {'bpm':>6}  " + "  ".join(f"{name:>21}" for name in names))
    for track in summary["tracks"]:
        row = [summary["results"][name][track] for name in names]
        cells = [f"F {r['f']:.3f} {r['tempo']:6.1f}{'' if r['tempo_ok'] else '*'}" for r in row]
        print(f"{track:{width}}  {row[0]['true_tempo']:6.1f}  " + "  ".join(f"{c:>21}" for c in cells))
    print("(* = tempo off by more than 4 %, octave equivalents allowed)")
    for name in names:
        values = list(summary["results"][name].values())
        scores = np.array([v["f"] for v in values])
        print(f"{name:22} mean F {scores.mean():.3f}  median F {np.median(scores):.3f}  "
              f"F>=0.85 {int((scores >= 0.85).sum())}/{len(values)}  "
              f"tempo ok {sum(v['tempo_ok'] for v in values)}/{len(values)}  "
              f"both {sum(v['tempo_ok'] and v['f'] >= 0.85 for v in values)}/{len(values)}  "
              f"time {summary['seconds'][name]:.1f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prepare", type=Path, help="write the annotated set from Debian packages to DIR")
    parser.add_argument("--data", type=Path, help="directory of <name>.wav + <name>.beats to score")
    parser.add_argument("--candidates", default=",".join(default_candidates()), help="comma-separated subset of: "
                        + ", ".join(CANDIDATES) + " (default: all, less essentia's when it is not installed)")
    parser.add_argument("--sampling-rate", type=int, default=32000, help="decode rate (the codec's: 32000)")
    parser.add_argument("--json", type=Path, help="also write the per-track results here")
    args = parser.parse_args(argv)
    if args.prepare is None and args.data is None:
        parser.error("give --prepare DIR and/or --data DIR")
    if args.prepare is not None:
        prepare(args.prepare)
    if args.data is not None:
        names = [name for name in args.candidates.split(",") if name]
        unknown = sorted(set(names) - set(CANDIDATES))
        if unknown:
            parser.error(f"unknown candidates {unknown}; choose from {list(CANDIDATES)}")
        if set(names) & set(ESSENTIA_CANDIDATES):
            try:
                require_beat_tracker("essentia")
            except ValueError as error:
                parser.error(str(error))
        summary = evaluate(args.data, names, args.sampling_rate)
        report(summary)
        if args.json:
            args.json.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
