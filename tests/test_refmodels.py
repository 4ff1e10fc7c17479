"""The reference models must match torchvision's published parameter counts."""

import pytest

torch = pytest.importorskip("torch")

from tests import refmodels  # noqa: E402


@pytest.mark.parametrize("name", sorted(refmodels.PUBLISHED_PARAMS))
def test_param_count_matches_torchvision(name):
    model = refmodels.build(name)
    assert sum(p.numel() for p in model.parameters()) == refmodels.PUBLISHED_PARAMS[name]


@pytest.mark.parametrize("name", sorted(refmodels.MODELS))
def test_forward_runs(name):
    model = refmodels.build(name)
    with torch.no_grad():
        y = model(torch.zeros(1, *refmodels.INPUTS[name]))
    assert y.shape[0] == 1
