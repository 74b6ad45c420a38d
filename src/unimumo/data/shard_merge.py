"""`unimumo-shards merge`: the slices of a sliced build (`build --slice i/n`) -> one shard directory.

Checks before anything is written: every slice 0..n-1 is there once and complete for the same splits,
all were built with the same tokenizers (fingerprints) and the same content arguments (BuildConfig
CONTENT_FIELDS but the slice), and every shard matches its manifest size and sha256. Then shards are
hard-linked (copied across file systems) into OUT and renumbered per split in slice order, the slices'
failures/skipped records are concatenated (per split, in slice order) and the counts added up; the
manifest is written last, so a merge that fails leaves no manifest.

The result is identical in content to a whole build with the same arguments: per split the same
samples, in the same order, with the same bytes in every field; only the shard boundaries and names
differ (each slice closes its own last shard). Summaries add up to the whole build's because slice 0
alone records the inputs that belong to no track (see shard_builder).
"""

from __future__ import annotations

import functools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from unimumo.data.build_config import CONTENT_FIELDS, SLICE_PATTERN
from unimumo.data.pairing import add_counts, empty_counts
from unimumo.errors import UniMuMoError
from unimumo.shards.manifest import (
    Manifest,
    ManifestError,
    ShardEntry,
    manifest_path,
    read_failures,
    read_skipped,
    write_directory,
)
from unimumo.shards.writer import shard_name
from unimumo.utils.fingerprint import fingerprint_file

SUMMED = ("shards", "samples", "tracks", "tracks_with_samples", "failures", "inputs")
COMPARED_ARGS = tuple(name for name in CONTENT_FIELDS if name != "slice")


class MergeError(UniMuMoError, ValueError):
    """The slices cannot be merged (missing, incomplete, damaged or built differently); nothing was written."""

    kind = "merge error"


@dataclass
class SliceBuild:
    directory: Path
    manifest: Manifest
    index: int
    count: int

    @property
    def label(self) -> str:
        return f"{self.directory} (slice {self.index}/{self.count})"


def slice_dirs(out: str | Path) -> list[Path]:
    """The slice directories OUT/slices/I-of-N of a sliced build into OUT."""
    found = sorted(path for path in (Path(out) / "slices").glob("*-of-*") if path.is_dir())
    if not found:
        raise MergeError(
            f"{Path(out) / 'slices'}: no slice directories (I-of-N) to merge; build them with "
            "`unimumo-shards build --slice I/N --out " + str(out) + "`"
        )
    return found


def load_slice(directory: Path) -> SliceBuild:
    try:
        manifest = Manifest.load(directory)
    except (FileNotFoundError, ManifestError) as error:
        raise MergeError(f"{directory}: not a finished slice build ({error})") from error
    slices = {summary.get("build_args", {}).get("slice") for summary in manifest.splits.values()}
    if not manifest.splits or len(slices) != 1 or None in slices:
        raise MergeError(
            f"{directory}: not a slice build (its splits were built with --slice {sorted(map(str, slices))})"
        )
    index, count = SLICE_PATTERN.fullmatch(slices.pop()).groups()
    return SliceBuild(Path(directory), manifest, int(index), int(count))


def check_compatible(slices: list[SliceBuild]) -> None:
    """MergeError naming the first slice (and key) that differs from slice 0, or a missing/duplicate slice."""
    count = slices[0].count
    for build in slices:
        if build.count != count:
            raise MergeError(
                f"{build.label}: built as one of {build.count} slices, {slices[0].label} as one of {count}"
            )
    indices = [build.index for build in slices]
    if sorted(indices) != list(range(count)):
        missing = sorted(set(range(count)) - set(indices))
        repeated = sorted({i for i in indices if indices.count(i) > 1})
        raise MergeError(
            f"slices of {count}: missing {missing}, repeated {repeated} (given: "
            f"{', '.join(str(b.directory) for b in slices)})"
        )
    reference = slices[0]
    for build in slices[1:]:
        if sorted(build.manifest.splits) != sorted(reference.manifest.splits):
            raise MergeError(
                f"{build.label} holds splits {sorted(build.manifest.splits)}, {reference.label} holds "
                f"{sorted(reference.manifest.splits)}; finish every split of every slice first"
            )
        for name in sorted(set(build.manifest.tokenizers) | set(reference.manifest.tokenizers)):
            ours = build.manifest.tokenizers.get(name, {}).get("fingerprint")
            theirs = reference.manifest.tokenizers.get(name, {}).get("fingerprint")
            if ours != theirs:
                raise MergeError(
                    f"{build.label} was built with a different {name} (fingerprint {str(ours)[:12]}) "
                    f"than {reference.label} ({str(theirs)[:12]})"
                )
        for split, summary in build.manifest.splits.items():
            ours, theirs = summary["build_args"], reference.manifest.splits[split]["build_args"]
            for key in COMPARED_ARGS:
                if ours.get(key) != theirs.get(key):
                    raise MergeError(
                        f"{build.label}, split {split}: built with {key}={ours.get(key)!r}, "
                        f"{reference.label} with {key}={theirs.get(key)!r}"
                    )
            weights = [s.get("beat_checkpoint_sha256") for s in (summary, reference.manifest.splits[split])]
            if weights[0] != weights[1]:
                raise MergeError(
                    f"{build.label}, split {split}: built with other Beat This! weights than {reference.label} "
                    f"(sha256 {str(weights[0])[:12]} vs {str(weights[1])[:12]}; None: the slice records none)"
                )


def verify_shards(build: SliceBuild) -> None:
    for entry in build.manifest.shards:
        path = build.directory / entry.name
        if not path.is_file():
            raise MergeError(f"{path}: shard listed in {build.manifest.path} is missing")
        if path.stat().st_size != entry.bytes or fingerprint_file(path) != entry.sha256:
            raise MergeError(f"{path}: size or sha256 differs from {build.manifest.path} (damaged or rewritten)")


def place(source: Path, target: Path) -> None:
    """Hard-link (or copy) `source` to `target`, replacing it atomically."""
    temporary = target.with_name(f".{target.name}.merge.tmp")
    temporary.unlink(missing_ok=True)
    try:
        os.link(source, temporary)
    except OSError:  # another file system, or links not supported
        shutil.copyfile(source, temporary)
    os.replace(temporary, target)


def merged_summary(split: str, slices: list[SliceBuild], out: Path) -> dict:
    summaries = [build.manifest.splits[split] for build in slices]
    merged = {**summaries[0], **{key: sum(s[key] for s in summaries) for key in SUMMED}}
    skipped: dict[str, int] = {}
    for summary in summaries:
        for reason, count in summary["skipped"].items():
            skipped[reason] = skipped.get(reason, 0) + count
    merged["skipped"] = skipped
    merged["pairing"] = functools.reduce(add_counts, (s.get("pairing", {}) for s in summaries), empty_counts())
    merged["failure_fraction"] = round(merged["failures"] / max(merged["inputs"], 1), 4)
    merged["build_args"] = {**summaries[0]["build_args"], "out": str(out), "slice": None, "slices": len(slices)}
    return merged


def merge_slices(directories: list[str | Path], out: str | Path) -> Manifest:
    """Merge the slice directories into `out` (see the module docstring); returns the merged manifest."""
    out = Path(out)
    if manifest_path(out).is_file():
        raise MergeError(f"{manifest_path(out)} exists; merge into a directory without a manifest")
    slices = sorted((load_slice(Path(d)) for d in directories), key=lambda build: build.index)
    check_compatible(slices)
    for build in slices:
        verify_shards(build)
    out.mkdir(parents=True, exist_ok=True)
    shards, splits, failures, skipped = [], {}, [], []
    for split in slices[0].manifest.splits:
        for build in slices:
            for entry in (e for e in build.manifest.shards if e.split == split):
                name = shard_name(split, sum(e.split == split for e in shards))
                place(build.directory / entry.name, out / name)
                shards.append(
                    ShardEntry(name=name, split=split, count=entry.count, bytes=entry.bytes, sha256=entry.sha256)
                )
            failures += [r for r in read_failures(build.directory) if r.get("split") == split]
            skipped += [r for r in read_skipped(build.directory) if r.get("split") == split]
        splits[split] = merged_summary(split, slices, out)
    manifest = Manifest(manifest_path(out), dict(slices[0].manifest.tokenizers), shards, splits)
    write_directory(manifest, failures, skipped)
    return manifest
