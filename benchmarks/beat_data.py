"""The annotated real-music set for benchmarks/beats.py: `prepare(out)` writes <name>.wav (30 s), <name>.beats
(one beat time in seconds per line) and sources.json ({name: {source, licence, style, annotation, bpm, check}}).
`prepare_held_out(out)` writes, the same way, a held-out set of songs that the steady tracker was not tuned on (see
"Held out" below).

Everything comes from Debian 12 packages; nothing is committed. Install first:
    apt-get install sonic-pi-samples hydrogen hydrogen-drumkits openttd-openmsx freedoom lmms \
        fluidsynth fluid-soundfont-gm
    pip install pretty_midi librosa soundfile      # into the benchmark's environment, not pyproject.toml
Sources, each with its beat grid by construction:
* sonic-pi-samples (recorded loops, CC0-1.0 / CC-BY-3.0, /usr/share/doc/sonic-pi-samples/copyright): each loop
  holds a whole number of beats and starts on one (it is cut to loop seamlessly), so tiled to 30 s its grid is exact
  (the check below marks loop_safari, loop_tabla and loop_mehackit1, whose onsets peak between their beats).
* hydrogen demo songs (GPL-2+, sampled GM / TR-808 kits from hydrogen-drumkits, GPL-2+): rendered with `h2cli`;
  the song tempo (<bpm>) gives the grid from t = 0.
* openttd-openmsx (GPL-2.0, /usr/share/games/openttd/baseset/openmsx/license.txt) and freedoom (BSD-3-clause style
  "freedoom-license", /usr/share/doc/freedoom/copyright; the D_* music lumps of freedoom1.wad / freedoom2.wad are
  standard MIDI files): multi-instrument MIDI songs rendered with fluidsynth and the FluidR3_GM soundfont
  (fluid-soundfont-gm, MIT). pretty_midi's get_beats() on the file's tempo map and time signature gives the beats;
  the cut starts at the last beat at or before the first note (skipping a silent lead-in). A file whose notes are
  not quantized to that grid (under MIN_ON_GRID of them on its 16th / triplet subdivisions) is left out.
* lmms-common demo projects (GPL-2+, Artistic-2, BSD-2-clause, CC-BY-SA-3.0 / 4.0 per file, see
  /usr/share/doc/lmms-common/copyright): rendered headless with `lmms -r`; the project's constant tempo (no tempo
  automation: <head bpm=...> is a plain attribute) and x/4 time signature give the grid from t = 0; the cut starts
  at the last beat at or before the first audible sample.
The styles of the MIDI and LMMS songs are our reading of their titles and instruments, not the authors' labels.

Check (sources.json "check"): where the mean librosa onset strength over the annotated beats shifted by 0, 1/32, ...
31/32 of a beat peaks, and the strength at the beats over that at the half-beat offsets (near 1 or below for off-beat
heavy grooves). Until the beat-phase work these sets left out every track whose onsets peak further than
MAX_PHASE_LAG (the F-measure window) from its beats, as a doubtful grid; but every grid here is exact by construction
(a loop cut on its beats, a song's own tempo, a MIDI file's own tempo map with its notes on the grid), so those are
the grooves whose strongest onsets fall between the beats: exactly where a tracker's beat phase is tested. They are
now kept, marked "onsets_on_beat": false in sources.json (beats.py reports them apart); `--on-beat-only` in
beats.py gives the old sets (tuning 49, held out 18).

Held out (`prepare_held_out`, beats.py --prepare-held-out): every song of these packages not in the set above, kept
or left out by the checks alone (never by a tracker's result). Two sources new to the tuning, rendered with
fluidsynth as above, `apt-get install planetblupi-music-midi freedink-data` first:
* planetblupi-music-midi (GPL-3+, /usr/share/doc/planetblupi-music-midi/copyright): the game's MIDI songs;
* freedink-data (per file, /usr/share/doc/freedink-data/README-REPLACEMENTS.txt.gz and copyright: GPL-3+, public
  domain, or the original Dink Smallwood zlib-style licence): the game's MIDI songs;
and new songs of two tuned sources: the OpenMSX MIDI files not in MIDI_SONGS and the lmms-common demo projects not in
LMMS_SONGS. Also left out by rule: a MIDI file in a compound meter (6/x, 9/x, 12/x: pretty_midi's beats would be
dotted), a song shorter than a full SECONDS cut, and an LMMS project whose tempo is automated or not in x/4;
only the first 3 * SECONDS of each LMMS song are rendered (its clips starting later are dropped).
Their style is the first instruments' names (MIDI) or "electronic (LMMS demo)", not a reading of the music.

Studio recordings (`prepare_studio`, beats.py --prepare-studio), held out from all tuning: the 8 songs of
fretsonfire-songs-muldjord (CC-BY-SA-3.0, Muldjord, metal) and fretsonfire-songs-sectoid (MIT-style, Carlos Viola
Iborra, rock / metal): multitrack studio recordings (`song.ogg`, the mix without the lead guitar, and `guitar.ogg`)
made for the Frets on Fire game, whose note chart `notes.mid` the game plays in sync with them from t = 0, so the
chart's tempo map (pretty_midi get_beats(), constant per song, 4/4) is taken as the recording's grid, uncorrected.
`apt-get install fretsonfire-songs-muldjord fretsonfire-songs-sectoid`. The mix (song.ogg + guitar.ogg) is cut into
SECONDS cuts from the first beat at or after STUDIO_FIRST s and then every STUDIO_EVERY s while a cut fits in the
recording and the chart (24 cuts). Its check also reports where the guitar stem's onsets peak against the chart's
own guitar notes, a test of the sync independent of the beats: 0 to +22 ms for the muldjord songs, +25 to +56 ms for
the sectoid ones (the onset envelope itself peaks a frame or two after an onset), so a sectoid grid may sit up to
~40 ms early, a good part of the +-70 ms window. This set and its cut rule were fixed before any tracker ran on it.

Phase split (`phase_held_out`, beats.py --subset): the beat-phase choice of `unimumo.rhythm.steady_beats` was tuned
on the tracks of both sets above whose name hashes to the tuning part, and is measured on the rest (about a third),
which were fixed by this rule before any tracker's result on them was looked at. The rule: the first byte of the
SHA-256 of the track name (the .wav stem), modulo 3, is 0 for a held-out track.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import tempfile
import xml.etree.ElementTree as ElementTree
import zlib
from itertools import chain
from pathlib import Path

import numpy as np

SECONDS = 30.0
MAX_PHASE_LAG = 0.07  # the F-measure window
MIN_ON_GRID = 0.8
PHASES = 32
SONIC_PI = Path("/usr/share/sonic-pi/samples")
HYDROGEN = Path("/usr/share/hydrogen/data/demo_songs")
OPENMSX = Path("/usr/share/games/openttd/baseset/openmsx")
FREEDOOM = Path("/usr/share/games/doom")
LMMS = Path("/usr/share/lmms/projects")
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
RENDER_RATE = 44100
FRETSONFIRE = Path("/usr/share/games/fretsonfire/data/songs")
STUDIO_FIRST = 20.0
STUDIO_EVERY = 60.0
STUDIO_LICENCES = {
    "muldjord": "CC-BY-SA-3.0 (fretsonfire-songs-muldjord: /usr/share/doc/fretsonfire-songs-muldjord/copyright)",
    "sectoid": "MIT-style (fretsonfire-songs-sectoid: /usr/share/doc/fretsonfire-songs-sectoid/copyright)",
}
# loop -> beats in one loop (its length over the count gives the tempo)
LOOPS = {
    "loop_amen_full": 16,
    "loop_breakbeat": 4,
    "loop_compus": 16,
    "loop_garzul": 16,
    "loop_mika": 16,
    "loop_safari": 16,
    "loop_tabla": 16,
    "loop_industrial": 2,
    "loop_mehackit1": 4,
    "loop_perc1": 4,
}
LOOP_STYLES = {
    "loop_amen_full": "breakbeat drums",
    "loop_breakbeat": "breakbeat drums",
    "loop_compus": "electronic",
    "loop_garzul": "electronic",
    "loop_mika": "electronic",
    "loop_safari": "world percussion",
    "loop_tabla": "tabla",
    "loop_industrial": "industrial",
    "loop_mehackit1": "electronic",
    "loop_perc1": "percussion",
}
LOOP_LICENCE = "CC0-1.0 / CC-BY (sonic-pi-samples, /usr/share/doc/sonic-pi-samples/copyright)"
HYDROGEN_LICENCE = "GPL-2+ (hydrogen, hydrogen-drumkits: /usr/share/doc/hydrogen/copyright)"
OPENMSX_LICENCE = "GPL-2.0 (openttd-openmsx: /usr/share/games/openttd/baseset/openmsx/license.txt)"
FREEDOOM_LICENCE = "BSD-3-clause style freedoom-license (freedoom: /usr/share/doc/freedoom/copyright)"
SOUNDFONT_NOTE = "rendered with fluidsynth + FluidR3_GM.sf2 (fluid-soundfont-gm, MIT)"
# MIDI file (OpenMSX) or "wad:lump" (Freedoom) -> style; chosen for variety among those passing the checks (which
# fail e.g. boogi_marabi_redfarn, moo_redfarn, the_fast_route and Freedoom's unquantized D_SHAWN, D_DM2TTL), without
# compound meters (pretty_midi counts 6/4, 6/8 in dotted beats)
MIDI_SONGS = {
    "5432gone_redfarn.mid": "jazz in 5/4",
    "midnight_snow_run.mid": "pop rock",
    "train_filled_with_cash.mid": "pop (guitar, drums)",
    "ttsong_iii_imuh3.mid": "synth pop",
    "careless_perc_redfarn.mid": "slow funk (piano, slap bass)",
    "chemistry_lab.mid": "electronic, no drums",
    "city_blues_redfarn.mid": "blues",
    "coconut_run2.mid": "calypso (xylophone, bass)",
    "linns_basket.mid": "celtic folk (fiddle, flute)",
    "mighty_giant_run.mid": "rock",
    "mosey_along_redfarn.mid": "country swing",
    "say_what_redfarn.mid": "jazz funk",
    "slow_neasy_redfarn.mid": "swing",
    "ttsong_iv_imuh3.mid": "synth pop",
    "flying_scotsman.mid": "fast rock",
    "keep_on_rolling.mid": "pop rock",
    "freedoom1:D_E1M2": "hard rock",
    "freedoom1:D_E1M1": "metal",
    "freedoom1:D_E1M4": "slow rock",
    "freedoom1:D_E2M1": "metal in 7/4",
    "freedoom1:D_E2M3": "jazz rock (electric piano)",
    "freedoom1:D_E3M3": "rock",
    "freedoom1:D_E3M9": "synth",
    "freedoom2:D_MESSAG": "jazz waltz (guitar, bass)",
    "freedoom2:D_SHAWN3": "synth rock",
    "freedoom2:D_DDTBL2": "rock",
    "freedoom2:D_COUNT2": "rock",
}
# LMMS project (relative to LMMS) -> (licence, style); those rendered in reasonable time that pass the check
LMMS_SONGS = {
    "demos/CapDan/CapDan-ReggaeTry.mmpz": ("Artistic-2", "reggae"),
    "demos/CapDan/CapDan-ReggaetonTry.mmpz": ("Artistic-2", "reggaeton"),
    "demos/CapDan/CapDan-ZeroSumGame-OriginalByZakarra.mmpz": ("Artistic-2", "electronic dance"),
    "demos/EsoXLB-CPU.mmpz": ("Artistic-2", "electro"),
    "demos/CapDan/CapDan-TwilightArea-OriginalByAlf42red.mmpz": ("CC-BY-SA-3.0", "drum and bass"),
    "demos/Alf42red-Mauiwowi.mmpz": ("CC-BY-SA-3.0", "downtempo"),
    "demos/Momo64-esp.mmpz": ("Artistic-2", "trance"),
    "demos/Oglsdl-Dr8v2.mmpz": ("Artistic-2", "electro"),
    "demos/Saber-FinalStep.mmpz": ("BSD-2-clause", "electronic dance"),
}
LMMS_LICENCE = "lmms-common, /usr/share/doc/lmms-common/copyright"
BLUPI = Path("/usr/share/planetblupi/music")
DINK = Path("/usr/share/games/dink/dink/Sound")
BLUPI_LICENCE = "GPL-3+ (planetblupi-music-midi: /usr/share/doc/planetblupi-music-midi/copyright)"
DINK_DOCS = "freedink-data: /usr/share/doc/freedink-data/README-REPLACEMENTS.txt.gz, copyright"
# freedink-data MIDI file -> its licence (the original Dink Smallwood songs are under the data's zlib-style licence)
DINK_LICENCES = {
    "7.mid": "GPL-3+",
    "12.mid": "GPL-3+",
    "18.mid": "GPL-3+",
    "13.mid": "public domain",
    "104.mid": "GPL-3+ | Art Libre | CC-BY-SA (arrangement), public domain (score)",
    "105.mid": "GPL-3+ | Art Libre | CC-BY-SA (arrangement), public domain (score)",
    **dict.fromkeys(
        ("2.mid", "1003.mid", "dance.mid", "insper.mid", "lively.mid", "love.mid"), "zlib-style (Seth A. Robinson)"
    ),
}
# held-out LMMS projects -> licence (per /usr/share/doc/lmms-common/copyright; "Files: *" is GPL-2+)
HELD_OUT_LMMS = {
    "demos/Impulslogik-Zen.mmpz": "Artistic-2",
    "demos/Jousboxx-BuzzerBeater.mmpz": "CC-BY-SA-4.0",
    "demos/Oglsdl-PpTrip.mmpz": "Artistic-2",
    "demos/Settel-InnerRecreation.mmpz": "Artistic-2",
    "demos/Shovon-ProgressiveHousePluckDemo.mmpz": "GPL-2+",
    "demos/Skiessi/Skiessi-C64.mmpz": "CC-BY-SA-4.0",
    "demos/Skiessi/Skiessi-Onion.mmpz": "CC-BY-SA-4.0",
    "demos/Socceroos-Progress.mmpz": "Artistic-2",
    "demos/StrictProduction-DearJonDoe.mmp": "GPL-2+",
    "demos/TameAnderson-MakeMe.mmpz": "Artistic-2",
    "demos/Thomasso-AxeFromThe80s.mmpz": "Artistic-2",
    "shorties/Crunk(Demo).mmp": "Artistic-2",
    "shorties/DirtyLove.mmpz": "GPL-2+",
    "shorties/Greshz-CoolSnip.mmpz": "Artistic-2",
    "shorties/Skiessi-222.mmpz": "GPL-2+",
    "shorties/Surrender-Main.mmpz": "Artistic-2",
    "tutorials/editing_note_volumes.mmp": "GPL-2+",
}


def phase_held_out(name: str) -> bool:
    """Whether a track (by its .wav stem) is in the beat-phase held-out part (see "Phase split" above)."""
    return hashlib.sha256(name.encode()).digest()[0] % 3 == 0


def prepare(out: Path) -> None:
    """Write the annotated set from the installed Debian packages (see the module docstring)."""
    require(("h2cli", "hydrogen hydrogen-drumkits"), ("fluidsynth", "fluidsynth"), ("lmms", "lmms"))
    require(
        (SONIC_PI, "sonic-pi-samples"),
        (OPENMSX, "openttd-openmsx"),
        (FREEDOOM / "freedoom2.wad", "freedoom"),
        (LMMS, "lmms-common"),
        (SOUNDFONT, "fluid-soundfont-gm"),
    )
    with tempfile.TemporaryDirectory() as scratch:
        write_set(
            out,
            chain(
                loops(),
                hydrogen_songs(Path(scratch)),
                midi_songs(Path(scratch), tuned_midi()),
                lmms_songs(Path(scratch), LMMS_SONGS),
            ),
        )


def prepare_held_out(out: Path) -> None:
    """Write the held-out set: songs the steady tracker's constants never saw (see the module docstring)."""
    require(("fluidsynth", "fluidsynth"), ("lmms", "lmms"))
    require(
        (BLUPI, "planetblupi-music-midi"),
        (DINK, "freedink-data"),
        (OPENMSX, "openttd-openmsx"),
        (LMMS, "lmms-common"),
        (SOUNDFONT, "fluid-soundfont-gm"),
    )
    unlisted = {str(path.relative_to(LMMS)) for path in LMMS.rglob("*.mmp*")} - set(HELD_OUT_LMMS) - set(LMMS_SONGS)
    if unlisted:
        raise SystemExit(f"{LMMS}: projects in neither LMMS_SONGS nor HELD_OUT_LMMS: {sorted(unlisted)}")
    with tempfile.TemporaryDirectory() as scratch:
        write_set(
            out,
            chain(
                midi_songs(Path(scratch), held_out_midi()),
                lmms_songs(
                    Path(scratch),
                    {project: (licence, "electronic (LMMS demo)") for project, licence in HELD_OUT_LMMS.items()},
                    render_seconds=3 * SECONDS,
                ),
            ),
            min_seconds=SECONDS,
        )


def prepare_studio(out: Path) -> None:
    """Write the studio-recording set (see "Studio recordings" in the module docstring)."""
    require(*((FRETSONFIRE / pack, f"fretsonfire-songs-{pack}") for pack in STUDIO_LICENCES))
    write_set(out, studio_songs(), min_seconds=SECONDS)


def studio_songs():
    import pretty_midi

    for folder in sorted(path.parent for path in FRETSONFIRE.glob("*/*/notes.mid")):
        pack = folder.parent.name
        song, sr = read_audio(folder / "song.ogg")
        guitar, guitar_sr = read_audio(folder / "guitar.ogg")
        if guitar_sr != sr:
            raise SystemExit(f"{folder}: song.ogg at {sr} Hz, guitar.ogg at {guitar_sr} Hz")
        length = min(len(song), len(guitar))
        mix = (song[:length].mean(axis=1) + guitar[:length].mean(axis=1))[:, None]
        chart = pretty_midi.PrettyMIDI(str(folder / "notes.mid"))
        grid = chart.get_beats()
        notes = np.unique([note.start for part in chart.instruments for note in part.notes])
        end = min(length / sr, float(chart.get_end_time()))
        lag, _ = onset_lag(guitar[:length], sr, notes[notes < end], period=float(np.median(np.diff(grid))))
        tempi = sorted(set(np.round(chart.get_tempo_changes()[1], 2).tolist()))
        meters = [f"{change.numerator}/{change.denominator}" for change in chart.time_signature_changes] or ["4/4"]
        name = folder.name.replace(" ", "_")
        for first in np.arange(STUDIO_FIRST, end, STUDIO_EVERY):
            later = grid[grid >= first - 1e-6]
            if not later.size or later[0] + SECONDS > end:
                break
            start = float(later[0])
            clip, beats = cut(mix, sr, grid, start)
            yield (
                f"{name}_{round(start)}",
                clip,
                sr,
                beats,
                {
                    "source": f"fretsonfire-songs-{pack} {folder.name}/song.ogg + guitar.ogg (studio recording)",
                    "licence": STUDIO_LICENCES[pack],
                    "style": "metal / rock",
                    "annotation": f"notes.mid tempo map {tempi} bpm ({', '.join(meters)}), pretty_midi get_beats(); "
                    f"cut from the beat at {start:.3f} s; the guitar stem's onsets peak {1000 * lag:+.0f} ms from "
                    "the chart's guitar notes",
                    "bpm": round(60 / float(np.median(np.diff(beats))), 3),
                },
            )


def require(*needs: tuple[str | Path, str]) -> None:
    """Stop naming the package to install when a tool (a name) or a file (a Path) is missing."""
    for need, package in needs:
        if (shutil.which(need) is None) if isinstance(need, str) else not need.exists():
            raise SystemExit(f"{need}: missing; apt-get install {package}")


def write_set(out: Path, tracks, min_seconds: float = 0.0) -> None:
    """Write the tracks that last `min_seconds`, each with its beat-phase check, and sources.json."""
    out.mkdir(parents=True, exist_ok=True)
    sources = {}
    for name, wav, sr, beats, entry in tracks:
        if len(wav) < min_seconds * sr:
            print(f"left out {name} (too short): {len(wav) / sr:.1f} s")
            continue
        lag, ratio = beat_phase(wav, sr, beats)
        entry["check"] = (
            f"onsets peak {1000 * lag:+.0f} ms from the beats; onset strength at beats / at "
            f"half-beat offsets {ratio:.2f}"
        )
        entry["onsets_on_beat"] = bool(abs(lag) <= MAX_PHASE_LAG)
        write_track(out, name, wav, sr, beats)
        sources[name] = entry
        print(
            f"{name}: {entry['bpm']} bpm, {entry['check']}{'' if entry['onsets_on_beat'] else ' (off-beat)'}",
            flush=True,
        )
    (out / "sources.json").write_text(json.dumps(sources, indent=1) + "\n")
    print(f"wrote {len(sources)} tracks to {out}")


def write_track(out: Path, name: str, wav: np.ndarray, sr: int, beats: np.ndarray) -> None:
    import soundfile

    soundfile.write(out / f"{name}.wav", wav, sr)
    np.savetxt(out / f"{name}.beats", beats, fmt="%.6f")


def beat_phase(wav: np.ndarray, sr: int, beats: np.ndarray) -> tuple[float, float]:
    """Where the onsets sit against the beats: (the lag in seconds, in (-period/2, period/2], at which the mean
    onset strength over the shifted beats peaks; that strength at the beats over that at the half-beat offsets)."""
    return onset_lag(wav, sr, beats[:-1], period=float(np.median(np.diff(beats))))


def onset_lag(wav: np.ndarray, sr: int, times: np.ndarray, period: float) -> tuple[float, float]:
    """`beat_phase` for any event `times`: the lag (in (-period/2, period/2]) at which the mean onset strength over
    the shifted times peaks, and that strength at the times over that at half a period later."""
    import librosa

    hop = 256
    strength = librosa.onset.onset_strength(y=np.asarray(wav, dtype=np.float32).mean(axis=1), sr=sr, hop_length=hop)
    fractions = np.arange(PHASES) / PHASES

    def mean_at(shifted: np.ndarray) -> float:  # the max within +-1 frame, as the envelope lags onsets by about one
        frames = np.round(shifted * sr / hop).astype(int)
        frames = frames[(frames >= 1) & (frames < len(strength) - 1)]
        return float(np.max([strength[frames + shift] for shift in (-1, 0, 1)], axis=0).mean())

    profile = np.array([mean_at(times + fraction * period) for fraction in fractions])
    best = fractions[int(np.argmax(profile))]
    return float((best - (best > 0.5)) * period), profile[0] / max(profile[PHASES // 2], 1e-9)


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    import soundfile

    wav, sr = soundfile.read(path, dtype="float32", always_2d=True)
    return wav, sr


def cut(wav: np.ndarray, sr: int, grid: np.ndarray, start: float) -> tuple[np.ndarray, np.ndarray]:
    """Up to SECONDS of audio from `start` (a beat of `grid`) and the grid's beats in it, shifted to the cut."""
    clip = wav[int(round(start * sr)) : int(round(start * sr)) + int(SECONDS * sr)]
    beats = grid[(grid >= start - 1e-6) & (grid < start + len(clip) / sr)] - start
    peak = np.abs(clip).max()
    return (clip * (0.9 / peak) if peak > 0.9 else clip), np.maximum(beats, 0.0)


def loops():
    for loop, count in LOOPS.items():
        path = SONIC_PI / f"{loop}.flac"
        wav, sr = read_audio(path)
        length = len(wav) / sr
        tiled = np.tile(wav, (int(np.ceil(SECONDS / length)) + 1, 1))
        clip, beats = cut(tiled, sr, np.arange(0.0, 2 * SECONDS, length / count), 0.0)
        yield (
            loop,
            clip,
            sr,
            beats,
            {
                "source": f"sonic-pi-samples {path.name}",
                "licence": LOOP_LICENCE,
                "style": LOOP_STYLES[loop],
                "annotation": f"{count} beats per {length:.4f} s loop, tiled",
                "bpm": round(60 * count / length, 3),
            },
        )


def hydrogen_songs(scratch: Path):
    for song in sorted(HYDROGEN.glob("*.h2song")):
        bpm = float(ElementTree.parse(song).getroot().findtext("bpm"))
        rendered = scratch / f"{song.stem}.wav"
        subprocess.run(["h2cli", "-s", str(song), "-o", str(rendered)], check=True, capture_output=True, timeout=600)
        wav, sr = read_audio(rendered)
        clip, beats = cut(wav, sr, np.arange(0.0, len(wav) / sr, 60.0 / bpm), 0.0)
        yield (
            song.stem,
            clip,
            sr,
            beats,
            {
                "source": f"hydrogen {song.name} rendered with h2cli",
                "licence": HYDROGEN_LICENCE,
                "style": "drum kit groove",
                "annotation": f"song tempo {bpm} bpm from t = 0",
                "bpm": bpm,
            },
        )


def wad_lump(wad: Path, lump: str) -> bytes:
    """One lump of a Doom WAD file (header: magic, count, directory offset; entries: offset, size, 8-byte name)."""
    data = wad.read_bytes()
    _, count, directory = struct.unpack("<4sii", data[:12])
    for index in range(count):
        offset, size, name = struct.unpack("<ii8s", data[directory + 16 * index : directory + 16 * index + 16])
        if name.rstrip(b"\0").decode() == lump:
            return data[offset : offset + size]
    raise SystemExit(f"{wad}: no lump {lump}")


def truncate(midi: Path, out: Path, ticks: int) -> None:
    """Copy a MIDI file without its events after `ticks` (rendering only what is cut saves minutes)."""
    import mido

    song = mido.MidiFile(midi)
    for track in song.tracks:
        elapsed, kept = 0, mido.MidiTrack()
        for message in track:
            if elapsed + message.time > ticks:
                break
            elapsed += message.time
            kept.append(message)
        # fluidsynth renders until every voice ends: silence the held ones at the cut
        silence = [
            mido.Message("control_change", channel=channel, control=control)
            for control in (120, 123)
            for channel in range(16)
        ]  # all sound off, all notes off
        silence[0].time = ticks - elapsed
        track[:] = kept + silence
    song.save(out)


def quantized(onsets: np.ndarray, grid: np.ndarray) -> float:
    """The fraction of note onsets within 15 ms of the beats' 16th-note or triplet subdivisions: near 1 when the
    tempo map is the music's, low for a file played in freely over a nominal tempo."""
    period = np.diff(grid, append=grid[-1] + (grid[-1] - grid[-2]))
    subdivisions = (grid[:, None] + period[:, None] * np.array([0, 1 / 4, 1 / 3, 1 / 2, 2 / 3, 3 / 4])).ravel()
    return float(np.mean(np.abs(onsets[:, None] - subdivisions[None]).min(axis=1) < 0.015))


def tuned_midi():
    """(midi, name, source, licence, style) of MIDI_SONGS, the Freedoom lumps written to `scratch` by midi_songs."""
    for song, style in MIDI_SONGS.items():
        if ":" in song:
            wad, lump = song.split(":")
            yield (
                (FREEDOOM / f"{wad}.wad", lump),
                f"{wad}_{lump}",
                f"freedoom {wad}.wad lump {lump} (MIDI)",
                FREEDOOM_LICENCE,
                style,
            )
        else:
            yield OPENMSX / song, Path(song).stem, f"openttd-openmsx {song}", OPENMSX_LICENCE, style


def held_out_midi():
    """(midi, name, source, licence, style) of the held-out MIDI songs; style None: named from the instruments."""
    for midi in sorted(BLUPI.glob("*.mid")):
        yield midi, f"blupi_{midi.stem}", f"planetblupi-music-midi {midi.name}", BLUPI_LICENCE, None
    for midi in sorted(DINK.glob("*.mid")):
        yield (
            midi,
            f"dink_{midi.stem}",
            f"freedink-data dink/Sound/{midi.name}",
            f"{DINK_LICENCES[midi.name]} ({DINK_DOCS})",
            None,
        )
    for midi in sorted(OPENMSX.glob("*.mid")):
        if midi.name not in MIDI_SONGS:
            yield midi, midi.stem, f"openttd-openmsx {midi.name}", OPENMSX_LICENCE, None


def instruments(score) -> str:
    import pretty_midi

    names = dict.fromkeys(
        "drums" if part.is_drum else pretty_midi.program_to_instrument_name(part.program) for part in score.instruments
    )
    return ", ".join(list(names)[:4])


def midi_songs(scratch: Path, songs):
    """Render (midi, name, source, licence, style) songs that pass the checks; midi may be (wad, lump)."""
    import pretty_midi

    for midi, name, source, licence, style in songs:
        if isinstance(midi, tuple):
            wad, lump = midi
            midi = scratch / f"{name}.mid"
            midi.write_bytes(wad_lump(wad, lump))
        score = pretty_midi.PrettyMIDI(str(midi))
        meters = [f"{change.numerator}/{change.denominator}" for change in score.time_signature_changes]
        grid = score.get_beats()
        onsets = np.array(sorted(note.start for instrument in score.instruments for note in instrument.notes))
        start = float(grid[grid <= onsets[0] + 1e-6].max())
        on_grid = quantized(onsets[onsets < start + SECONDS], grid)
        if any(change.numerator in (6, 9, 12) for change in score.time_signature_changes):
            print(f"left out {name} (compound meter, dotted beats): time signature {meters}")
            continue
        if on_grid < MIN_ON_GRID:
            print(f"left out {name} (doubtful tempo map): {on_grid:.2f} of its notes on the 16th / triplet grid")
            continue
        rendered = scratch / f"{name}.wav"
        short = scratch / f"{name}_short.mid"
        truncate(midi, short, score.time_to_tick(start + SECONDS + 1.0))
        subprocess.run(
            [
                "fluidsynth",
                "-ni",
                "-q",
                "-O",
                "float",
                "-r",
                str(RENDER_RATE),
                "-F",
                str(rendered),
                str(SOUNDFONT),
                str(short),
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
        wav, sr = read_audio(rendered)
        clip, beats = cut(wav, sr, grid, start)
        tempi = sorted(set(np.round(score.get_tempo_changes()[1], 1).tolist()))
        yield (
            name,
            clip,
            sr,
            beats,
            {
                "source": f"{source}, {SOUNDFONT_NOTE}",
                "licence": licence,
                "style": style or instruments(score),
                "annotation": f"pretty_midi get_beats() (tempo map {tempi} bpm, time signature {meters}), cut from the "
                f"beat at {start:.3f} s; {on_grid:.2f} of the notes on its 16th / triplet grid",
                "bpm": round(60 / float(np.median(np.diff(beats))), 3),
            },
        )


def lmms_project(path: Path) -> ElementTree.Element:
    data = path.read_bytes()
    return ElementTree.fromstring(zlib.decompress(data[4:]) if path.suffix == ".mmpz" else data)


def lmms_songs(scratch: Path, projects: dict[str, tuple[str, str]], render_seconds: float | None = None):
    """Render {project: (licence, style)} projects with a constant tempo in x/4 (the others are reported); with
    `render_seconds`, only the song's clips starting before then (a whole song takes minutes)."""
    for project, (licence, style) in projects.items():
        path = LMMS / project
        root = lmms_project(path)
        head = root.find("head")
        if head.find("bpm") is not None or head.get("timesig_denominator") != "4":
            print(f"left out {path.stem}: tempo automated or not x/4; the grid would not be exact")
            continue
        bpm = float(head.get("bpm"))
        name = path.stem.replace("(", "").replace(")", "")
        rendered = scratch / f"{name}.wav"
        if render_seconds is not None:  # the song editor's clips; 48 ticks a beat
            for track in root.findall("song/trackcontainer/track"):
                for clip in [
                    clip
                    for clip in track
                    if clip.get("pos") is not None and int(clip.get("pos")) >= render_seconds / 60 * bpm * 48
                ]:
                    track.remove(clip)
            path = scratch / f"{name}.mmp"
            ElementTree.ElementTree(root).write(path)
        command = ["lmms", *(["--allowroot"] if os.geteuid() == 0 else []), "-r", str(path), "-o", str(rendered)]
        subprocess.run(
            command, check=True, capture_output=True, timeout=900, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        )
        wav, sr = read_audio(rendered)
        grid = np.arange(0.0, len(wav) / sr, 60.0 / bpm)
        audible = np.flatnonzero(np.abs(wav).max(axis=1) > 0.01 * np.abs(wav).max())[0] / sr
        start = float(grid[grid <= audible + 0.02].max())
        clip, beats = cut(wav, sr, grid, start)
        yield (
            name,
            clip,
            sr,
            beats,
            {
                "source": f"lmms-common projects/{project} rendered with lmms -r",
                "licence": f"{licence} ({LMMS_LICENCE})",
                "style": style,
                "annotation": f"project tempo {bpm} bpm, {head.get('timesig_numerator')}/4, from t = 0; cut from the "
                f"beat at {start:.3f} s",
                "bpm": bpm,
            },
        )
