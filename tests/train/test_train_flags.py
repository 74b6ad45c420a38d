"""The one table from flags, environment variables and Python keywords to recipe keys (unimumo.train.flags):
unimumo-train and unimumo-submit build their flags from it, unimumo-train reads the UNIMUMO_* variables through it
(a flag wins over its variable, --set over both), run() and submit() map keywords through it, old spellings warn."""

from __future__ import annotations

import json

import pytest

from unimumo.cli import submit as submit_cli
from unimumo.cli import train as train_cli
from unimumo.train.flags import FLAGS, OVERRIDES_ENV, resolve_keywords
from unimumo.train.recipes import Recipe, RecipeError, set_key


def test_every_row_names_a_recipe_key_once():
    for column in ("flag", "key"):
        values = [getattr(row, column) for row in FLAGS]
        assert len(values) == len(set(values)), column
    variables = [row.env for row in FLAGS if row.env]
    assert len(variables) == len(set(variables)) and all(v.startswith("UNIMUMO_") for v in variables)
    for row in FLAGS:  # the key exists in the recipe schema
        set_key(
            Recipe(name="probe"), row.key, ["x"] if row.kind == "append" else "true" if row.kind == "switch" else "1"
        )


def test_both_commands_take_every_flag_of_the_table():
    train_flags = {a.option_strings[0] for a in train_cli.build_parser()._actions if a.option_strings}
    submit_flags = {a.option_strings[0] for a in submit_cli.build_parser()._actions if a.option_strings}
    table = {row.flag for row in FLAGS} | {old for row in FLAGS for old in row.deprecated}
    assert table <= train_flags and table <= submit_flags


def _printed(capsys, *argv: str) -> dict:
    assert train_cli.main(["--recipe", "stage2_joint", "--print-recipe", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_environment_sets_what_flags_do_not_and_loses_to_them(monkeypatch, capsys):
    monkeypatch.setenv("UNIMUMO_SHARDS", "/env/shards")
    monkeypatch.setenv("UNIMUMO_TEXT_MODEL", "/env/t5")
    monkeypatch.setenv("UNIMUMO_DS_CONFIG", "zero3")
    monkeypatch.setenv(OVERRIDES_ENV, "steps=7 optim.lr=1e-3 ds_config=zero1")
    recipe = _printed(capsys, "--text-model", "/flag/t5", "--set", "optim.lr=2e-3")
    assert recipe["data"]["shards"] == "/env/shards" and recipe["text_model"] == "/flag/t5"  # the flag wins
    assert recipe["steps"] == 7 and recipe["optim"]["lr"] == 2e-3  # --set wins over UNIMUMO_OVERRIDES
    assert recipe["ds_config"] == "zero1"  # UNIMUMO_OVERRIDES wins over the table's variables
    monkeypatch.delenv(OVERRIDES_ENV)
    monkeypatch.delenv("UNIMUMO_DS_CONFIG")
    assert _printed(capsys)["ds_config"] == "zero2"  # without the variable: the recipe's default


def test_old_spellings_warn_and_still_work(capsys):
    with pytest.warns(FutureWarning, match="musicgen .* is deprecated .* use init_from"):
        assert _printed(capsys, "--musicgen", "/m/musicgen")["init_from"] == "/m/musicgen"
    with pytest.warns(FutureWarning, match="deprecated"):
        assert resolve_keywords({"musicgen": "/m"}) == {"init_from": "/m"}
    with pytest.raises(RecipeError, match="give init_from once: init_from or musicgen, not both"):
        resolve_keywords({"musicgen": "/a", "init_from": "/b"})


def test_keywords_map_to_recipe_keys_and_anything_else_passes_through():
    assert resolve_keywords(
        {
            "shards": "/s",
            "text_model": "/t",
            "peak_flops": 1e12,
            "resume": True,
            "allow_random_init": ["a.*"],
            "optim.lr": 1e-4,
            "tasks__music2motion": 0.5,
        }
    ) == {
        "data.shards": "/s",
        "text_model": "/t",
        "log.peak_flops": 1e12,
        "resume": True,
        "init.allow_random": ["a.*"],
        "optim.lr": 1e-4,
        "tasks__music2motion": 0.5,
    }


def test_a_malformed_environment_override_is_a_recipe_error(monkeypatch, capsys):
    monkeypatch.setenv(OVERRIDES_ENV, "steps")
    assert train_cli.main(["--recipe", "stage2_joint", "--print-recipe"]) == 2
    assert (
        "unimumo-train: recipe error: UNIMUMO_OVERRIDES: expected whitespace-separated key=value pairs, got "
        "'steps'" in capsys.readouterr().err
    )
