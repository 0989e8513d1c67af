"""The prediction rule: the members' calibrated logits averaged, the views, the fitted temperature."""

from __future__ import annotations

import math

import pytest
import torch

from train import network


def two_class_logits(margin: float, right: int, wrong: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One view: ``right`` images scored ``margin`` for their class, ``wrong`` ones against it."""
    targets = torch.tensor([0] * (right + wrong))
    scores = torch.tensor([margin / 2] * right + [-margin / 2] * wrong)
    return torch.stack([scores, -scores], dim=1)[None], targets


@pytest.mark.parametrize("margin", [0.5, 2.0, 4.0])
def test_the_fitted_temperature_makes_confidence_match_accuracy(margin):
    logits, targets = two_class_logits(margin, right=80, wrong=20)
    temperature = network.fit_temperature(logits, targets)
    # 80 % right: the calibrated probability of the predicted class is 0.8, i.e. the margin
    # divided by the temperature is ln(0.8 / 0.2). The grid's steps are 4.4 % apart.
    assert temperature == pytest.approx(margin / math.log(4), rel=0.025)
    confidence = network.probabilities(logits, temperature).max(dim=1).values
    assert confidence.mean().item() == pytest.approx(0.8, abs=0.02)


def test_the_temperature_stays_1_when_nothing_is_learned():
    logits = torch.zeros(2, 10, 2)  # every probability already 0.5
    assert network.fit_temperature(logits, torch.tensor([0, 1] * 5)) == 1.0


def test_probabilities_average_the_views_after_the_temperature():
    logits = torch.tensor([[[2.0, 0.0]], [[0.0, 1.0]]])  # two views of one image
    expected = (torch.softmax(logits[0] / 0.5, 1) + torch.softmax(logits[1] / 0.5, 1)) / 2
    assert torch.allclose(network.probabilities(logits, 0.5), expected)


@pytest.mark.parametrize("members", [1, 3])
@pytest.mark.parametrize("classes", [2, 10])  # CLASSES=bicycle,motorcycle and vehicles
def test_predict_proba_averages_the_members_calibrated_logits_per_view(classes, members):
    torch.manual_seed(0)
    model = network.build_model({"num_classes": classes, "width": 4, "members": members})
    temperatures = torch.linspace(0.5, 2.0, members)
    model.temperatures.copy_(temperatures)
    images = torch.rand(5, 3, 32, 32)

    logits = network.view_logits(model, images, tta=True)

    assert logits.shape == (2, 5, classes)
    for view, pixels in enumerate([images, images.flip(3)]):  # the image, its mirror
        calibrated = [m(pixels) / t for m, t in zip(model.members, temperatures)]
        assert torch.allclose(logits[view], torch.stack(calibrated).mean(dim=0), atol=1e-5)
    probs = network.predict_proba(model, images, tta=True)
    assert torch.allclose(probs, torch.softmax(logits, dim=2).mean(dim=0))
    assert torch.allclose(probs, network.probabilities(logits))
    assert torch.allclose(probs.sum(dim=1), torch.ones(5))
    plain = network.predict_proba(model, images, tta=False)
    assert torch.allclose(plain, torch.softmax(logits[0], dim=1), atol=1e-6)
    assert network.predict_proba(model, images[:0], tta=True).shape == (0, classes)
    assert network.fit_temperature(logits, torch.arange(5) % classes) in network.TEMPERATURES


def test_a_member_alone_gives_its_uncalibrated_views():
    """In training, each member is calibrated on the logits of its own validation split."""
    torch.manual_seed(0)
    member = network.SconesNet(num_classes=2, width=4)
    images = torch.rand(3, 3, 32, 32)
    logits = network.view_logits(member, images, tta=True)
    assert logits.shape == (2, 3, 2)
    assert torch.allclose(logits[1], member(images.flip(3)), atol=1e-5)


def test_an_ensemble_needs_a_temperature_per_member():
    member = network.SconesNet(num_classes=2, width=4)
    with pytest.raises(ValueError, match="one temperature per member"):
        network.Ensemble([member, member], [1.0])
