"""Sweep specs: validation errors, expansion, stable run ids, random search."""

from __future__ import annotations

import copy

import pytest

from rewardlab.config.registry import ConfigError
from rewardlab.sweep.spec import config_hash, load_spec, parse_spec
from rewardlab.sweep.weight_search import apply_weights, parse_tune

BASE = {
    "name": "t",
    "envs": ["CartPole-v1"],
    "rewards": {"plain": "extrinsic", "bonus": ["extrinsic", {"term": "constant", "value": 0.1}]},
    "algos": {"ppo": {}},
    "seeds": 2,
    "steps": "2k",
}


def spec_with(**changes):
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def test_expands_grid_with_stable_ids_and_hashes():
    spec = parse_spec(spec_with(search={"mode": "grid", "params": {"gamma": [0.9, 0.99], "n_epochs": [1, 2, 3]}}))
    runs = spec.runs()
    assert len(runs) == 2 * 2 * 6  # rewards × seeds × (2 × 3 variants)
    assert len({r.run_id for r in runs}) == len(runs)
    first = runs[0]
    assert first.run_id == f"CartPole-v1__plain__ppo__p0__s0__{first.config_hash}"
    assert first.config.hyperparams == {"gamma": 0.9, "n_epochs": 1}
    assert first.config.steps == 2000 and first.config.reward == "extrinsic"
    # same spec → same ids; a changed config → a changed hash
    assert [r.run_id for r in parse_spec(spec_with(search=spec.search)).runs()] == [r.run_id for r in runs]
    other = parse_spec(spec_with(steps=3000, search=spec.search)).runs()[0]
    assert other.config_hash != first.config_hash and other.group == first.group
    assert config_hash(first.config) == first.config_hash and len(first.config_hash) == 8


def test_random_search_is_seeded_and_in_range():
    search = {
        "mode": "random",
        "n": 5,
        "seed": 3,
        "params": {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}, "n_epochs": [2, 4]},
    }
    variants = parse_spec(spec_with(search=search)).variants()
    assert variants == parse_spec(spec_with(search=search)).variants()
    assert len(variants) == 5
    assert all(1e-4 <= v["learning_rate"] <= 1e-2 and v["n_epochs"] in (2, 4) for v in variants)
    assert variants != parse_spec(spec_with(search={**search, "seed": 4})).variants()


def test_reward_file_is_read_relative_to_the_spec(tmp_path):
    (tmp_path / "r.yaml").write_text("reward: [extrinsic, {term: constant, value: -1}]\n")
    (tmp_path / "s.yaml").write_text("envs: [CartPole-v1]\nrewards: {mine: r.yaml}\nseeds: [4, 7]\n")
    spec = load_spec(tmp_path / "s.yaml")
    assert spec.name == "s" and spec.seeds == [4, 7]
    assert spec.rewards["mine"] == ["extrinsic", {"term": "constant", "value": -1}]
    assert [r.seed for r in spec.runs()] == [4, 7]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sedes": 3}, "unknown key 'sedes' (did you mean 'seeds'?)"),
        ({"envs": ["CartPol-v1"]}, "did you mean 'CartPole-v1'?"),
        ({"algos": {"ppp": {}}}, "unknown algo 'ppp' (did you mean 'ppo'?)"),
        ({"algos": {"ppo": {"learning_rat": 0.1}}}, "unknown ppo hyper-parameter 'learning_rat'"),
        ({"rewards": {"x": {"term": "extrinsc"}}}, "rewards[x]: unknown reward term 'extrinsc'"),
        ({"rewards": {"x": {"term": "constant", "valu": 1}}}, "unknown parameter 'valu' (did you mean 'value'?)"),
        ({"rewards": {"x": "missing.yaml"}}, "reward file 'missing.yaml' not found"),
        ({"seeds": 0}, "seeds: an int means"),
        ({"steps": "lots"}, "cannot read a step count"),
        ({"search": {"mode": "grid", "params": {"gamma": {"low": 0.9, "high": 0.99}}}}, "a range needs mode: random"),
        ({"search": {"mode": "random", "params": {"gamma": [0.9]}}}, "search.n"),
        ({"search": {"mode": "grid", "params": {"gama": [0.9]}}}, "did you mean 'gamma'?"),
    ],
)
def test_validation_errors_name_the_problem(changes, message):
    with pytest.raises(ConfigError) as err:
        parse_spec(spec_with(**changes))
    assert message in str(err.value)


def test_tune_section_and_weights():
    spec = parse_spec(
        spec_with(
            rewards={"r": ["extrinsic", {"term": "constant", "value": 1.0, "name": "alive"}]},
            tune={"weights": {"alive": [0.0, 2.0]}, "trials": 3},
        )
    )
    tune = parse_tune(spec)
    assert tune.reward == "r" and tune.weights == {"alive": (0.0, 2.0, False)} and tune.trials == 3
    assert apply_weights(spec.rewards["r"], {"alive": 0.5, "extrinsic": 2.0}) == [
        {"term": "extrinsic", "weight": 2.0},
        {"term": "constant", "value": 1.0, "name": "alive", "weight": 0.5},
    ]
    with pytest.raises(ConfigError, match="'alvie' is not a top-level term .*did you mean 'alive'"):
        apply_weights(spec.rewards["r"], {"alvie": 1.0})
    with pytest.raises(ConfigError, match="tune: unknown key 'trails'"):
        parse_tune(parse_spec(spec_with(tune={"weights": {"extrinsic": [0, 1]}, "trails": 2})))
