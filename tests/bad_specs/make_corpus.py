"""Writes the bad-spec corpus (tests/bad_specs/<category>/<case>.yaml).

Each case is written with markers: ``⟦code⟧`` placed exactly where the error
must point. This script removes the markers and turns them into the header
``# expect: code line:col`` (one line per expected diagnostic, in source
order), so that locations are stated by hand, never copied from the tool's
output. Run ``python tests/bad_specs/make_corpus.py`` after editing a case;
the committed .yaml files are what tests/test_bad_specs.py reads.
"""

from __future__ import annotations

import os
import re
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
MARK = re.compile(r"⟦([a-z0-9-]+)(?:@(\d+):(\d+))?⟧")

HEAD = "cnnsize: 1\nname: case\ninput: [3, 32, 32]\n"


def spec(layers: str, top: str = "", head: str = HEAD) -> str:
    return head + top + "layers:\n" + layers


CASES: dict[str, dict[str, str]] = {}


def case(category: str, name: str, text: str) -> None:
    CASES.setdefault(category, {})[name] = text


# --- YAML syntax ---------------------------------------------------------------
# the parser reports where it found what it did not expect
case("yaml_syntax", "unclosed_flow_seq", spec("  - {type: conv, filters: 8, kernel: [3, 3⟦yaml-syntax⟧}\n"))
case(
    "yaml_syntax", "unclosed_flow_map", spec("  - {type: conv, filters: 8, kernel: 3\n  - ⟦yaml-syntax⟧{type: relu}\n")
)
case("yaml_syntax", "unclosed_quote", spec('  - {type: conv, name: "c1, filters: 8, kernel: 3}\n') + "⟦yaml-syntax⟧")
case(
    "yaml_syntax",
    "bad_indent",
    "cnnsize: 1\nname: case\ninput: [3, 32, 32]\nlayers:\n  - type: conv\n    filters: 8\n   ⟦yaml-syntax⟧kernel: 3\n",
)
case(
    "yaml_syntax",
    "mapping_in_scalar",
    "cnnsize: 1\nname: case⟦yaml-syntax⟧: other\ninput: [3, 32, 32]\nlayers:\n  - {type: relu}\n",
)
case(
    "yaml_syntax",
    "stray_bracket",
    "cnnsize: 1\nname: case\ninput: [3, 32, 32]⟦yaml-syntax⟧]\nlayers:\n  - {type: relu}\n",
)
case(
    "yaml_syntax",
    "reserved_at",
    "cnnsize: 1\nname: ⟦yaml-syntax⟧@case\ninput: [3, 32, 32]\nlayers:\n  - {type: relu}\n",
)
case(
    "yaml_syntax",
    "reserved_backtick",
    "cnnsize: 1\nname: ⟦yaml-syntax⟧`case`\ninput: [3, 32, 32]\nlayers:\n  - {type: relu}\n",
)
case(
    "yaml_syntax",
    "seq_after_map",
    "cnnsize: 1\nname: case\ninput: [3, 32, 32]\nlayers:\n  - {type: relu}\n⟦yaml-syntax⟧- {type: relu}\n",
)
case("yaml_syntax", "multi_document", spec("  - {type: relu}\n") + "⟦yaml-multi-document⟧---\ncnnsize: 1\n")
case("yaml_syntax", "undefined_alias", spec("  - {type: conv, filters: ⟦yaml-undefined-alias⟧*width, kernel: 3}\n"))
case("yaml_syntax", "bad_directive", "⟦yaml-syntax⟧%YAML 9.9\n---\n" + spec("  - {type: relu}\n"))
case(
    "yaml_syntax",
    "unclosed_block_quote",
    "cnnsize: 1\nname: 'case\ninput: [3, 32, 32]\nlayers:\n  - {type: relu}\n⟦yaml-syntax⟧",
)
case("yaml_syntax", "merge_key", spec("  - {type: relu}\n", "base: &b {kernel: 3}\nx: {⟦yaml-merge-key⟧<<: *b}\n"))

# --- tabs ---------------------------------------------------------------------
case("tabs", "tab_indent_layer", "cnnsize: 1\nname: case\ninput: [3, 32, 32]\nlayers:\n⟦yaml-tab⟧\t- {type: relu}\n")
case(
    "tabs",
    "tab_indent_key",
    "cnnsize: 1\nname: case\ninput: [3, 32, 32]\nlayers:\n  - type: conv\n⟦yaml-tab⟧\tfilters: 8\n    kernel: 3\n",
)
case(
    "tabs",
    "tab_in_blocks",
    "cnnsize: 1\nname: case\ninput: [3, 32, 32]\nblocks:\n⟦yaml-tab⟧\tb: {layers: [{type: relu}]}\nlayers:\n"
    "  - {block: b}\n",
)
case(
    "tabs", "tab_before_top_key", "cnnsize: 1\n⟦yaml-tab⟧\tname: case\ninput: [3, 32, 32]\nlayers:\n  - {type: relu}\n"
)
case(
    "tabs",
    "tab_in_nested_map",
    "cnnsize: 1\nname: case\ninput: [3, 32, 32]\nbudgets:\n⟦yaml-tab⟧\tmax_params: 5M\nlayers:\n  - {type: relu}\n",
)

# --- duplicate keys -------------------------------------------------------------
case(
    "duplicate_keys",
    "top_level",
    "cnnsize: 1\nname: case\ninput: [3, 32, 32]\n⟦duplicate-key⟧name: again\nlayers:\n  - {type: relu}\n",
)
case("duplicate_keys", "in_layer", spec("  - {type: conv, filters: 8, kernel: 3, ⟦duplicate-key⟧filters: 16}\n"))
case(
    "duplicate_keys",
    "in_block_args",
    spec(
        "  - {block: b, f: 8}\n",
        "blocks:\n  b:\n    args: {f: ~, ⟦duplicate-key⟧f: 1}\n"
        "    layers: [{type: conv, filters: '${f}', kernel: 1}]\n",
    ),
)
case(
    "duplicate_keys",
    "in_defaults",
    spec("  - {type: conv, filters: 8, kernel: 3}\n", "defaults: {bias: false, ⟦duplicate-key⟧bias: true}\n"),
)
case(
    "duplicate_keys",
    "two_in_one_file",
    "cnnsize: 1\nname: case\ninput: [3, 32, 32]\nlayers:\n"
    "  - {type: conv, filters: 8, kernel: 3, ⟦duplicate-key⟧kernel: 5}\n"
    "  - {type: relu, name: r, ⟦duplicate-key⟧name: s}\n",
)
case("duplicate_keys", "layers_twice", spec("  - {type: relu}\n") + "⟦duplicate-key⟧layers:\n  - {type: relu}\n")
case(
    "duplicate_keys",
    "block_mapping_style",
    spec("  - type: conv\n    filters: 8\n    kernel: 3\n    ⟦duplicate-key⟧type: fc\n"),
)
case(
    "duplicate_keys",
    "dup_plus_bad_value",
    spec(
        "  - {type: conv, filters: 8, kernel: 3, ⟦duplicate-key⟧kernel: 5}\n"
        "  - {type: conv, filters: ⟦bad-value⟧0, kernel: 3}\n"
    ),
)

# --- wrong types ----------------------------------------------------------------
T = "wrong_types"
case(T, "string_kernel", spec("  - {type: conv, filters: 8, kernel: ⟦bad-type⟧three}\n"))
case(T, "string_kernel_quoted_number", spec("  - {type: conv, filters: 8, kernel: ⟦bad-type⟧'3'}\n"))
case(T, "float_filters", spec("  - {type: conv, filters: ⟦bad-type⟧6.5, kernel: 3}\n"))
case(T, "integral_float_filters", spec("  - {type: conv, filters: ⟦bad-type⟧64.0, kernel: 3}\n"))
case(T, "float_channels_input", "cnnsize: 1\nname: case\ninput: ⟦bad-type⟧[3.0, 32, 32]\nlayers:\n  - {type: relu}\n")
case(T, "negative_stride", spec("  - {type: conv, filters: 8, kernel: 3, stride: ⟦bad-value⟧-1}\n"))
case(T, "zero_stride", spec("  - {type: conv, filters: 8, kernel: 3, stride: ⟦bad-value⟧0}\n"))
case(T, "zero_stride_in_list", spec("  - {type: maxpool, kernel: 2, stride: ⟦bad-value⟧[2, 0]}\n"))
case(T, "zero_kernel", spec("  - {type: conv, filters: 8, kernel: ⟦bad-value⟧0}\n"))
case(T, "negative_kernel", spec("  - {type: maxpool, kernel: ⟦bad-value⟧-2}\n"))
case(T, "zero_filters", spec("  - {type: conv, filters: ⟦bad-value⟧0, kernel: 3}\n"))
case(T, "negative_filters", spec("  - {type: conv, filters: ⟦bad-value⟧-8, kernel: 3}\n"))
case(T, "zero_groups", spec("  - {type: conv, filters: 8, kernel: 3, groups: ⟦bad-value⟧0}\n"))
case(T, "negative_groups", spec("  - {type: conv, filters: 8, kernel: 3, groups: ⟦bad-value⟧-1}\n"))
case(T, "bool_filters", spec("  - {type: conv, filters: ⟦bad-type⟧true, kernel: 3}\n"))
case(T, "list_filters", spec("  - {type: conv, filters: ⟦bad-type⟧[8, 8], kernel: 3}\n"))
case(T, "mapping_kernel", spec("  - {type: conv, filters: 8, kernel: ⟦bad-type⟧{h: 3, w: 3}}\n"))
case(T, "float_in_kernel_list", spec("  - {type: conv, filters: 8, kernel: ⟦bad-type⟧[3, 2.5]}\n"))
case(T, "float_padding", spec("  - {type: conv, filters: 8, kernel: 3, padding: ⟦bad-type⟧1.5}\n"))
case(T, "negative_padding", spec("  - {type: conv, filters: 8, kernel: 3, padding: ⟦bad-value⟧-1}\n"))
case(T, "input_string", "cnnsize: 1\nname: case\ninput: ⟦bad-input⟧3x32x32\nlayers:\n  - {type: relu}\n")
case(T, "input_too_many_axes", "cnnsize: 1\nname: case\ninput: ⟦bad-input⟧[3, 8, 8, 8, 8]\nlayers:\n  - {type: relu}\n")
case(T, "input_zero", "cnnsize: 1\nname: case\ninput: ⟦bad-value⟧[3, 0, 32]\nlayers:\n  - {type: relu}\n")
case(T, "fc_float_units", spec("  - {type: fc, units: ⟦bad-type⟧10.5}\n"))
case(T, "repeat_float", spec("  - {type: relu, repeat: ⟦bad-type⟧2.0}\n"))
case(T, "repeat_negative", spec("  - {type: relu, repeat: ⟦bad-value⟧-3}\n"))
case(T, "bias_string", spec("  - {type: conv, filters: 8, kernel: 3, bias: ⟦bad-type⟧'yes'}\n"))
case(T, "ceil_mode_number", spec("  - {type: maxpool, kernel: 2, ceil_mode: ⟦bad-type⟧1}\n"))
case(T, "name_number", spec("  - {type: relu, name: ⟦bad-name⟧5}\n"))
case(T, "name_with_space", spec("  - {type: relu, name: ⟦bad-name⟧my relu}\n"))
case(T, "layers_mapping", "cnnsize: 1\nname: case\ninput: [3, 32, 32]\nlayers: ⟦bad-type⟧{type: relu}\n")
case(T, "layers_empty", "cnnsize: 1\nname: case\ninput: [3, 32, 32]\nlayers: ⟦bad-type⟧[]\n")
case(T, "layer_is_string", spec("  - ⟦bad-layer⟧conv\n"))
case(T, "name_is_list", "cnnsize: 1\nname: ⟦bad-type⟧[a, b]\ninput: [3, 32, 32]\nlayers:\n  - {type: relu}\n")
case(T, "dropout_p_string", spec("  - {type: dropout, p: ⟦bad-type⟧half}\n"))
case(T, "dropout_p_above_one", spec("  - {type: dropout, p: ⟦bad-value⟧1.5}\n"))
case(T, "padding_unknown_word", spec("  - {type: conv, filters: 8, kernel: 3, padding: ⟦bad-type⟧full}\n"))
case(T, "version_two", "cnnsize: ⟦unsupported-version⟧2\nname: case\ninput: [3, 32, 32]\nlayers:\n  - {type: relu}\n")
case(T, "binary_tag", spec("  - {type: relu, name: ⟦yaml-tag⟧!!binary aGVsbG8=}\n"))
case(T, "python_tag", spec("  - {type: relu}\n", "x: ⟦yaml-tag⟧!!python/object/apply:os.system ['echo hi']\n"))
case(T, "custom_tag", spec("  - ⟦yaml-tag⟧!layer {type: relu}\n"))
case(T, "huge_int_literal", spec("  - {type: conv, filters: ⟦yaml-value⟧" + "9" * 5000 + ", kernel: 3}\n"))
case(T, "null_key", spec("  - {type: relu, ⟦bad-key⟧~: 1}\n"))
case(T, "budget_not_a_number", spec("  - {type: relu}\n", "budgets: {max_params: ⟦bad-budget⟧lots}\n"))
case(T, "when_not_bool", spec("  - {type: relu, when: ⟦bad-type⟧'yes please'}\n"))

# --- missing keys ------------------------------------------------------------------
M = "missing_keys"
case(M, "no_version", "⟦missing-key⟧name: case\ninput: [3, 32, 32]\nlayers:\n  - {type: relu}\n")
case(M, "no_name", "⟦missing-key⟧cnnsize: 1\ninput: [3, 32, 32]\nlayers:\n  - {type: relu}\n")
case(M, "no_input", "⟦missing-key⟧cnnsize: 1\nname: case\nlayers:\n  - {type: relu}\n")
case(M, "no_layers", "⟦missing-key⟧cnnsize: 1\nname: case\ninput: [3, 32, 32]\n")
case(M, "conv_no_filters", spec("  - ⟦missing-key⟧{type: conv, kernel: 3}\n"))
case(M, "conv_no_kernel", spec("  - ⟦missing-key⟧{type: conv, filters: 8}\n"))
case(M, "conv_no_filters_no_kernel", spec("  - ⟦missing-key⟧⟦missing-key⟧{type: conv}\n"))
case(M, "fc_no_units", spec("  - ⟦missing-key⟧{type: fc}\n"))
case(M, "layer_no_type", spec("  - ⟦missing-key⟧{name: c1, filters: 8, kernel: 3}\n"))
case(M, "block_no_layers", spec("  - {block: b}\n", "blocks:\n  b: ⟦missing-key⟧{args: {}}\n"))
case(M, "pool_no_kernel_block_style", spec("  - ⟦missing-key⟧type: maxpool\n    stride: 2\n"))
case(M, "groupnorm_no_groups", spec("  - ⟦missing-key⟧{type: groupnorm}\n"))

# --- unknown kinds and keys -----------------------------------------------------------
U = "unknown_names"
case(U, "kind_typo", spec("  - {type: ⟦unknown-kind⟧convv, filters: 8, kernel: 3}\n"))
case(U, "kind_pool_typo", spec("  - {type: ⟦unknown-kind⟧maxpol, kernel: 2}\n"))
case(U, "kind_capitalised", spec("  - {type: ⟦unknown-kind⟧Conv2d, filters: 8, kernel: 3}\n"))
case(U, "kind_number", spec("  - {type: ⟦unknown-kind⟧7}\n"))
case(U, "key_filter", spec("  - {type: conv, ⟦unknown-key⟧filter: 8, kernel: 3}\n"))
case(U, "key_kernal", spec("  - {type: conv, filters: 8, ⟦unknown-key⟧kernal: 3}\n"))
case(U, "key_strides", spec("  - {type: conv, filters: 8, kernel: 3, ⟦unknown-key⟧strides: 2}\n"))
case(U, "key_kernel_size", spec("  - {type: maxpool, kernel: 2, ⟦unknown-key⟧kernel_size: 2}\n"))
case(
    U,
    "top_key_layer",
    "cnnsize: 1\nname: case\ninput: [3, 32, 32]\n⟦unknown-key⟧layer: []\nlayers:\n  - {type: relu}\n",
)
case(
    U,
    "top_key_inputs",
    "cnnsize: 1\nname: case\n⟦unknown-key⟧inputs: [3, 32, 32]\ninput: [3, 32, 32]\nlayers:\n  - {type: relu}\n",
)
case(U, "budget_key", spec("  - {type: relu}\n", "budgets: {⟦unknown-key⟧max_param: 5M}\n"))
case(U, "block_key", spec("  - {block: b}\n", "blocks:\n  b: {⟦unknown-key⟧layer: [], layers: [{type: relu}]}\n"))
case(U, "defaults_key", spec("  - {type: relu}\n", "defaults: {⟦unknown-key⟧baias: false}\n"))
case(U, "activation_typo", spec("  - {type: conv, filters: 8, kernel: 3, activation: ⟦unknown-activation⟧rellu}\n"))
case(
    U,
    "unknown_block",
    spec("  - {block: ⟦unknown-block⟧bottlenek}\n", "blocks:\n  bottleneck: {layers: [{type: relu}]}\n"),
)
case(
    U,
    "unknown_var_in_template",
    spec("  - {type: conv, filters: ⟦template⟧'${widht}', kernel: 3}\n", "vars: {width: 8}\n"),
)
case(U, "pad_mode", spec("  - {type: pad, padding: 1, mode: ⟦bad-value⟧reflekt}\n"))
case(U, "key_on_relu", spec("  - {type: relu, ⟦unknown-key⟧inplace: true}\n"))

# --- groups ----------------------------------------------------------------------------
G = "groups"
case(G, "channels_not_divisible", spec("  - {type: conv, filters: 8, kernel: 3, groups: ⟦groups-mismatch⟧2}\n"))
case(
    G,
    "filters_not_divisible",
    "cnnsize: 1\nname: case\ninput: [4, 32, 32]\nlayers:\n"
    "  - {type: conv, filters: 6, kernel: 3, groups: ⟦groups-mismatch⟧4}\n",
)
case(G, "groups_more_than_channels", spec("  - {type: conv, filters: 64, kernel: 3, groups: ⟦groups-mismatch⟧64}\n"))
case(
    G,
    "after_conv",
    spec(
        "  - {type: conv, filters: 10, kernel: 3}\n"
        "  - {type: conv, filters: 12, kernel: 3, groups: ⟦groups-mismatch⟧4}\n"
    ),
)
case(
    G,
    "groupnorm",
    spec("  - {type: conv, filters: 10, kernel: 3}\n  - {type: groupnorm, groups: ⟦groups-mismatch⟧4}\n"),
)
case(G, "deconv", spec("  - {type: deconv, filters: 8, kernel: 2, stride: 2, groups: ⟦groups-mismatch⟧2}\n"))
case(
    G,
    "in_block_second_instance",
    spec(
        "  - {name: s1, block: g, f: 8}\n  - {name: s2, block: g, f: 12}\n",
        "blocks:\n  g:\n    args: {f: ~}\n"
        "    layers: [{type: conv, filters: '${f}', kernel: 1, groups: ⟦groups-mismatch⟧8}]\n",
    ),
)

# --- kernel larger than the padded input ------------------------------------------------------
K = "window_too_large"
case(K, "conv_kernel", spec("  - {type: conv, filters: 8, kernel: ⟦window-too-large⟧33}\n"))
case(
    K,
    "conv_kernel_padding_not_enough",
    spec("  - {type: conv, filters: 8, kernel: ⟦window-too-large⟧40, padding: 3}\n"),
)
case(K, "pool_kernel", spec("  - {type: maxpool, kernel: ⟦window-too-large⟧64}\n"))
case(K, "dilation", spec("  - {type: conv, filters: 8, kernel: ⟦window-too-large⟧3, dilation: 16}\n"))
case(K, "one_axis", spec("  - {type: conv, filters: 8, kernel: ⟦window-too-large⟧[3, 33]}\n"))
case(
    K,
    "conv1d",
    "cnnsize: 1\nname: case\ninput: [1, 10]\nlayers:\n  - {type: conv, filters: 4, kernel: ⟦window-too-large⟧11}\n",
)
case(
    K,
    "conv3d",
    "cnnsize: 1\nname: case\ninput: [1, 4, 16, 16]\nlayers:\n"
    "  - {type: conv, filters: 4, kernel: ⟦window-too-large⟧5}\n",
)
case(
    K,
    "avgpool_after_stride",
    spec("  - {type: conv, filters: 8, kernel: 3, stride: 4}\n  - {type: avgpool, kernel: ⟦window-too-large⟧9}\n"),
)

# --- output size zero at some depth --------------------------------------------------
Z = "output_vanishes"
case(
    Z,
    "pools_to_zero",
    spec("  - {type: maxpool, kernel: 2}\n" * 5 + "  - {type: maxpool, kernel: ⟦window-too-large⟧2}\n"),
)
case(
    Z,
    "strided_convs",
    spec(
        "  - {type: conv, filters: 8, kernel: 3, stride: 2}\n" * 4
        + "  - {type: conv, filters: 8, kernel: ⟦window-too-large⟧3, stride: 2}\n"
    ),
)
case(Z, "repeat_pool", spec("  - {type: maxpool, kernel: ⟦window-too-large⟧2, repeat: 8}\n"))
case(Z, "deconv_padding", spec("  - {type: deconv, filters: 8, kernel: 1, padding: ⟦output-empty⟧16}\n"))
case(
    Z,
    "in_block_at_depth",
    spec(
        "  - {name: st, block: down, repeat: 6}\n",
        "blocks:\n  down:\n"
        "    layers: [{type: conv, filters: 8, kernel: 3, padding: 1}, {type: maxpool, kernel: ⟦window-too-large⟧2}]\n",
    ),
)
case(
    Z,
    "vgg_too_small_input",
    "cnnsize: 1\nname: case\ninput: [3, 16, 16]\nlayers:\n"
    + "  - {type: conv, filters: 8, kernel: 3, padding: 1}\n  - {type: maxpool, kernel: 2}\n" * 4
    + "  - {type: conv, filters: 8, kernel: 3, padding: 1}\n  - {type: maxpool, kernel: ⟦window-too-large⟧2}\n",
)

# --- merges ----------------------------------------------------------------------------
A = "merge_mismatch"
case(
    A,
    "add_channels",
    spec(
        "  - {name: a, type: conv, filters: 8, kernel: 3, padding: 1}\n"
        "  - {name: b, type: conv, filters: 16, kernel: 3, padding: 1, inputs: [input]}\n"
        "  - {type: add, inputs: ⟦shape-mismatch⟧[a, b]}\n"
    ),
)
case(
    A,
    "add_spatial",
    spec(
        "  - {name: a, type: conv, filters: 8, kernel: 3}\n"
        "  - {name: b, type: conv, filters: 8, kernel: 3, padding: 1, inputs: [input]}\n"
        "  - {type: add, inputs: ⟦shape-mismatch⟧[a, b]}\n"
    ),
)
case(
    A,
    "add_rank",
    spec(
        "  - {name: a, type: fc, units: 10}\n  - {name: b, type: conv, filters: 10, kernel: 3, inputs: [input]}\n"
        "  - {type: add, inputs: ⟦shape-mismatch⟧[a, b]}\n"
    ),
)
case(A, "add_one_input", spec("  - {name: a, type: relu}\n  - {type: add, inputs: ⟦merge-inputs⟧[a]}\n"))
case(
    A,
    "concat_spatial",
    spec(
        "  - {name: a, type: conv, filters: 8, kernel: 3}\n"
        "  - {name: b, type: conv, filters: 8, kernel: 3, padding: 1, inputs: [input]}\n"
        "  - {type: concat, inputs: ⟦shape-mismatch⟧[a, b]}\n"
    ),
)
case(
    A,
    "concat_rank",
    spec(
        "  - {name: a, type: flatten}\n  - {name: b, type: relu, inputs: [input]}\n"
        "  - {type: concat, inputs: ⟦shape-mismatch⟧[a, b]}\n"
    ),
)
case(
    A,
    "concat_axis_out_of_range",
    spec(
        "  - {name: a, type: relu}\n  - {name: b, type: relu, inputs: [input]}\n"
        "  - {type: concat, inputs: [a, b], axis: ⟦bad-value⟧3}\n"
    ),
)
case(
    A,
    "concat_on_width_height_differs",
    spec(
        "  - {name: a, type: conv, filters: 8, kernel: 3, padding: 1}\n"
        "  - {name: b, type: conv, filters: 4, kernel: 3, padding: 1, inputs: [input]}\n"
        "  - {type: concat, axis: 2, inputs: ⟦shape-mismatch⟧[a, b]}\n"
    ),
)
case(
    A,
    "inception_branch_stride",
    spec(
        "  - {name: a, type: conv, filters: 8, kernel: 1}\n"
        "  - {name: b, type: conv, filters: 8, kernel: 3, stride: 2, padding: 1, inputs: [input]}\n"
        "  - {name: c, type: maxpool, kernel: 3, stride: 1, padding: 1, inputs: [input]}\n"
        "  - {type: concat, inputs: ⟦shape-mismatch⟧[a, b, c]}\n"
    ),
)
case(
    A,
    "residual_block",
    spec(
        "  - {name: r1, block: res, f: 16}\n",
        "blocks:\n  res:\n    args: {f: ~}\n    layers:\n"
        "      - {name: c, type: conv, filters: '${f}', kernel: 3, padding: 1}\n"
        "      - {type: add, inputs: ⟦shape-mismatch⟧[c, input]}\n",
    ),
)
case(
    A,
    "fc_before_conv",
    spec("  - {type: fc, units: 10}\n  - {type: ⟦needs-spatial⟧conv, filters: 8, kernel: 3}\n")
    .replace("⟦needs-spatial⟧conv, filters: 8, kernel: 3}", "conv, filters: 8, kernel: 3}")
    .replace("  - {type: conv, filters: 8, kernel: 3}\n", "  - ⟦needs-spatial⟧{type: conv, filters: 8, kernel: 3}\n"),
)
case(A, "reshape_count", spec("  - {type: reshape, shape: ⟦reshape-mismatch⟧[3, 32, 33]}\n"))
case(
    A,
    "two_inputs_to_conv",
    spec("  - {name: a, type: relu}\n  - {type: conv, filters: 8, kernel: 3, inputs: ⟦too-many-inputs⟧[a, input]}\n"),
)

# --- undefined inputs --------------------------------------------------------------------
UI = "undefined_inputs"
case(
    UI,
    "typo",
    spec("  - {name: conv1, type: conv, filters: 8, kernel: 3}\n  - {type: relu, inputs: ⟦undefined-input⟧[conv_1]}\n"),
)
case(UI, "nothing_close", spec("  - {name: a, type: relu}\n  - {type: relu, inputs: ⟦undefined-input⟧[zzz]}\n"))
case(UI, "second_of_two", spec("  - {name: a, type: relu}\n  - {type: add, inputs: ⟦undefined-input⟧[a, b]}\n"))
case(UI, "empty_list", spec("  - {type: relu, inputs: ⟦bad-type⟧[]}\n"))
case(UI, "number", spec("  - {type: relu, inputs: ⟦bad-type⟧[3]}\n"))
case(
    UI,
    "instance_input",
    spec("  - {block: b, inputs: ⟦undefined-input⟧[nothere]}\n", "blocks:\n  b: {layers: [{type: relu}]}\n"),
)
case(
    UI,
    "inner_name_outside_block",
    spec(
        "  - {name: b1, block: b}\n  - {type: relu, inputs: ⟦undefined-input⟧[r]}\n",
        "blocks:\n  b: {layers: [{name: r, type: relu}]}\n",
    ),
)
case(UI, "output_not_a_layer", spec("  - {name: a, type: relu}\n", "outputs: [⟦undefined-output⟧b]\n"))
case(
    UI,
    "block_output_not_a_layer",
    spec("  - {block: b}\n", "blocks:\n  b: {output: ⟦undefined-output⟧y, layers: [{name: x, type: relu}]}\n"),
)

# --- cycles ----------------------------------------------------------------------------
C = "cycles"
case(C, "self_loop", spec("  - {name: a, type: relu, inputs: ⟦cycle⟧[a]}\n"))
case(C, "two_layers", spec("  - {name: a, type: relu, inputs: ⟦cycle⟧[b]}\n  - {name: b, type: relu, inputs: [a]}\n"))
case(
    C,
    "three_layers",
    spec(
        "  - {name: s, type: relu}\n  - {name: a, type: add, inputs: ⟦cycle⟧[s, c]}\n  - {name: b, type: relu}\n"
        "  - {name: c, type: relu}\n",
        "outputs: [c]\n",
    ),
)
case(
    C,
    "two_cycles",
    spec(
        "  - {name: a, type: relu, inputs: ⟦cycle⟧[b]}\n  - {name: b, type: relu, inputs: [a]}\n"
        "  - {name: c, type: relu, inputs: ⟦cycle⟧[d]}\n  - {name: d, type: relu, inputs: [c]}\n",
        "outputs: [b, d]\n",
    ),
)
case(
    C,
    "cycle_and_valid_branch_error",
    spec(
        "  - {name: a, type: relu, inputs: ⟦cycle⟧[b]}\n  - {name: b, type: relu, inputs: [a]}\n"
        "  - {name: c, type: conv, filters: 8, kernel: ⟦window-too-large⟧99, inputs: [input]}\n",
        "outputs: [b, c]\n",
    ),
)

# --- duplicate names ----------------------------------------------------------------------
D = "duplicate_names"
case(D, "two_layers", spec("  - {name: a, type: relu}\n  - {name: ⟦duplicate-name⟧a, type: relu}\n"))
case(
    D,
    "three_layers",
    spec(
        "  - {name: a, type: relu}\n  - {name: ⟦duplicate-name⟧a, type: relu}\n"
        "  - {name: ⟦duplicate-name⟧a, type: relu}\n"
    ),
)
case(D, "layer_vs_auto_name", spec("  - {type: relu}\n  - {name: ⟦duplicate-name⟧relu_1, type: relu}\n"))
case(
    D,
    "in_block",
    spec(
        "  - {name: b1, block: b}\n",
        "blocks:\n  b: {layers: [{name: x, type: relu}, {name: ⟦duplicate-name⟧x, type: relu}]}\n",
    ),
)
case(D, "named_input", spec("  - {name: ⟦bad-name⟧input, type: relu}\n"))
case(
    D,
    "instances_same_name",
    spec(
        "  - {name: s, block: b}\n  - {name: ⟦duplicate-name⟧s, type: relu}\n",
        "blocks:\n  b: {layers: [{type: relu}]}\n",
    )
    .replace("{name: ⟦duplicate-name⟧s, type: relu}", "{name: s, block: b}")
    .replace(
        "  - {name: s, block: b}\n  - {name: s, block: b}\n",
        "  - {name: s, block: b}\n  - {name: s2, block: b}\n  - {name: ⟦duplicate-name⟧s2, type: relu}\n",
    ),
)

# --- dangling outputs ---------------------------------------------------------------------
N = "dangling"
case(
    N,
    "branch_unused",
    spec(
        "  - ⟦dangling-output⟧{name: side, type: conv, filters: 8, kernel: 1}\n"
        "  - {name: main, type: relu, inputs: [input]}\n"
    ),
)
case(
    N,
    "two_unused",
    spec(
        "  - ⟦dangling-output⟧{name: s1, type: relu}\n  - ⟦dangling-output⟧{name: s2, type: relu, inputs: [input]}\n"
        "  - {name: main, type: relu, inputs: [input]}\n"
    ),
)
case(
    N,
    "typo_in_inputs_leaves_branch",
    spec(
        "  - {name: a, type: conv, filters: 8, kernel: 1}\n"
        "  - ⟦dangling-output⟧{name: b, type: conv, filters: 8, kernel: 1, inputs: [input]}\n"
        "  - {type: add, inputs: [a, a]}\n"
    ),
)
case(
    N,
    "outputs_excludes_last",
    spec("  - {name: a, type: relu}\n  - ⟦dangling-output⟧{name: b, type: relu}\n", "outputs: [a]\n"),
)
case(
    N,
    "block_side_branch",
    spec(
        "  - {name: b1, block: b}\n",
        "blocks:\n  b:\n    layers:\n      - ⟦dangling-output⟧{name: side, type: relu}\n"
        "      - {name: main, type: relu, inputs: [input]}\n",
    ),
)

# --- block arguments -------------------------------------------------------------------------
B = "block_args"
BLK = "blocks:\n  b:\n    args: {f: ~, k: 3}\n    layers: [{type: conv, filters: '${f}', kernel: '${k}', padding: 1}]\n"
case(B, "missing_arg", spec("  - ⟦missing-arg⟧{block: b}\n", BLK))
case(B, "extra_arg", spec("  - {block: b, f: 8, ⟦unknown-arg⟧g: 1}\n", BLK))
case(
    B,
    "typo_arg",
    spec("  - {block: b, ⟦unknown-arg⟧filters: 8}\n", BLK).replace(
        "  - {block: b, ⟦unknown-arg⟧filters: 8}\n", "  - ⟦missing-arg⟧{block: b, ⟦unknown-arg⟧filters: 8}\n"
    ),
)
case(
    B,
    "two_missing",
    spec(
        "  - ⟦missing-arg⟧⟦missing-arg⟧{block: c}\n",
        "blocks:\n  c:\n    args: {f: ~, g: ~}\n    layers: [{type: conv, filters: '${f + g}', kernel: 1}]\n",
    ),
)
case(B, "args_not_mapping", spec("  - {block: b}\n", "blocks:\n  b: {args: ⟦bad-type⟧[f], layers: [{type: relu}]}\n"))
case(
    B,
    "arg_reserved_name",
    spec("  - {block: b}\n", "blocks:\n  b: {args: {⟦bad-name⟧repeat: 1}, layers: [{type: relu}]}\n"),
)
case(
    B,
    "arg_bad_type_in_use",
    spec(
        "  - {block: b, f: ⟦bad-type⟧eight}\n".replace("⟦bad-type⟧eight", "eight"),
        BLK.replace("filters: '${f}'", "filters: ⟦bad-type⟧'${f}'"),
    ),
)
case(B, "missing_and_extra_in_repeat", spec("  - ⟦missing-arg⟧{block: b, repeat: 3, ⟦unknown-arg⟧width: 2}\n", BLK))
case(B, "type_and_block", spec("  - ⟦bad-layer⟧{type: relu, block: b, f: 1}\n", BLK))

# --- recursive blocks ------------------------------------------------------------------------
R = "recursive_blocks"
case(R, "direct", spec("  - {block: a}\n", "blocks:\n  a: {layers: [{type: relu}, {block: ⟦recursive-block⟧a}]}\n"))
case(
    R,
    "mutual",
    spec(
        "  - {block: a}\n",
        "blocks:\n  a: {layers: [{type: relu}, {block: b}]}\n"
        "  b: {layers: [{type: relu}, {block: ⟦recursive-block⟧a}]}\n",
    ),
)
case(
    R,
    "three_deep",
    spec(
        "  - {block: a}\n",
        "blocks:\n  a: {layers: [{block: b}]}\n  b: {layers: [{block: c}]}\n"
        "  c: {layers: [{type: relu}, {block: ⟦recursive-block⟧a}]}\n",
    ),
)
_chain = "".join(f"  b{i}: {{layers: [{{block: b{i + 1}}}]}}\n" for i in range(40))
# b0 is the 1st level, b31 the 32nd: the instance of b32 inside b31 is refused
_chain = (
    _chain.replace("  b31: {layers: [{block: b32}]}", "  b31: {layers: [⟦limit-block-depth⟧{block: b32}]}")
    + "  b40: {layers: [{type: relu}]}\n"
)
case(R, "nesting_limit", spec("  - {block: b0}\n", "blocks:\n" + _chain))

# --- templates ----------------------------------------------------------------------------
X = "templates"
V = "vars: {f: 8}\n"
case(X, "division_by_zero", spec("  - {type: conv, filters: ⟦template⟧'${f // 0}', kernel: 3}\n", V))
case(X, "float_where_int", spec("  - {type: conv, filters: ⟦bad-type⟧'${f / 2}', kernel: 3}\n", V))
case(X, "float_times_width", spec("  - {type: conv, filters: ⟦bad-type⟧'${f * 0.75}', kernel: 3}\n", V))
case(X, "import_os", spec("  - {type: conv, filters: ⟦template⟧\"${__import__('os')}\", kernel: 3}\n", V))
case(X, "attribute", spec("  - {type: conv, filters: ⟦template⟧'${f.__class__}', kernel: 3}\n", V))
case(X, "dunder_chain", spec("  - {type: conv, filters: ⟦template⟧'${().__class__.__bases__}', kernel: 3}\n", V))
case(X, "lambda", spec("  - {type: conv, filters: ⟦template⟧'${(lambda: 8)()}', kernel: 3}\n", V))
case(X, "comprehension", spec("  - {type: conv, filters: ⟦template⟧'${[x for x in [8]]}', kernel: 3}\n", V))
case(X, "subscript", spec("  - {type: conv, filters: ⟦template⟧'${[8][0]}', kernel: 3}\n", V))
case(X, "open_file", spec("  - {type: conv, filters: ⟦template⟧\"${open('/etc/passwd')}\", kernel: 3}\n", V))
case(X, "eval_call", spec("  - {type: conv, filters: ⟦template⟧\"${eval('8')}\", kernel: 3}\n", V))
case(X, "huge_power", spec("  - {type: conv, filters: ⟦template⟧'${10**10**10}', kernel: 3}\n", V))
case(X, "string_repeat", spec("  - {type: relu, name: ⟦template⟧\"${'a' * 10**9}\"}\n", V))
case(X, "list_repeat", spec("  - {type: conv, filters: 8, kernel: ⟦template⟧'${[3] * 10**9}'}\n", V))
case(X, "percent_format", spec("  - {type: relu, name: ⟦template⟧\"${'%0999999999d' % 1}\"}\n", V))
case(X, "round_bomb", spec("  - {type: conv, filters: ⟦template⟧'${round(5, -10**9)}', kernel: 3}\n", V))
case(
    X,
    "big_int_result",
    spec("  - {type: conv, filters: ⟦template⟧'${2**64 * 2**64 * 2**64 * 2**64 * 2}', kernel: 3}\n", V),
)
case(X, "float_overflow", spec("  - {type: conv, filters: ⟦template⟧'${int(1e308 * 10)}', kernel: 3}\n", V))
case(X, "complex_power", spec("  - {type: conv, filters: ⟦template⟧'${int((-8) ** 0.5)}', kernel: 3}\n", V))
case(X, "mixed_compare", spec("  - {type: relu, when: ⟦template⟧\"${f < 'a'}\"}\n", V))
case(X, "syntax_error", spec("  - {type: conv, filters: ⟦template⟧'${f +* 2}', kernel: 3}\n", V))
case(X, "unterminated", spec("  - {type: relu, name: ⟦template⟧'r${f'}\n", V))
case(X, "unknown_function", spec("  - {type: conv, filters: ⟦template⟧'${sqrt(f)}', kernel: 3}\n", V))
case(X, "fstring", spec("  - {type: relu, name: ⟦template⟧\"${f'{f}'}\"}\n", V))
case(X, "walrus", spec("  - {type: conv, filters: ⟦template⟧'${(x := 8)}', kernel: 3}\n", V))
case(X, "too_long", spec("  - {type: conv, filters: ⟦template⟧'${" + "+".join(["1"] * 600) + "}', kernel: 3}\n", V))
case(X, "make_divisible_zero", spec("  - {type: conv, filters: ⟦template⟧'${make_divisible(f, 0)}', kernel: 3}\n", V))
case(
    X,
    "in_block_arg",
    spec(
        "  - {block: b, f: ⟦template⟧'${g * 2}'}\n",
        V + "blocks:\n  b: {args: {f: ~}, layers: [{type: conv, filters: '${f}', kernel: 1}]}\n",
    ),
)
case(X, "repeat_template_float", spec("  - {type: relu, repeat: ⟦bad-type⟧'${f / 4}'}\n", V))
case(X, "when_template_error", spec("  - {type: relu, when: ⟦template⟧'${nope == 1}'}\n", V))
case(
    X,
    "input_template_float",
    "cnnsize: 1\nname: case\nvars: {r: 224}\ninput: ⟦bad-type⟧[3, '${r / 2}', '${r / 2}']\nlayers:\n  - {type: relu}\n",
)
case(X, "var_not_identifier", spec("  - {type: relu}\n", "vars: {⟦bad-name⟧my-var: 1}\n"))
case(X, "var_mapping", spec("  - {type: relu}\n", "vars: {w: ⟦bad-type⟧{a: 1}}\n"))

# --- absurd sizes ---------------------------------------------------------------------
S = "absurd_sizes"
case(S, "tera_channels", spec("  - {type: conv, filters: ⟦limit-size⟧1000000000000, kernel: 1}\n"))
case(S, "tera_input", "cnnsize: 1\nname: case\ninput: ⟦limit-size⟧[3, 1000000000000, 32]\nlayers:\n  - {type: relu}\n")
case(S, "repeat_million", spec("  - {type: relu, repeat: ⟦limit-layers⟧1000000}\n"))
case(S, "repeat_tera", spec("  - {type: relu, repeat: ⟦limit-layers⟧1000000000000}\n"))
case(
    S,
    "nested_repeat",
    spec("  - {block: b, repeat: ⟦limit-layers⟧1000}\n", "blocks:\n  b: {layers: [{type: relu, repeat: 1000}]}\n"),
)
case(
    S,
    "nested_blocks_repeat",
    spec(
        "  - {block: outer, repeat: ⟦limit-layers⟧400}\n",
        "blocks:\n  inner: {layers: [{type: relu}, {type: relu}]}\n  outer: {layers: [{block: inner, repeat: 200}]}\n",
    ),
)
case(S, "repeat_template_huge", spec("  - {type: relu, repeat: ⟦limit-layers⟧'${10**7}'}\n"))
case(S, "units_tera", spec("  - {type: fc, units: ⟦limit-size⟧1000000000000}\n"))

# --- alias bombs and nesting ---------------------------------------------------------------
L = "alias_and_nesting"
_lol = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
for i, ch in enumerate("bcdefghi"):
    prev = "abcdefghi"[i]
    _lol.append(f"{ch}: &{ch} [" + ",".join([f"*{prev}"] * 9) + "]")
_bomb = "\n".join(_lol) + "\n"
# anchors expand to a = 1 + 9 = 10 nodes, b = 1 + 9*10 = 91, c = 820, d = 7381,
# e = 66430; aliases on lines b..e add 9*(10 + 91 + 820 + 7381) = 74718, so
# the first *e on line f takes the total past 100,000
_bomb_lines = _bomb.split("\n")
_bomb_lines[5] = _bomb_lines[5].replace("[*e,", "[⟦limit-alias⟧*e,", 1)
case(
    L,
    "billion_laughs",
    "cnnsize: 1\nname: case\ninput: [3, 32, 32]\n" + "\n".join(_bomb_lines) + "layers:\n  - {type: relu}\n",
)
case(L, "recursive_alias", spec("  - {type: relu}\n", "x: &x [1, ⟦yaml-recursive-alias⟧*x]\n"))
case(L, "deep_list", spec("  - {type: relu}\n", "x: " + "[" * 63 + "⟦limit-depth⟧[" + "]" * 64 + "\n"))
case(L, "deep_mapping", spec("  - {type: relu}\n", "x: " + "{a: " * 63 + "⟦limit-depth⟧{a: 1" + "}" * 64 + "\n"))
case(
    L,
    "deep_via_alias",
    spec(
        "  - {type: relu}\n", "x: &d " + "[" * 40 + "]" * 40 + "\ny: " + "[" * 30 + "⟦limit-depth⟧*d" + "]" * 30 + "\n"
    ),
)
case(
    L,
    "deep_block_style",
    "cnnsize: 1\nname: case\ninput: [3, 32, 32]\nlayers:\n  - {type: relu}\nx:\n"
    + "".join("  " * i + f"k{i}:\n" for i in range(1, 64))
    + "  " * 64
    + "⟦limit-depth⟧k64:\n"
    + "  " * 65
    + "k65: 1\n",
)

# --- empty and not-a-mapping ---------------------------------------------------------------
E = "empty_and_shape"
case(E, "only_comments", "⟦empty-spec@1:1⟧# nothing here\n")
case(E, "only_document_marker", "⟦empty-spec@1:1⟧---\n")
case(E, "only_null", "⟦empty-spec@1:1⟧~\n")
case(E, "top_level_list", "⟦not-a-mapping⟧- {type: relu}\n")
case(E, "top_level_scalar", "⟦not-a-mapping⟧just some text\n")
case(E, "top_level_number", "⟦not-a-mapping⟧42\n")

# --- several errors in one run ---------------------------------------------------------------
W = "keep_going"
case(
    W,
    "unknown_key_and_bad_shape",
    spec(
        "  - {name: c1, type: conv, filters: 6, kernel: 5, ⟦unknown-key⟧bogus: 1}\n  - {type: maxpool, kernel: 2}\n"
        "  - {type: conv, filters: 16, kernel: ⟦window-too-large⟧50}\n"
    ),
)
# 'filter' is reported as unknown (did you mean 'filters'?), not also as a missing 'filters'
case(
    W,
    "three_errors_one_layer",
    spec("  - {type: conv, ⟦unknown-key⟧filter: 8, kernel: ⟦bad-value⟧0, stride: ⟦bad-type⟧two}\n"),
)
case(W, "missing_and_unrelated_unknown", spec("  - ⟦missing-key⟧{type: conv, kernel: 3, ⟦unknown-key⟧colour: red}\n"))
case(
    W,
    "invalid_layer_skips_dependents",
    spec(
        "  - {name: a, type: conv, filters: ⟦bad-type⟧eight, kernel: 3}\n  - {type: conv, filters: 8, kernel: 99}\n"
        "  - {name: b, type: conv, filters: 8, kernel: ⟦window-too-large⟧99, inputs: [input]}\n",
        "outputs: [conv_1, b]\n",
    ),
)
case(
    W,
    "spec_and_yaml_and_graph",
    spec(
        "  - {name: a, type: relu, ⟦duplicate-key⟧name: b}\n  - {type: ⟦unknown-kind⟧rleu}\n"
        "  - {name: c, type: relu, inputs: ⟦undefined-input⟧[zz]}\n",
        "defaults: {⟦unknown-key⟧strid: 2}\n",
    ),
)
case(
    W,
    "block_instances_named",
    spec(
        "  - {name: layer1, block: bottleneck, repeat: 3, f: 8}\n",
        "blocks:\n  bottleneck:\n    args: {f: ~}\n    layers:\n      - {type: conv, filters: '${f}', kernel: 1}\n"
        "      - {type: conv, filters: ⟦bad-type⟧'${f / 2}', kernel: 3, padding: 1}\n",
    ),
)
case(
    W,
    "top_level_several",
    "cnnsize: ⟦unsupported-version⟧3\nname: ⟦bad-type⟧7\ninput: [3, 32, 32]\n⟦unknown-key⟧layerz: []\nlayers:\n"
    "  - {type: relu}\n",
)
case(
    W,
    "errors_in_source_order",
    spec(
        "  - {type: conv, filters: 8, kernel: ⟦window-too-large⟧40}\n"
        "  - {name: x, type: relu, inputs: [input], ⟦unknown-key⟧foo: 1}\n",
        "outputs: [conv_1, x]\n",
    ),
)


def render(text: str, title: str) -> str:
    expects: list[tuple[str, int, int]] = []
    body = ""
    pos = 0
    for m in MARK.finditer(text):
        body += text[pos : m.start()]
        pos = m.end()
        line = body.count("\n") + 1
        col = len(body) - (body.rfind("\n") + 1) + 1
        if m.group(2):  # an absolute location (the whole file: 1:1)
            expects.append((m.group(1), -int(m.group(2)), int(m.group(3))))
        else:
            expects.append((m.group(1), line, col))
    body += text[pos:]
    assert expects, title
    head = [f"# case: {title}"] + [f"# expect: {c} {{L{line}}}:{col}" for c, line, col in expects]
    shift = len(head)
    head = [
        h.replace(f"{{L{line}}}", str(-line if line < 0 else line + shift))
        for h, (_c, line, _col) in zip(head, [("", 0, 0)] + expects)
    ]
    return "\n".join(head) + "\n" + body


def main() -> None:
    for cat in os.listdir(HERE):
        if os.path.isdir(os.path.join(HERE, cat)) and not cat.startswith("_"):
            shutil.rmtree(os.path.join(HERE, cat))
    for cat, cases in CASES.items():
        os.makedirs(os.path.join(HERE, cat))
        for name, text in cases.items():
            with open(os.path.join(HERE, cat, name + ".yaml"), "w", encoding="utf-8", newline="") as fh:
                fh.write(render(text, name.replace("_", " ")))
    print(sum(len(c) for c in CASES.values()), "cases")


if __name__ == "__main__":
    main()
