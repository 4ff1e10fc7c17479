"""vars, --set overrides and default names."""

import pytest

from cnnsize.engine.analysis import analyze
from cnnsize.engine.errors import SpecError
from cnnsize.engine.load import parse

BASE = {
    "cnnsize": 1,
    "name": "t",
    "input": [3, 8, 8],
    "vars": {"w": 4},
    "layers": [{"type": "conv", "filters": "${w}", "kernel": 3}],
}


def codes(doc, overrides=None):
    with pytest.raises(SpecError) as exc:
        analyze(parse(doc, "t.yaml", overrides))
    return [d.code for d in exc.value.diagnostics]


@pytest.mark.parametrize("value", [[1, 2], None, {"a": 1}])
def test_set_values_are_checked_like_vars(value):
    assert codes(BASE, {"w": value}) == ["bad-type"]


def test_set_overrides_a_var():
    a = analyze(parse(BASE, "t.yaml", {"w": 8}))
    assert a.layers[0].output_shape == (8, 6, 6)


def test_a_template_inside_vars_is_an_error_at_the_var():
    doc = {**BASE, "vars": {"w": 4, "b": "${w * 2}"}}
    assert codes(doc) == ["template"]


def test_default_names_skip_written_names():
    doc = {
        "cnnsize": 1,
        "name": "t",
        "input": [3, 8, 8],
        "layers": [{"name": "relu_2", "type": "relu"}, {"type": "relu"}, {"type": "relu"}],
    }
    a = analyze(parse(doc))
    assert [r.name for r in a.layers] == ["relu_2", "relu_1", "relu_3"]
