"""The search space: sampling and freezing through NNI, the four baselines, canonical forms."""
from __future__ import annotations

import random

import pytest
import torch

from search_spaces import get_space
from search_spaces.baselines import BASELINES
from search_spaces.blocks import build_network
from search_spaces.mnist import CHOICES, MnistSpace, canonical, complete, parse_fixed, smallest_arch


def n_params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("name", list(BASELINES))
def test_baselines_are_points_of_the_space_within_10pct_of_the_seed(name):
    b = BASELINES[name]
    full = complete(b["arch"])  # raises if a choice is outside the space
    model = MnistSpace().freeze(full)
    count = n_params(model)
    assert abs(count - b["seed_params"]) / b["seed_params"] <= 0.10, (name, count)
    assert count == n_params(build_network(b["arch"]))
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_baseline_counts_are_exact():
    # the numbers the README and report quote; a change to blocks.py must update them knowingly
    assert {k: n_params(build_network(b["arch"])) for k, b in BASELINES.items()} == \
        {"exp1": 18752, "exp2": 8712, "exp3": 8880, "exp4": 9504, "era7918": 7918, "lqznt4k": 3816, "r3cpl8k": 7762}


def test_baselines_follow_the_seed_targets():
    a = {k: b["arch"] for k, b in BASELINES.items() if k.startswith("exp")}
    r = {k: b["recipe"] for k, b in BASELINES.items() if k.startswith("exp")}
    assert not a["exp1"]["bn"] and a["exp1"]["dropout"] == 0 and not r["exp1"]["augment"]
    assert n_params(build_network(a["exp2"])) < 10000 and not a["exp2"]["bn"]
    assert a["exp3"]["bn"] and a["exp3"]["dropout"] > 0 and not r["exp3"]["augment"]
    assert r["exp4"]["augment"] and r["exp4"]["schedule"] == "step"


def test_nni_sees_every_label_of_the_space():
    space = MnistSpace()
    simplified = space.simplify()
    assert set(simplified) == set(CHOICES)
    assert all(list(simplified[k].values) == v for k, v in CHOICES.items())


def test_random_samples_freeze_to_working_models():
    rng = random.Random(0)
    space = MnistSpace()
    built = 0
    for _ in range(25):
        sample = {k: rng.choice(v) for k, v in CHOICES.items()}
        model = space.freeze(sample)
        if model.impossible:  # a stem can leave too little of 28x28 for unpadded convs: the gate rejects it
            with pytest.raises(ValueError, match="cannot take 1x28x28 images"):
                model(torch.zeros(3, 1, 28, 28))
            continue
        built += 1
        assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
        # the frozen NNI model and the plain rebuild from the canonical arch are the same network
        plain = build_network(canonical(sample))
        assert n_params(model) == n_params(plain)
        plain.load_state_dict({k.removeprefix("net."): v for k, v in model.state_dict().items()})
        x = torch.randn(2, 1, 28, 28)
        assert torch.equal(model.eval()(x), plain.eval()(x))
    assert built >= 15


def test_space_spans_small_and_large_models():
    assert n_params(build_network(smallest_arch())) < 2000
    widest = {k: max(v) if k not in ("bn", "head", "sep1", "sep2", "sep3", "tkind1", "tkind2") else v[0]
              for k, v in CHOICES.items()}
    assert n_params(build_network(widest)) > 20000


def test_canonical_drops_unused_choices_and_complete_restores_them():
    arch = BASELINES["exp2"]["arch"]
    assert "c1_2" not in canonical(complete(arch)) and "trans2" not in canonical(complete(arch))
    assert canonical(complete(canonical(complete(arch)))) == canonical(complete(arch))


@pytest.mark.parametrize("bad, message", [
    ({"depht1": 2}, "unknown architecture keys ['depht1']"),
    ({"c1_0": 7}, "c1_0=7 is not in the space"),
])
def test_bad_architectures_are_refused_by_name(bad, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        complete({**BASELINES["exp2"]["arch"], **bad})


def test_unknown_space_name():
    with pytest.raises(ValueError, match="unknown search space 'mnsit'; choose one of: mnist"):
        get_space("mnsit")


def test_fixed_labels_leave_one_choice_and_freeze_to_it():
    fixed = parse_fixed("bn=TRUE, dropout=0.10,head=1x1_gap")
    assert fixed == {"bn": True, "dropout": 0.1, "head": "1x1_gap"}
    space = MnistSpace(fixed)
    simplified = space.simplify()
    assert set(simplified) == set(CHOICES)  # the label is still there (NNI records it) ...
    assert [list(simplified[k].values) for k in fixed] == [[True], [0.1], ["1x1_gap"]]  # ... with one value
    assert list(simplified["c1_0"].values) == CHOICES["c1_0"]
    rng = random.Random(1)
    sample = {k: rng.choice(list(m.values)) for k, m in simplified.items()}
    model = space.freeze(sample)
    from search_spaces.blocks import ConvBlock, SepConvBlock, Squeeze, StridedConv

    blocks = (ConvBlock, SepConvBlock, Squeeze, StridedConv)  # each ends in ReLU -> BN (bn fixed on)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == \
        sum(isinstance(m, blocks) for m in model.modules()) >= sample["depth1"] + sample["depth2"]
    assert parse_fixed("") == {} and smallest_arch(fixed)["bn"] is True


@pytest.mark.parametrize("text, message", [
    ("bn=maybe", "bn=maybe is not in the space; choices: True, False"),
    ("dropuot=0.1", "cannot fix unknown label 'dropuot'"),
    ("dropout=0.3", "dropout=0.3 is not in the space; choices: 0.0, 0.02, 0.05, 0.1"),
    ("c1_0=5", "c1_0=5 is not in the space"),
    ("bn", "fix expects label=value, got 'bn'"),
])
def test_bad_fixed_labels_are_refused_by_name(text, message):
    with pytest.raises(ValueError, match=message):
        parse_fixed(text)


def test_separable_convs_have_the_weights_the_formula_gives():
    exp3 = BASELINES["exp3"]["arch"]  # c1 8, 16; trans1 8; c2 12, 16, 16, 16; BN; GAP head
    full, sep = build_network(exp3), build_network({**exp3, "sep1": True, "sep2": True})
    ins, outs = [8, 8, 12, 16, 16], [16, 12, 16, 16, 16]  # the convs sep1 and sep2 separate
    saved = sum(9 * i * o - (9 * i + i * o) for i, o in zip(ins, outs))
    assert n_params(full) - n_params(sep) == saved
    assert sum(isinstance(m, torch.nn.Conv2d) and m.groups > 1 for m in sep.modules()) == 5  # the first conv stays
    assert sep(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_sep_labels_off_are_the_networks_from_before_them():
    from search_spaces.choices import network_key

    old = dict(BASELINES["exp3"]["arch"])  # an architecture written before the sep labels existed
    assert canonical(complete(old)) == old
    assert network_key(complete(old)) == network_key({**complete(old), "sep3": True})  # no third stage
    assert network_key({**complete(old), "sep2": True}) != network_key(complete(old))
    assert canonical({**complete(old), "sep2": True})["sep2"] is True
    assert "sep1" not in canonical({**complete(old), "depth1": 1, "sep1": True})  # nothing to separate
    with pytest.raises(ValueError, match="sep2='yes' is not in the space"):
        complete({**old, "sep2": "yes"})


def test_a_search_recorded_before_the_sep_labels_resumes_in_its_own_space():
    from nas.results.store import recorded_choices

    from search_spaces.choices import ADDED_LATER

    legacy = recorded_choices({"search": {}})
    assert not set(ADDED_LATER) & set(legacy) and len(legacy) == len(CHOICES) - len(ADDED_LATER)
    assert "expand" not in legacy["head"] and "expand" in CHOICES["head"]
    assert legacy["c2_0"] == [4, 6, 8, 10, 12, 14, 16, 20, 24, 32] and 64 in CHOICES["c2_0"]
    space = MnistSpace(choices=legacy)
    assert {k: list(m.values) for k, m in space.simplify().items()} == legacy
    old_sample = complete(BASELINES["exp3"]["arch"])
    for k in ADDED_LATER:
        del old_sample[k]
    model = space.freeze(old_sample)  # a parent sample of the old search freezes to its network
    assert n_params(model) == n_params(build_network(BASELINES["exp3"]["arch"]))
    assert recorded_choices({"choices": {"bn": [True]}}) == {"bn": [True]}


def test_the_public_7918_design_is_a_point_of_the_widened_space():
    from search_spaces.baselines import ERA7918

    net = build_network(ERA7918)
    assert n_params(net) == 7918
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(m.kernel_size[0], m.out_channels) for m in convs] == \
        [(3, 10)] * 3 + [(3, 16), (3, 16), (3, 8), (3, 8), (1, 8), (1, 16), (1, 10)]
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == len(convs) - 1
    assert not any(m.bias is not None for m in convs)
    assert n_params(MnistSpace().freeze(complete(ERA7918))) == 7918


def test_new_labels_at_their_first_choice_build_the_old_networks_with_the_old_keys():
    from search_spaces.choices import ADDED_LATER, network_key

    for name in ("exp1", "exp2", "exp3", "exp4"):
        old = BASELINES[name]["arch"]
        full = complete(old)
        assert all(full[k] == CHOICES[k][0] for k in ADDED_LATER)
        assert canonical(full) == old and network_key(full) == network_key(old)
        assert build_network(old).state_dict().keys() == build_network(full).state_dict().keys()
        # ... and any value of a label that only matters beside another is ignored
        assert network_key({**full, "head_width": 32, "sqpos2": 3}) == network_key(old)


def test_transitions_squeezes_and_the_expand_head_build_what_they_say():
    exp3 = BASELINES["exp3"]["arch"]  # stage 1 ends at 16 channels, 24x24; trans1 8
    base = n_params(build_network(exp3))
    mp = build_network({**exp3, "tkind1": "mp"})  # no 1x1 (16*8 weights); stage 2's first conv sees 16 channels
    assert n_params(mp) == base - 16 * 8 - 9 * 8 * 12 + 9 * 16 * 12
    strided = build_network({**exp3, "tkind1": "conv_s2"})  # 3x3 16 -> 8, stride 2, + BN
    assert n_params(strided) == base - 16 * 8 + 9 * 16 * 8 + 2 * 8
    x = torch.zeros(2, 1, 28, 28)
    assert mp[:3](x).shape[-1] == 12 and strided[:3](x).shape[-1] == 12
    squeezed = build_network({**exp3, "sq2": 6, "sqpos2": 2})  # after c2_1 (16): 16 -> 6, then c2_2 sees 6
    assert n_params(squeezed) == base + 16 * 6 + 2 * 6 - 9 * 16 * 16 + 9 * 6 * 16
    expand = build_network({**exp3, "head": "expand", "head_width": 24})  # 16 -> 24 (+BN) -> GAP -> 24 -> 10
    assert n_params(expand) == base - 16 * 10 + 16 * 24 + 2 * 24 + 24 * 10
    for net in (mp, strided, squeezed, expand):
        assert net(x).shape == (2, 10)
    # a position past the stage's depth squeezes after its last conv: the same network, one key
    from search_spaces.choices import network_key
    assert network_key(complete({**exp3, "sq2": 6, "sqpos2": 4})) == \
        network_key(complete({**exp3, "sq2": 6, "sqpos2": 4, "depth2": 4}))
    shallow = {**exp3, "depth2": 2, "sq2": 6}
    assert network_key(complete({**shallow, "sqpos2": 4})) == network_key(complete({**shallow, "sqpos2": 2}))
    assert network_key(complete({**shallow, "sqpos2": 1})) != network_key(complete({**shallow, "sqpos2": 2}))


def test_a_key_does_not_depend_on_how_json_wrote_a_number():
    # NNI's manager re-serialises parameters in JavaScript, where 0.0 comes back as 0
    from search_spaces.baselines import ERA7918
    from search_spaces.choices import network_key

    assert ERA7918["dropout"] == 0.0
    assert network_key({**ERA7918, "dropout": 0}) == network_key(ERA7918)
    assert network_key({**ERA7918, "c1_0": 10.0}) == network_key(ERA7918)


def test_recipe_labels_are_part_of_a_candidate_only_away_from_their_first_choice():
    """--search-recipe: a candidate's recipe labels scale the run's recipe; at their first choices
    (or absent) nothing changes, so every earlier architecture keeps its key and its training."""
    from dataclasses import replace

    from nas.config import TrainConfig, with_recipe
    from search_spaces.choices import LABELS, RECIPE_CHOICES, network_key, search_choices

    exp3 = canonical(BASELINES["exp3"]["arch"])
    assert not set(exp3) & set(RECIPE_CHOICES)
    assert canonical({**exp3, "lr_x": 1, "smooth": 0}) == exp3  # first choices: the plain architecture
    tuned = canonical(complete({**exp3, "lr_x": 4, "batch_x": 0.5, "aug_x": 1.5, "smooth": 0.1}))
    assert tuned == {**exp3, "lr_x": 4.0, "batch_x": 0.5, "aug_x": 1.5, "smooth": 0.1}
    assert network_key(tuned) != network_key(exp3) and network_key({**exp3, "lr_x": 1.0}) == network_key(exp3)
    base = replace(TrainConfig(), lr=0.02, batch_size=64, max_degrees=6.0, max_shift=2.0)
    cfg, changes = with_recipe(base, tuned)
    assert changes == {"lr": pytest.approx(0.08), "batch_size": 32, "max_degrees": 9.0, "max_shift": 3.0,
                       "label_smoothing": 0.1}
    assert (cfg.lr, cfg.batch_size, cfg.max_degrees, cfg.max_shift, cfg.label_smoothing, cfg.augment) == \
        (pytest.approx(0.08), 32, 9.0, 3.0, 0.1, True)
    assert with_recipe(base, {**exp3, "aug_x": 0.0})[0] == replace(base, augment=False)
    plain, none = with_recipe(base, exp3)
    assert plain is base and none == {}
    with pytest.raises(ValueError, match="lr_x=3 is not in the space"):
        complete({**exp3, "lr_x": 3})
    assert parse_fixed("lr_x=2,smooth=0.05") == {"lr_x": 2.0, "smooth": 0.05}
    assert search_choices() == CHOICES and search_choices(recipe=True) == LABELS
    # the plain space leaves the recipe labels out of NNI's sample; the recipe search samples them
    assert not set(MnistSpace().simplify()) & set(RECIPE_CHOICES)
    space = MnistSpace(choices=LABELS)
    simplified = space.simplify()
    assert set(simplified) == set(LABELS)
    sample = {k: m.values[0] for k, m in simplified.items()} | {"lr_x": 2.0}
    assert space.freeze(sample).arch["lr_x"] == 2.0
