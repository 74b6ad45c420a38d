"""ZeRO-3: the LM built under `deepspeed.zero.Init` and wrapped by a ZeRO-3 engine (CPU, gloo, one process)
computes the same logits, generations and captions as the plain model, and trains only what is unfrozen.

The DeepSpeed run happens in a subprocess so its process group and accelerator choice stay out of pytest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from testkit.training_runs import free_port

SCRIPT = textwrap.dedent("""
    import json, os, sys
    import torch
    import deepspeed
    from unimumo.models.configuration_unimumo import UniMuMoConfig
    from unimumo.models.modeling_unimumo import UniMuMoForConditionalGeneration

    torch.manual_seed(0)
    config = UniMuMoConfig.preset("tiny", dropout=0.0, condition_dropout=0.0)
    reference = UniMuMoForConditionalGeneration(config).eval()
    deepspeed.init_distributed(dist_backend="gloo")
    ds_config = {"train_micro_batch_size_per_gpu": 2,
                 "zero_optimization": {"stage": 3, "stage3_param_persistence_threshold": 0},
                 "optimizer": {"type": "AdamW", "params": {"lr": 1e-3, "torch_adam": True}}}
    results = {}

    with deepspeed.zero.Init(config_dict_or_path=ds_config):
        built = UniMuMoForConditionalGeneration(config)
    results["partitioned"] = built.model.layers[0].self_attn.q_proj.weight.numel() == 0
    with deepspeed.zero.GatheredParameters(list(built.parameters())):
        results["captioning_copy"] = all(
            torch.equal(a, b) for layer in built.model.layers
            for a, b in zip(layer.self_attn.parameters(), layer.captioning_self_attn.parameters()))

    model = UniMuMoForConditionalGeneration(config)
    model.load_state_dict(reference.state_dict())
    for name, param in model.named_parameters():  # stage 1 plan: motion only
        param.requires_grad_(model.parameter_group(name) == "motion")
    engine, *_ = deepspeed.initialize(model=model, config=ds_config,
                                      model_parameters=[p for p in model.parameters() if p.requires_grad])
    music = torch.randint(0, 2048, (2, 4, 6))
    motion = torch.randint(0, 2048, (2, 4, 6))
    text = torch.randint(2, 1000, (2, 5))
    engine.eval()
    with torch.no_grad():
        out = engine(music_codes=music, motion_codes=motion, music_text_ids=text)
        expected = reference(music_codes=music, motion_codes=motion, music_text_ids=text)
    results["logits"] = torch.allclose(out.music_logits, expected.music_logits, atol=1e-5)
    kwargs = dict(music_text_ids=text, num_steps=4, seed=1, guidance_scale=3.0)
    a = engine.module.generate("text2music_motion", **kwargs)
    b = reference.generate("text2music_motion", **kwargs)
    results["generate"] = all(torch.equal(a[k], b[k]) for k in a)
    results["caption"] = torch.equal(engine.module.caption(music_codes=music, max_length=6),
                                     reference.caption(music_codes=music, max_length=6))

    engine.train()
    loss = engine(motion_codes=motion).loss
    engine.backward(loss)
    engine.step()
    with deepspeed.zero.GatheredParameters(list(model.parameters())):
        after = {n: p.detach().clone() for n, p in model.named_parameters()}
    before = dict(reference.named_parameters())
    changed = {model.parameter_group(n) for n in after if not torch.equal(after[n], before[n])}
    results["trained_groups"] = sorted(changed)
    print("RESULT " + json.dumps(results))
""")


@pytest.mark.slow  # ~15 s alone, but DeepSpeed start-up can take a minute on a loaded machine
def test_zero3_engine_matches_plain_model(tmp_path):
    script = tmp_path / "zero3_check.py"
    script.write_text(SCRIPT)
    env = dict(
        os.environ,
        DS_ACCELERATOR="cpu",
        OMP_NUM_THREADS="1",
        RANK="0",
        WORLD_SIZE="1",
        LOCAL_RANK="0",
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(free_port()),
    )
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    results = json.loads(lines[-1][len("RESULT ") :])
    assert results == {
        "partitioned": True,
        "captioning_copy": True,
        "logits": True,
        "generate": True,
        "caption": True,
        "trained_groups": ["motion"],
    }
