"""Real DeepSpeed runs of `unimumo-train`: 2 ranks on CPU (gloo, DS_ACCELERATOR=cpu), tiny LM, few steps.

- ZeRO 1/2/3 (3 with activation checkpointing) losses and weights match a plain single-process PyTorch
  loop over the same micro batches (2 ranks x 2 accumulation steps); the export loads with from_pretrained
  and equals the trained weights; unimumo-export converts an intermediate checkpoint.
- stage1_motion keeps frozen weights bit-identical and changes the trained ones; a run SIGKILLed
  mid-way and resumed logs the same loss sequence and ends with the same weights as an uninterrupted run.
- SIGUSR1 under a Slurm-style launch (SLURM_* only) checkpoints and exits 42; --resume finishes it; its
  export starts stage2_joint (--init-from).
- Non-finite losses are skipped and stop the run; caption trains only captioning modules (Python API);
  motion_vqvae trains on raw AIST++/HumanML3D and exports a MotionTokenizer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from testkit.training_runs import NO_DROPOUT, TINY_RECIPE, free_port
from unimumo.constants import REQUEUE_EXIT_CODE
from unimumo.train import checkpoint as ckpt

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TORCHRUN = str(Path(sys.executable).with_name("torchrun"))
TINY = {**TINY_RECIPE, **NO_DROPOUT}


@dataclass(frozen=True)
class TrainData:
    shards: Path  # real shards of the synthetic corpus
    text_model: Path  # its tiny T5; the vocabulary matches the caption ids in the shards
    musicgen: Path  # its tiny MusicgenForConditionalGeneration (stage 1 starts from it)

    def overrides(self) -> dict:
        return {"data.shards": str(self.shards), "text_model": str(self.text_model)}

    @property
    def from_musicgen(self) -> dict:
        return {"init_from": str(self.musicgen)}


@pytest.fixture(scope="module")
def data(synthetic_corpus, tmp_path_factory) -> TrainData:
    """Shards built by `unimumo-shards build` small enough to give every rank several."""
    from unimumo.cli.shards import main
    from unimumo.data.synthetic_corpus import TINY_SHARDS_ARGS, build_argv

    out = tmp_path_factory.mktemp("train_shards") / "shards"
    assert main(build_argv(synthetic_corpus, out, "train", *TINY_SHARDS_ARGS)) == 0
    return TrainData(out, synthetic_corpus / "models" / "t5", synthetic_corpus / "models" / "musicgen")


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    # a free rendezvous port for single-process runs (torchrun and the Slurm-style test set their own)
    env.update(OMP_NUM_THREADS="1", DS_ACCELERATOR="cpu", PYTHONUNBUFFERED="1", MASTER_PORT=str(free_port()))
    env.update(extra)
    return env


def _train_args(recipe: str, data: TrainData, out: Path, overrides: dict, *extra: str) -> list[str]:
    args = ["-m", "unimumo.cli.train", "--recipe", recipe, "--out", str(out), *extra]
    for key, value in {**TINY, **data.overrides(), **overrides}.items():
        args += ["--set", f"{key}={value}"]
    return args


def torchrun(recipe: str, data: TrainData, out: Path, overrides: dict, *extra: str, wait: bool = True):
    cmd = [
        TORCHRUN,
        "--nproc_per_node",
        "2",
        "--master_port",
        str(free_port()),
        *_train_args(recipe, data, out, overrides, *extra),
    ]
    log = open(out.parent / f"{out.name}.log", "a")
    proc = subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    if not wait:
        return proc
    code = proc.wait(timeout=600)
    assert code == 0, f"torchrun exited {code}:\n{(out.parent / f'{out.name}.log').read_text()[-4000:]}"
    return proc


def losses(out: Path) -> dict[int, float]:
    """step -> logged global loss (the last line of each step wins)."""
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {line["step"]: line["loss"] for line in lines}


def load_export(path: Path) -> dict[str, torch.Tensor]:
    from unimumo.models.modeling_unimumo import UniMuMoForConditionalGeneration

    return UniMuMoForConditionalGeneration.from_pretrained(path).state_dict()


def _wait_for(predicate, proc, what: str, timeout: float = 300):
    deadline = time.time() + timeout
    while not predicate():
        assert proc.poll() is None, f"run ended (code {proc.returncode}) before {what}"
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _latest_step(out: Path) -> int:
    pointer = out / "checkpoints" / ckpt.LATEST
    return ckpt.step_of(pointer.read_text().strip()) if pointer.is_file() else -1


# -- reference: the same training as a plain single-process PyTorch loop ------------------------------------------


def reference_run(recipe_name: str, data: TrainData, overrides: dict, world_size: int = 2):
    """Per-step mean loss and final weights of a plain AdamW loop that consumes rank 0 and rank 1's micro
    batches (same loader, same seeds) and averages their gradients, as data parallelism does."""
    from unimumo.train.engine import make_scheduler
    from unimumo.train.recipes import global_batch_split
    from unimumo.train.stages import build_components, build_recipe

    recipe = build_recipe(recipe_name, {**TINY, **data.overrides(), **overrides, "out": "unused"})
    parts = build_components(recipe, rank=0, world_size=world_size)  # as the trainer's set-up on rank 0
    model, objective, stage = parts.model, parts.objective, parts.stage
    model.train()
    o = recipe.optim
    optimizer = torch.optim.AdamW(parts.param_groups, lr=o.lr, betas=o.betas, eps=o.eps)
    scheduler = make_scheduler(recipe, optimizer)
    accumulation = global_batch_split(recipe, world_size)
    streams = [iter(parts.data)] + [iter(stage.data(stage, recipe, rank, world_size)) for rank in range(1, world_size)]
    trained = [p for p in model.parameters() if p.requires_grad]
    history = []
    for step in range(recipe.steps):
        step_losses = []
        for _ in range(accumulation):
            for stream in streams:
                output = model(**objective.inputs(next(stream), step))
                (output.loss / (accumulation * world_size)).backward()
                step_losses.append(output.loss.item())
        torch.nn.utils.clip_grad_norm_(trained, o.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        history.append(float(np.mean(step_losses)))
    return history, {k: v.detach().clone() for k, v in model.state_dict().items()}


# -- tests ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("zero", ["zero1", "zero2", "zero3"])
def test_zero_stages_match_a_plain_pytorch_loop_and_export_equals_trained_weights(zero, data, tmp_path):
    overrides = {"steps": 3, "data.global_batch": 8, "checkpoint.every": 2, "log.tensorboard": "true"}
    out = tmp_path / f"run_{zero}"
    # ZeRO-3 also recomputes activations: the reference loop does not, and the results must not change
    checkpointing = ["--set", "model.activation_checkpointing=true"] if zero == "zero3" else []
    torchrun("stage2_joint", data, out, overrides, "--ds-config", zero, *checkpointing)

    expected_losses, expected_weights = reference_run("stage2_joint", data, overrides)
    logged = losses(out)
    assert sorted(logged) == [1, 2, 3]
    np.testing.assert_allclose([logged[s] for s in (1, 2, 3)], expected_losses, rtol=2e-5)

    exported = load_export(out / "export")
    assert exported.keys() == expected_weights.keys()
    for name, value in expected_weights.items():
        torch.testing.assert_close(exported[name], value, rtol=1e-4, atol=2e-6, msg=name)
        if "text_encoder" in name:  # frozen: bit-identical
            assert torch.equal(exported[name], value), name

    # unimumo-export on an intermediate checkpoint of this ZeRO stage
    mid = tmp_path / "export_step2"
    code = subprocess.run(
        [sys.executable, "-m", "unimumo.cli.export_cmd", str(out / "checkpoints" / "global_step2"), str(mid)],
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert code.returncode == 0, code.stderr
    assert (mid / "model.safetensors").is_file() and (mid / "config.json").is_file()
    step2 = load_export(mid)
    assert any(not torch.equal(step2[k], exported[k]) for k in exported)  # a different (earlier) state
    meta = json.loads((out / "checkpoints" / "global_step3" / ckpt.META).read_text())
    assert meta["world_size"] == 2 and meta["step"] == 3
    assert list((out / "tensorboard").iterdir()), "no TensorBoard event file"
    line = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    for key in ("loss/music", "loss/motion", "lr", "grad_norm", "tokens_per_s", "samples_per_s", "max_memory_gb"):
        assert line[key] is not None and np.isfinite(line[key]), key
    assert any(k.startswith("loss/task/") and line[k] is not None for k in line)


def test_stage1_freezes_and_a_killed_run_resumes_exactly(data, tmp_path):
    overrides = {
        "steps": 40,
        "data.global_batch": 4,
        "checkpoint.every": 4,
        "checkpoint.keep": 2,
        **data.from_musicgen,
        "model.config.dropout": 0.1,
    }  # dropout on: resume must restore every rank's RNG
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    torchrun("stage1_motion", data, whole, overrides, "--ds-config", "zero2")

    proc = torchrun("stage1_motion", data, killed, overrides, "--ds-config", "zero2", wait=False)
    try:
        _wait_for(lambda: _latest_step(killed) >= 8, proc, "the step-8 checkpoint")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = max(losses(killed))
    assert killed_at < 40, "the run finished before it was killed"
    assert not (killed / "export").exists()
    torchrun("stage1_motion", data, killed, overrides, "--ds-config", "zero2", "--resume")

    expected, got = losses(whole), losses(killed)
    assert sorted(got) == list(range(1, 41))
    assert [got[s] for s in range(1, 41)] == [expected[s] for s in range(1, 41)]  # bit-identical on CPU
    assert sorted(p.name for p in (killed / "checkpoints").iterdir() if p.is_dir()) == [
        "global_step36",
        "global_step40",
    ]

    final_whole, final_killed = load_export(whole / "export"), load_export(killed / "export")
    assert all(torch.equal(final_whole[k], final_killed[k]) for k in final_whole)

    from unimumo.train.stages import build_components, build_recipe

    recipe = build_recipe("stage1_motion", {**TINY, **data.overrides(), **overrides, "out": "unused"})
    initial = build_components(recipe).model  # the initial weights of the run
    changed = {initial.parameter_group(name): [] for name, _ in initial.named_parameters()}
    for name, value in initial.named_parameters():
        changed[initial.parameter_group(name)].append(not torch.equal(value.detach(), final_whole[name]))
    assert all(changed["motion"]), "a motion parameter did not train"
    for group in ("music", "shared", "text", "captioning"):
        assert not any(changed[group]), f"frozen {group} weights changed"

    # optimizer state exists for the trained parameters only: the fp32 partitions and Adam moments of
    # both ranks together cover exactly the motion parameters
    trained = sum(p.numel() for n, p in initial.named_parameters() if initial.parameter_group(n) == "motion")
    held = 0
    for rank in range(2):
        shard = torch.load(
            whole / "checkpoints" / "global_step40" / f"zero_pp_rank_{rank}_mp_rank_00_optim_states.pt",
            map_location="cpu",
            weights_only=False,
        )["optimizer_state_dict"]
        partitions = sum(t.numel() for t in shard["single_partition_of_fp32_groups"]) - sum(shard["group_paddings"])
        moments = sum(state["exp_avg"].numel() for state in shard["base_optimizer_state"]["state"].values())
        assert moments == sum(t.numel() for t in shard["single_partition_of_fp32_groups"])
        held += partitions
    assert held == trained


def test_sigusr1_checkpoints_and_requeues_then_stage2_starts_from_the_stage1_export(data, tmp_path):
    overrides = {"steps": 30, "data.global_batch": 4, "checkpoint.every": 100, **data.from_musicgen}
    out = tmp_path / "stage1"
    port = str(free_port())
    procs = []
    with open(tmp_path / "stage1.log", "w") as log:
        for rank in range(2):  # as srun starts tasks: only SLURM_* variables
            env = _env(
                SLURM_PROCID=str(rank),
                SLURM_NTASKS="2",
                SLURM_LOCALID=str(rank),
                SLURM_JOB_ID="77",
                SLURM_JOB_NODELIST="127.0.0.1",
                MASTER_PORT=port,
            )
            procs.append(
                subprocess.Popen(
                    [sys.executable, *_train_args("stage1_motion", data, out, overrides, "--ds-config", "zero1")],
                    cwd=REPO,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        _wait_for(lambda: (out / "metrics.jsonl").is_file() and max(losses(out), default=0) >= 2, procs[0], "step 2")
        procs[1].send_signal(signal.SIGUSR1)  # one rank is enough: the flag is shared
        codes = [p.wait(timeout=300) for p in procs]
    assert codes == [REQUEUE_EXIT_CODE] * 2, (tmp_path / "stage1.log").read_text()[-3000:]
    stopped = _latest_step(out)
    assert 2 <= stopped < 30 and max(losses(out)) == stopped
    assert not (out / "export").exists()

    torchrun("stage1_motion", data, out, overrides, "--ds-config", "zero1", "--resume")
    assert sorted(losses(out)) == list(range(1, 31)) and _latest_step(out) == 30
    stage1 = load_export(out / "export")

    joint = tmp_path / "stage2"
    torchrun(
        "stage2_joint",
        data,
        joint,
        {"steps": 2, "data.global_batch": 4},
        "--ds-config",
        "zero3",
        "--init-from",
        str(out / "export"),
    )
    stage2 = load_export(joint / "export")
    from unimumo.models.modeling_unimumo import UniMuMoForConditionalGeneration

    model = UniMuMoForConditionalGeneration.from_pretrained(joint / "export")
    assert (model.config.music_loss_weight, model.config.motion_loss_weight) == (0.85, 0.15)
    for name in stage1:
        group = model.parameter_group(name) if name in dict(model.named_parameters()) else None
        if group in ("text", "captioning"):
            assert torch.equal(stage1[name], stage2[name]), f"{name} is frozen in stage 2"
    assert any(not torch.equal(stage1[n], stage2[n]) for n in stage1 if "music" in n)


def _catches(pid: int, signum: int) -> bool:
    """Whether process `pid` has a handler installed for `signum` (SigCgt of /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


def test_sigusr1_during_set_up_still_ends_at_a_checkpoint(data, tmp_path):
    out, log_path = tmp_path / "early", tmp_path / "early.log"
    args = _train_args(
        "stage1_motion",
        data,
        out,
        {"steps": 20, "data.global_batch": 2, "checkpoint.every": 100, **data.from_musicgen},
        "--ds-config",
        "cpu_zero0",
    )
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, *args], cwd=REPO, env=_env(), stdout=log, stderr=subprocess.STDOUT)
        _wait_for(lambda: _catches(proc.pid, signal.SIGUSR1), proc, "the stop-signal handler")
        proc.send_signal(signal.SIGUSR1)
        signalled_in_set_up = "recipe stage1_motion:" not in log_path.read_text()  # printed when set-up is done
        code = proc.wait(timeout=600)
    text = log_path.read_text()
    assert signalled_in_set_up, text[-3000:]
    assert code == REQUEUE_EXIT_CODE, text[-3000:]
    assert "stop signal: checkpoint" in text and _latest_step(out) == 1, text[-3000:]


def test_nonfinite_losses_are_skipped_and_counted_then_the_run_stops(data, tmp_path):
    out = tmp_path / "nan"
    # weights ~1e37 overflow the logits: every loss is NaN
    args = _train_args(
        "stage1_motion",
        data,
        out,
        {
            "steps": 5,
            "data.global_batch": 2,
            "max_nonfinite_steps": 3,
            "init.random": "true",  # the random init overflows
            "model.config.initializer_range": 1e37,
        },
        "--ds-config",
        "cpu_zero0",
    )
    proc = subprocess.run([sys.executable, *args], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert "training stopped: 3 micro batches in a row had a non-finite loss at step 1" in proc.stderr
    assert not (out / "checkpoints" / ckpt.LATEST).exists()


def test_motion_vqvae_trains_on_raw_motion_and_exports_a_tokenizer(synthetic_corpus, tmp_path):
    from unimumo.models.motion_tokenizer import MotionTokenizer

    out = tmp_path / "vq"
    cmd = [
        TORCHRUN,
        "--nproc_per_node",
        "2",
        "--master_port",
        str(free_port()),
        "-m",
        "unimumo.cli.train",
        "--recipe",
        "motion_vqvae",
        "--aist",
        str(synthetic_corpus / "aist"),
        "--humanml3d",
        str(synthetic_corpus / "humanml3d"),
        "--out",
        str(out),
        "--ds-config",
        "zero2",
    ]
    for key, value in {
        "steps": 6,
        "data.window_s": 0.32,
        "data.micro_batch": 2,
        "data.global_batch": 4,
        "optim.lr": 1e-3,
        "schedule.warmup_steps": 1,
        "log.every": 1,
        "checkpoint.every": 3,
        "log.progress_bar": "false",
    }.items():
        cmd += ["--set", f"{key}={value}"]
    proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "skipped" in proc.stderr and "unreadable clip" in proc.stderr  # the corpus's broken clips
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == list(range(1, 7))
    assert all(np.isfinite(line["loss/recon"]) and line["perplexity"] > 1 for line in lines)
    tokenizer = MotionTokenizer.from_pretrained(out / "export")  # checks the stored fingerprint
    assert not torch.all(tokenizer.model.feature_std == 1)  # normalisation statistics of the training clips
    clip = np.load(next((synthetic_corpus / "humanml3d" / "new_joint_vecs").glob("*.npy")))
    if clip.ndim == 2 and clip.shape[1] == 263 and len(clip) > 10:
        codes = tokenizer.encode(clip, fps=20.0)
        assert codes.shape[0] == 4 and codes.max() < 2048


def test_caption_stage_through_the_python_api_trains_only_the_captioning_modules(data, tmp_path):
    """unimumo.train.run (what submitit calls), one process, ZeRO-0."""
    overrides = {"steps": 2, "data.global_batch": 2}
    out = tmp_path / "caption"
    settings = {**TINY, **data.overrides(), **overrides, "out": str(out), "ds_config": "cpu_zero0"}
    script = f"import json; from unimumo.train import run; print(json.dumps(run('caption', **{settings!r})))"
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "captioning" in proc.stderr and "TRAIN" in proc.stderr  # the trainable-parameter table (the log)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["status"] == "completed" and summary["exit_code"] == 0 and summary["step"] == 2
    assert Path(summary["export"]) == out / "export"
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(line["loss/caption"]) and line["grad_norm"] > 0 for line in lines)

    from unimumo.train.stages import build_components, build_recipe

    recipe = build_recipe("caption", {**TINY, **data.overrides(), **overrides, "out": "unused"})
    initial = build_components(recipe).model
    final = load_export(out / "export")
    changed = {}
    for name, value in initial.named_parameters():
        changed.setdefault(initial.parameter_group(name), []).append(not torch.equal(value.detach(), final[name]))
    assert any(changed["captioning"]) and sum(changed["captioning"]) > len(changed["captioning"]) // 2
    for group in ("music", "motion", "shared", "text"):
        assert not any(changed[group]), f"frozen {group} weights changed"
