"""The stage chain is written once, in the registry (`Stage.starts_from`): `unimumo-train --list-stages` prints it,
slurm/pipeline.sh, the stage scripts, the launcher and the demo read it, and none of them spells one of its own."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from unimumo.train.recipes import Recipe
from unimumo.train.stages import STAGES, Stage, chain, list_stages, register

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src" / "unimumo"
# everything that launches stages: none may know which stage follows which
LAUNCHERS = sorted(REPO.glob("slurm/*.sh")) + [SRC / "launch.py", SRC / "cli" / "submit.py", SRC / "cli" / "demo.py"]


def test_list_stages_prints_every_stage_after_the_one_it_starts_from():
    done = subprocess.run(
        [sys.executable, "-m", "unimumo.cli.train", "--list-stages"],
        capture_output=True,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()]
    assert rows == [[stage.name, stage.starts_from or "-"] for stage in STAGES.values()]
    seen = set()
    for name, starts_from in rows:
        assert starts_from == "-" or starts_from in seen, f"{name} is listed before {starts_from}"
        seen.add(name)
    assert [stage.name for stage in chain()] == ["stage1_motion", "stage2_joint", "caption"]  # the paper's chain


def _probe_recipe() -> Recipe:
    recipe = Recipe(name="probe_followup")
    recipe.model.preset = "tiny"
    return recipe


def test_a_stage_joins_the_chain_with_one_registry_entry():
    from unimumo.cli import demo
    from unimumo.launch import chain_text

    last = chain()[-1]
    stage = register(
        Stage(**{**last.__dict__, "name": "probe_followup", "recipe": _probe_recipe, "starts_from": last.name})
    )
    try:
        assert chain()[-1] is stage and list_stages().splitlines()[-1] == f"probe_followup {last.name}"
        assert chain_text().endswith(f"probe_followup (--init-from the {last.name} OUT/export)")
        assert demo.DemoConfig(Path("x")).steps(len(chain()) - 1) == demo.DEFAULT_STEPS  # the demo runs it too
    finally:
        del STAGES[stage.name]
    with pytest.raises(ValueError, match="starts from 'nowhere', which is not registered"):
        register(
            Stage(**{**last.__dict__, "name": "probe_followup", "recipe": _probe_recipe, "starts_from": "nowhere"})
        )


def _code(path: Path, text: str) -> str:
    """What a launcher executes: bash without comments, Python's string constants without docstrings."""
    if path.suffix == ".sh":
        return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    tree = ast.parse(text)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return "\n".join(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    )


def chain_links(path: Path, text: str) -> list[str]:
    """The (stage, the stage it starts from) pairs that the code of `text` names both of."""
    code = _code(path, text)
    named = {name for name in STAGES if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", code)}
    return [
        f"{stage.name} <- {stage.starts_from}"
        for stage in STAGES.values()
        if stage.name in named and stage.starts_from in named
    ]


@pytest.mark.parametrize("path", LAUNCHERS, ids=lambda path: str(path.relative_to(REPO)))
def test_launchers_spell_no_stage_chain_of_their_own(path):
    links = chain_links(path, path.read_text())
    assert not links, (
        f"{path.relative_to(REPO)} names a stage and the stage it starts from ({links}); read the "
        "chain from the registry (unimumo-train --list-stages, unimumo.train.stages.chain)"
    )


@pytest.mark.parametrize(
    "name, text",
    [
        (
            "pipeline.sh",
            "stage1=$(sbatch slurm/stage1_motion.sh)\nsbatch --dependency=afterok:$stage1 slurm/stage2_joint.sh\n",
        ),
        (
            "stage2_joint.sh",
            'unimumo_previous_export stage-1 "$UNIMUMO_RUNS/stage1_motion"\n'
            'unimumo_train stage2_joint --init-from "$UNIMUMO_START"\n',
        ),
        (
            "demo.py",
            'for name, start in (("stage2_joint", "runs/stage1_motion/export"), ("caption", "x")):\n    pass\n',
        ),
    ],
)
def test_the_check_catches_a_chain_spelled_by_hand(name, text):
    assert chain_links(Path(name), text)


def test_pipeline_submits_the_registry_chain_with_afterok(tmp_path):
    """slurm/pipeline.sh against a stand-in sbatch that records its arguments (no cluster needed)."""
    bin_dir, musicgen = tmp_path / "bin", tmp_path / "musicgen"
    bin_dir.mkdir()
    musicgen.mkdir()
    (musicgen / "config.json").write_text("{}")
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(
        '#!/bin/bash\nn=$(( $(cat "$0.n" 2>/dev/null || echo 100) + 1 )); echo $n > "$0.n"\n'
        'echo "$*" >> "$0.log"\necho "$n;cluster"\n'
    )
    sbatch.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UNIMUMO_", "SLURM_"))}
    env.update(
        PATH=f"{bin_dir}:{env['PATH']}",
        UNIMUMO_MUSICGEN=str(musicgen),
        CAPTION_SBATCH_ARGS="--nodes=3",
        UNIMUMO_VENV=str(Path(sys.executable).parents[1]),
    )
    done = subprocess.run(
        ["bash", "slurm/pipeline.sh", "--hold"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    names = [stage.name for stage in chain()]
    assert [line.split()[:3] for line in done.stdout.splitlines()] == [
        [name, "job", str(101 + i)] for i, name in enumerate(names)
    ]
    calls = (bin_dir / "sbatch.log").read_text().splitlines()
    assert calls[0] == "--parsable --hold slurm/stage1_motion.sh"
    assert calls[1] == "--parsable --dependency=afterok:101 --kill-on-invalid-dep=yes --hold slurm/stage2_joint.sh"
    assert (
        calls[2] == "--parsable --dependency=afterok:102 --kill-on-invalid-dep=yes --hold --nodes=3 "
        "slurm/stage3_caption.sh"
    )
