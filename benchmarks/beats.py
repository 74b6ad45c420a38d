"""Beat trackers on real annotated music: F-measure (+-70 ms) and tempo accuracy per track, means per candidate.

    python benchmarks/beats.py --prepare DIR      # build the annotated set from Debian packages (see below)
    python benchmarks/beats.py --prepare-held-out DIR   # songs the steady tracker was not tuned on
    python benchmarks/beats.py --data DIR [--data DIR2 ...] [--candidates a,b] [--subset tuning|held-out]

The essentia candidates need essentia (AGPL-3.0-only, optional: pip install "unimumo[beats]"); without it the
default is every other candidate.

A data directory holds <name>.wav (any rate, mono or stereo) with <name>.beats (one beat time in seconds
per line) and sources.json ({name: {"source": ..., "licence": ..., "style": ..., "annotation": ...}}).

`--prepare` reproduces the set used to choose `unimumo.rhythm.track_beats`'s trackers from installed Debian packages
(nothing is committed): benchmarks/beat_data.py lists the packages to install, the sources and their licences.

Scores: F-measure as mir_eval.beat.f_measure (`unimumo.rhythm.beat_f_measure`: a detection within +-70 ms of an
annotation counts once; no trimming of the first 5 s) and tempo accuracy: the tempo from the beats
(`unimumo.rhythm.beats_tempo`, as the builder stores it) within 4 % of the annotated tempo, or of its double or
half (octave equivalents). The steady tracker's constants were chosen on the `--prepare` set (49 tracks of five
sources), so its figures there are in-sample (mean F 0.925); on the `--prepare-held-out` set (18 songs, fixed
before any tracker ran on them) it scored 0.86, essentia's multi-feature tracker 0.85, librosa's 0.74.

Beat phase (`unimumo.rhythm.beat_phase`): the sets now keep the off-beat grooves the check used to leave out
(benchmarks/beat_data.py): written by `--prepare A --prepare-held-out B`, A holds 53 tracks and B 34 (the 19
off-beat grooves: 4 in A, 15 in B; `--on-beat-only` gives the old sets). Scored on both, `--subset tuning` holds the
53 tracks the phase rule was chosen on and `--subset held-out` the other 34 (by a hash of the name, not by set):
    python benchmarks/beats.py --data A --data B --subset held-out --candidates steady_no_phase,steady
                 tuning part (53)                    held-out part (34)
    no phase     F 0.758, F<0.5 at a right tempo 7   F 0.765, 6      (tempo right on 49/53 and 34/34)
    steady       F 0.795, 5                          F 0.794, 5
(off-beat grooves alone: tuning 0.22 -> 0.40, held out 0.28 -> 0.41; on-beat tracks unchanged, 0.90 and 0.91).

Studio recordings (`--prepare-studio C`: 24 cuts of 8 Frets on Fire songs, real multitrack recordings with their
charts' beat grids, fixed before any tracker ran on them and never tuned on):
    python benchmarks/beats.py --data C --candidates steady_no_phase,steady,librosa_default
    steady_no_phase  F 0.781, tempo right 24/24, F<0.5 at a right tempo 4
    steady           F 0.781, 24/24, 4      (the phase rule changes no cut)
    librosa_default  F 0.609, 21/24, 6
Two of the four are cuts whose onset strength peaks 0.4 beat from the chart's beats and is as strong between the
beats as on them; two are sectoid cuts whose chart grid the sync check finds ~40 ms early (benchmarks/beat_data.py).

A learned tracker on the same sets, for reference: madmom 0.16.1's RNNBeatProcessor + DBNBeatTrackingProcessor
(defaults; run outside the repository in a scratch environment, as its models are CC BY-NC-SA 4.0 and it does not
import beside numpy 2) scores mean F 0.770 on the tuning part (F<0.5 at a right tempo: 5), 0.827 on the held-out part
(4) and 0.760 on the studio cuts (4, the same four cuts as steady's, two of them again at F ~0).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from beat_data import phase_held_out, prepare, prepare_held_out, prepare_studio  # noqa: E402
from unimumo.rhythm import (  # noqa: E402
    ESSENTIA_SAMPLING_RATE,
    beat_f_measure,
    beats_tempo,
    require_beat_tracker,
    steady_beats,
    track_beats,
)

TEMPO_TOLERANCE = 0.04


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
    "steady": lambda wav, sr: track_beats(wav, sr, "steady").beats,  # the builder's default: --beat-tracker steady
    "steady_no_phase": lambda wav, sr: steady_beats(wav, sr, choose_phase=False)[0],  # steady before its phase choice
    "librosa_untrimmed": lambda wav, sr: track_beats(wav, sr, "librosa").beats,  # --beat-tracker librosa
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


SUBSETS = {
    "all": lambda name: True,
    "tuning": lambda name: not phase_held_out(name),  # the beat phase choice was tuned on these
    "held-out": phase_held_out,  # ... and measured on these (benchmarks/beat_data.py, "Phase split")
}


def find_tracks(folders: list[Path], subset: str, on_beat_only: bool) -> dict[str, Path]:
    """{track name: its folder} of the <name>.beats files in `folders` in `subset`; with `on_beat_only`, without the
    tracks whose sources.json marks "onsets_on_beat": false."""
    tracks = {}
    for folder in folders:
        sources = json.loads((folder / "sources.json").read_text()) if (folder / "sources.json").is_file() else {}
        for path in sorted(folder.glob("*.beats")):
            if on_beat_only and not sources.get(path.stem, {}).get("onsets_on_beat", True):
                continue
            if SUBSETS[subset](path.stem):
                tracks.setdefault(path.stem, folder)
    if not tracks:
        raise SystemExit(f"{[str(folder) for folder in folders]}: no <name>.beats files in subset {subset}")
    return dict(sorted(tracks.items()))


def evaluate(tracks: dict[str, Path], names: list[str], sampling_rate: int) -> dict:
    import librosa

    results = {name: {} for name in names}
    seconds = dict.fromkeys(names, 0.0)
    for track, data in tracks.items():
        wav, _ = librosa.load(data / f"{track}.wav", sr=sampling_rate, mono=True)
        reference = np.loadtxt(data / f"{track}.beats", ndmin=1)
        reference = reference[reference < len(wav) / sampling_rate]
        true_tempo = beats_tempo(reference)
        for name in names:
            start = time.perf_counter()
            beats = CANDIDATES[name](wav, sampling_rate)
            seconds[name] += time.perf_counter() - start
            tempo = beats_tempo(beats)
            results[name][track] = {
                "f": beat_f_measure(reference, beats),
                "tempo": tempo,
                "true_tempo": true_tempo,
                "tempo_ok": bool(tempo_ok(tempo, true_tempo)),
            }
    return {"tracks": list(tracks), "results": results, "seconds": seconds}


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
        print(
            f"{name:22} mean F {scores.mean():.3f}  median F {np.median(scores):.3f}  "
            f"F>=0.85 {int((scores >= 0.85).sum())}/{len(values)}  "
            f"tempo ok {sum(v['tempo_ok'] for v in values)}/{len(values)}  "
            f"both {sum(v['tempo_ok'] and v['f'] >= 0.85 for v in values)}/{len(values)}  "
            f"F<0.5 at a right tempo {sum(v['tempo_ok'] and v['f'] < 0.5 for v in values)}  "
            f"time {summary['seconds'][name]:.1f} s"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prepare", type=Path, help="write the annotated set from Debian packages to DIR")
    parser.add_argument(
        "--prepare-held-out",
        type=Path,
        help="write the held-out set (new songs, kept by the "
        "annotation checks alone; see benchmarks/beat_data.py) to DIR",
    )
    parser.add_argument(
        "--prepare-studio",
        type=Path,
        help="write the studio-recording set (Frets on Fire songs with their charts' beat grids, held out from all "
        "tuning; see benchmarks/beat_data.py) to DIR",
    )
    parser.add_argument(
        "--data", type=Path, action="append", help="directory of <name>.wav + <name>.beats to score (repeatable)"
    )
    parser.add_argument(
        "--subset",
        choices=list(SUBSETS),
        default="all",
        help="the tracks of the beat-phase tuning part, of its held-out part, or all (benchmarks/beat_data.py)",
    )
    parser.add_argument(
        "--on-beat-only",
        action="store_true",
        help='leave out the tracks whose onsets peak off their beats (sources.json "onsets_on_beat": false)',
    )
    parser.add_argument(
        "--candidates",
        default=",".join(default_candidates()),
        help="comma-separated subset of: "
        + ", ".join(CANDIDATES)
        + " (default: all, less essentia's when it is not installed)",
    )
    parser.add_argument("--sampling-rate", type=int, default=32000, help="decode rate (the codec's: 32000)")
    parser.add_argument("--json", type=Path, help="also write the per-track results here")
    args = parser.parse_args(argv)
    if args.prepare is None and args.prepare_held_out is None and args.prepare_studio is None and args.data is None:
        parser.error("give --prepare DIR, --prepare-held-out DIR, --prepare-studio DIR and/or --data DIR")
    if args.prepare is not None:
        prepare(args.prepare)
    if args.prepare_held_out is not None:
        prepare_held_out(args.prepare_held_out)
    if args.prepare_studio is not None:
        prepare_studio(args.prepare_studio)
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
        summary = evaluate(find_tracks(args.data, args.subset, args.on_beat_only), names, args.sampling_rate)
        report(summary)
        if args.json:
            args.json.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
