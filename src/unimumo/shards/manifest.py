"""manifest.json, failures.jsonl and skipped.jsonl of a shard directory: the typed, versioned `Manifest`, updated one
split at a time.

manifest.json (format "unimumo-shards/2"):
    format      "unimumo-shards/2"
    tokenizers  {music_codec|motion_tokenizer|text_tokenizer: {path, fingerprint, ...}}  (same for every split)
    shards      [{name, split, count, bytes, sha256}]  (what the loader reads, in order); a name is a plain
                file name inside the shard directory: no "/", "\\", ":" (so no pipe: or URL), no "..".
    splits      {split: {split, shards, samples, tracks, tracks_with_samples, skipped, failures, inputs,
                         failure_fraction, max_failure_fraction, build_args[, beat_checkpoint_sha256]}}
                (a split is listed once complete; the sha256 of the Beat This! weights of a beat_this build)
failures.jsonl: one {split, file, stage, reason[, track_id]} per line: inputs that could not be read or paired.
skipped.jsonl: one {split, id, file, reason[, detail]} per line: valid inputs left out on purpose (reason
    "ignored": on the corpus's ignore list; "short_beats": beats span less than --min-beat-seconds).
Format 1 named the motion tokenizer "motion_codec"; such manifests are read (renamed in memory) and
written back as format 2. Several splits may be built into one directory at once: updates hold an
exclusive file lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from unimumo.errors import UniMuMoError
from unimumo.utils.io import atomic_write_json, atomic_write_text

MANIFEST_NAME = "manifest.json"
FAILURES_NAME = "failures.jsonl"
SKIPPED_NAME = "skipped.jsonl"
FORMAT_NAME = "unimumo-shards"
FORMAT_VERSION = 2
FORMAT = f"{FORMAT_NAME}/{FORMAT_VERSION}"


class ManifestError(UniMuMoError, ValueError):
    """manifest.json is unreadable, of another format, or lacks what was asked of it."""

    kind = "shard manifest error"


class ManifestMismatchError(ManifestError):
    """The directory already holds shards made with different frozen tokenizers."""


def _from_v1(raw: dict) -> dict:
    """Format 1 -> 2: the motion tokenizer was recorded as "motion_codec"."""
    tokenizers = dict(raw.get("tokenizers", {}))
    if "motion_codec" in tokenizers:
        tokenizers["motion_tokenizer"] = tokenizers.pop("motion_codec")
    return {**raw, "tokenizers": tokenizers}


MIGRATIONS = {1: _from_v1}  # older format version -> its upgrade to the next version


@dataclass(frozen=True)
class ShardEntry:
    name: str  # file name inside the shard directory
    split: str
    count: int  # samples
    bytes: int | None = None  # size and digest: written by the builder, optional in hand-made manifests
    sha256: str | None = None


def manifest_path(shards: str | Path) -> Path:
    """`shards` is a shard directory or the path of its manifest (a .json file)."""
    path = Path(shards)
    return path if path.suffix == ".json" else path / MANIFEST_NAME


def _format_version(found, path: Path) -> int:
    name, _, version = str(found).partition("/")
    if name != FORMAT_NAME or not version.isdigit():
        raise ManifestError(f"{path}: unknown manifest format {found!r}, expected {FORMAT!r}")
    version = int(version)
    if version > FORMAT_VERSION:
        raise ManifestError(
            f"{path}: format {found!r} was built by a newer unimumo (this one reads up to {FORMAT!r}); upgrade unimumo"
        )
    if version < FORMAT_VERSION and version not in MIGRATIONS:
        raise ManifestError(
            f"{path}: format {found!r} was built by an older unimumo (this one reads {FORMAT!r}); "
            "rebuild the shards with `unimumo-shards build`"
        )
    return version


def check_shard_name(name: str, path: Path) -> None:
    """ManifestError unless `name` is a plain file name inside the shard directory (the shards are opened as
    files there: an absolute or relative path, a `pipe:` command or a URL is refused)."""
    if not name or name in (".", "..") or any(c in name for c in "/\\:\0") or name != name.strip():
        raise ManifestError(
            f"{path}: shard name {name!r} is not a plain file name inside the shard directory "
            "(no '/', '\\', ':', '..'; no pipe: or URL)"
        )


def _shard_entry(raw, path: Path) -> ShardEntry:
    try:
        entry = ShardEntry(**raw)
        if not isinstance(entry.name, str) or not isinstance(entry.split, str) or not isinstance(entry.count, int):
            raise TypeError("name and split must be strings, count an integer")
    except TypeError as error:  # not a dict, unknown or missing keys, wrong types
        raise ManifestError(
            f"{path}: malformed shard entry {raw!r} ({error}); rebuild with `unimumo-shards build`"
        ) from error
    check_shard_name(entry.name, path)
    return entry


@dataclass
class Manifest:
    """A shard directory's manifest.json; `path` is where it is (or will be) stored."""

    path: Path
    tokenizers: dict[str, dict] = field(default_factory=dict)
    shards: list[ShardEntry] = field(default_factory=list)
    splits: dict[str, dict] = field(default_factory=dict)

    @property
    def directory(self) -> Path:
        return self.path.parent

    @classmethod
    def load(cls, shards: str | Path, *, missing_ok: bool = False) -> Manifest:
        """The manifest of a shard directory (or a manifest .json path); with `missing_ok` an empty one when absent."""
        path = manifest_path(shards)
        if not path.is_file():
            if missing_ok:
                return cls(path)
            raise FileNotFoundError(f"{path}: shard manifest not found (build shards with `unimumo-shards build`)")
        try:
            raw = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ManifestError(f"{path}: not valid JSON ({error})") from error
        if not isinstance(raw, dict):
            raise ManifestError(f"{path}: expected a JSON object, got {type(raw).__name__}")
        version = _format_version(raw.get("format"), path)
        while version < FORMAT_VERSION:
            raw, version = MIGRATIONS[version](raw), version + 1
        tokenizers, shards, splits = raw.get("tokenizers", {}), raw.get("shards", []), raw.get("splits", {})
        if not (
            isinstance(tokenizers, dict)
            and all(isinstance(info, dict) for info in tokenizers.values())
            and isinstance(shards, list)
            and isinstance(splits, dict)
        ):
            raise ManifestError(f"{path}: expected tokenizers {{name: {{...}}}}, shards [...] and splits {{...}}")
        return cls(path, tokenizers, [_shard_entry(entry, path) for entry in shards], splits)

    def to_json(self) -> dict:
        shards = [{name: value for name, value in asdict(entry).items() if value is not None} for entry in self.shards]
        return {"format": FORMAT, "tokenizers": self.tokenizers, "shards": shards, "splits": self.splits}

    def save(self) -> None:
        """Write atomically (callers that read-modify-write hold `manifest_lock`)."""
        atomic_write_json(self.path, self.to_json())

    def split_entries(self, split: str) -> list[ShardEntry]:
        """The shards of `split`, in manifest order; ManifestError when there are none."""
        selected = [entry for entry in self.shards if entry.split == split]
        if not selected:
            available = sorted({entry.split for entry in self.shards})
            raise ManifestError(f"{self.path}: no shards for split {split!r} (splits present: {available})")
        return selected

    def split_paths(self, split: str) -> list[str]:
        """Paths of the shards of `split`, in manifest order; ManifestError when there are none."""
        return [str(self.directory / entry.name) for entry in self.split_entries(split)]

    def check_tokenizers(self, tokenizers: dict) -> None:
        """ManifestMismatchError if a tokenizer in `tokenizers` differs from the one these shards were built with."""
        for name, info in self.tokenizers.items():
            if name in tokenizers and tokenizers[name]["fingerprint"] != info["fingerprint"]:
                raise ManifestMismatchError(
                    f"{self.directory}: existing shards were built with {name} {info['path']} (fingerprint "
                    f"{info['fingerprint'][:12]}), now {tokenizers[name]['path']} (fingerprint "
                    f"{tokenizers[name]['fingerprint'][:12]}); use another --out"
                )


@contextlib.contextmanager
def manifest_lock(out: Path) -> Iterator[None]:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".manifest.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ManifestError(f"{path}: line {number} is not valid JSON ({error})") from error
    return records


def read_failures(out: Path) -> list[dict]:
    """failures.jsonl of a shard directory (empty when absent)."""
    return _read_jsonl(Path(out) / FAILURES_NAME)


def read_skipped(out: Path) -> list[dict]:
    """skipped.jsonl of a shard directory (empty when absent)."""
    return _read_jsonl(Path(out) / SKIPPED_NAME)


def _write_jsonl(path: Path, records: list[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(record, sort_keys=True) + "\n" for record in records))


def _replace_split_lines(out: Path, name: str, split: str, records: list[dict]) -> None:
    kept = [record for record in _read_jsonl(out / name) if record.get("split") != split]
    _write_jsonl(out / name, kept + [dict(r, split=split) for r in records])


def write_directory(manifest: Manifest, failures: list[dict], skipped: list[dict]) -> None:
    """Write a whole shard directory's failures.jsonl and skipped.jsonl (records carry their split), then its
    manifest.json last (each file atomically, under the lock): an interrupted write leaves no new manifest."""
    with manifest_lock(manifest.directory):
        _write_jsonl(manifest.directory / FAILURES_NAME, failures)
        _write_jsonl(manifest.directory / SKIPPED_NAME, skipped)
        manifest.save()


def update_split(
    out: Path,
    split: str,
    *,
    tokenizers: dict,
    shards: list[dict],
    summary: dict,
    failures: list[dict],
    skipped: list[dict],
) -> None:
    """Replace `split`'s entries in manifest.json, failures.jsonl and skipped.jsonl (atomically, under the lock)."""
    for entry in shards:
        check_shard_name(entry["name"], out / MANIFEST_NAME)  # never write a manifest that its readers refuse
    with manifest_lock(out):
        manifest = Manifest.load(out, missing_ok=True)
        manifest.check_tokenizers(tokenizers)
        manifest.tokenizers = tokenizers
        kept_shards = [entry for entry in manifest.shards if entry.split != split]
        manifest.shards = kept_shards + [ShardEntry(**{**s, "split": split}) for s in shards]
        manifest.splits[split] = summary
        manifest.save()
        _replace_split_lines(out, FAILURES_NAME, split, failures)
        _replace_split_lines(out, SKIPPED_NAME, split, skipped)
