"""One load-and-analyse path for every command (issue 11, item 4): report,
check, compare, sweep, graph and profile read --input, --batch, --dtype,
--convention, --optimizer and --set through cnnsize.commands.common, so the
same bad value, or a spec the machine cannot analyse, gives each of them the
same message and the same exit code. Exit codes live in one table
(cnnsize.commands.outcome), and no command imports the entry module."""

import ast
import os
import re

import pytest
from click.testing import CliRunner

from cnnsize.commands.cli import cli
from cnnsize.commands.outcome import EXIT_CODES, EXIT_SPEC, EXIT_USAGE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = os.path.join(ROOT, "specs", "lenet5.yaml")  # input [1, 32, 32]

# each command with the arguments that make it analyse SPEC once
COMMANDS = {
    "report": ["report", SPEC],
    "check": ["check", SPEC, "--max-params", "1G"],
    "compare": ["compare", SPEC, SPEC],
    "sweep": ["sweep", SPEC],
    "graph": ["graph", SPEC],
    "profile": ["profile", SPEC],
}
# profile times torch's own forward pass: it takes no --convention or --optimizer
FIXED = {"profile": {"--convention", "--optimizer"}}


def invoke(name, extra):
    args = [*COMMANDS[name], *extra]
    if name == "sweep" and "--input" not in extra:
        args += ["--input", "1x32x32"]  # sweep has no default size to sweep
    return CliRunner().invoke(cli, args)


def _input_rank_line():
    # the spec's input: line 12, column 8 of lenet5.yaml (where `[1, 32, 32]` starts)
    with open(SPEC, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    row = next(i for i, ln in enumerate(lines) if ln.startswith("input:"))
    col = lines[row].index("[") + 1
    return (
        f"{SPEC}:{row + 1}:{col}: error[input-rank]: --input has 4 sizes but the spec's input has 3; "
        "give channels and the same number of spatial sizes"
    )


CASES = [
    # (option, value, exit code, message every command prints)
    ("--input", "1xfoo", EXIT_USAGE, "Error: --input '1xfoo': write sizes like 3x224x224"),
    ("--input", "1x²x32", EXIT_USAGE, "Error: --input '1x²x32': write sizes like 3x224x224"),
    ("--input", "1x0x32", EXIT_USAGE, "Error: --input '1x0x32': channels then up to 3 spatial sizes, each 1..10^9"),
    (
        "--input",
        f"1x{10**9 + 1}x32",
        EXIT_USAGE,
        f"Error: --input '1x{10**9 + 1}x32': channels then up to 3 spatial sizes, each 1..10^9",
    ),
    (
        "--input",
        "1x2x3x4x5",
        EXIT_USAGE,
        "Error: --input '1x2x3x4x5': channels then up to 3 spatial sizes, each 1..10^9",
    ),
    ("--input", "1x32x32x32", EXIT_SPEC, None),  # the input-rank diagnostic, computed below
    ("--batch", "0", EXIT_USAGE, "Error: --batch '0': a batch size is a whole number 1..10^6"),
    ("--batch", "two", EXIT_USAGE, "Error: --batch 'two': a batch size is a whole number 1..10^6"),
    ("--batch", str(10**6 + 1), EXIT_USAGE, f"Error: --batch '{10**6 + 1}': a batch size is a whole number 1..10^6"),
    (
        "--dtype",
        "float8",
        EXIT_USAGE,
        "Error: Invalid value for '--dtype': 'float8' is not one of "
        "'bfloat16', 'float16', 'float32', 'float64', 'int8', 'uint8'.",
    ),
    ("--convention", "nope", EXIT_USAGE, "Error: Invalid value for '--convention': 'nope' is not one of"),
    ("--optimizer", "nope", EXIT_USAGE, "Error: Invalid value for '--optimizer': 'nope' is not one of"),
    ("--set", "novalue", EXIT_USAGE, "Error: --set 'novalue': write name=value"),
    ("--set", "nosuchvar=1", EXIT_SPEC, "error[unknown-var]"),
]


@pytest.mark.parametrize("name", sorted(COMMANDS))
@pytest.mark.parametrize("option, value, code, message", CASES, ids=[f"{c[0]}={c[1]}" for c in CASES])
def test_same_bad_option_same_message_and_code(name, option, value, code, message):
    res = invoke(name, [option, value])
    if option in FIXED.get(name, ()):
        assert res.exit_code == EXIT_USAGE and f"No such option '{option}'" in res.stderr
        return
    assert res.exit_code == code, res.stderr
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr
    assert (message or _input_rank_line()) in res.stderr, res.stderr


def test_messages_are_identical_across_commands():
    """Not only present: the whole stderr of a usage error differs only in
    the command's own usage and help lines."""
    texts = set()
    for name in COMMANDS:
        err = invoke(name, ["--input", "1xfoo"]).stderr
        texts.add(re.sub(r"Usage: .*\n|Try .*\n", "", err))
    assert len(texts) == 1, texts


@pytest.mark.parametrize("name", sorted(COMMANDS))
@pytest.mark.parametrize(
    "exc, message",
    [
        (MemoryError, "error[limit-memory]: the machine ran out of memory analysing this spec"),
        (RecursionError, "error[limit-depth]: the spec is nested too deeply to analyse"),
    ],
)
def test_out_of_memory_and_too_deep_are_one_located_error(name, exc, message, monkeypatch):
    """Before: `report` printed limit-memory (exit 3) while `check` let the
    MemoryError through to exit 70 and lost the other specs' results."""
    import cnnsize.engine.analysis as analysis

    def boom(*args, **kw):
        raise exc()

    monkeypatch.setattr(analysis, "analyze", boom)
    res = invoke(name, [])
    assert res.exit_code == EXIT_SPEC, (res.exit_code, res.stderr, res.exception)
    assert f"{SPEC}: {message}" in res.stderr, res.stderr


def test_check_goes_on_after_a_spec_it_cannot_analyse(monkeypatch, tmp_path):
    import cnnsize.engine.analysis as analysis

    real = analysis.analyze
    other = os.path.join(ROOT, "specs", "alexnet.yaml")

    def analyze(spec, **kw):
        if spec.file == SPEC:
            raise MemoryError()
        return real(spec, **kw)

    monkeypatch.setattr(analysis, "analyze", analyze)
    res = CliRunner().invoke(cli, ["check", SPEC, other, "--max-params", "1G"])
    assert res.exit_code == EXIT_SPEC
    assert f"{other}: ok:" in res.stdout and f"{SPEC}: invalid spec (1 error" in res.stdout


def test_sweep_patterns_check_each_size_as_a_single_input_does():
    # a size over 10^9 inside a pattern: once swept unchecked (issue 15)
    res = invoke("sweep", ["--input", f"1x{{32,{10**9 + 1}}}"])
    assert res.exit_code == EXIT_USAGE
    assert f"--input '1x{{32,{10**9 + 1}}}': channels then up to 3 spatial sizes, each 1..10^9" in res.stderr
    res = invoke("sweep", ["--input", "1x32", "--batch", f"1,{10**6 + 1}"])
    assert res.exit_code == EXIT_USAGE and "a batch size is a whole number 1..10^6" in res.stderr
    # '3x²' once reached int('²') and exited 70 (issue 15)
    res = invoke("sweep", ["--input", "1x{²,4}"])
    assert res.exit_code == EXIT_USAGE and "cannot read '²'" in res.stderr


def test_profile_refuses_a_dtype_torch_cannot_time():
    res = invoke("profile", ["--dtype", "int8"])
    assert res.exit_code == EXIT_USAGE
    assert "--dtype int8: profile runs float32, float16, bfloat16, float64" in res.stderr


# -- one place for exit codes, no back edges --------------------------------------


def _imports(path):
    tree = ast.parse(open(path, encoding="utf-8").read())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


COMMAND_DIR = os.path.join(ROOT, "cnnsize", "commands")


@pytest.mark.parametrize("module", sorted(f for f in os.listdir(COMMAND_DIR) if f.endswith(".py") and f != "cli.py"))
def test_no_command_imports_the_entry_module(module):
    assert "cnnsize.commands.cli" not in _imports(os.path.join(COMMAND_DIR, module))


def test_cli_imports_no_command_module():
    # commands load lazily by name (COMMANDS); cli.py itself only needs how a run ends
    mods = {m for m in _imports(os.path.join(COMMAND_DIR, "cli.py")) if m.startswith("cnnsize.commands")}
    assert mods == {"cnnsize.commands.outcome"}


def test_exit_codes_are_set_only_in_outcome():
    """sys.exit / SystemExit with a literal code appears nowhere else."""
    pattern = re.compile(r"(sys\.exit|SystemExit)\(\s*\d")
    for f in os.listdir(COMMAND_DIR):
        if f.endswith(".py"):
            text = open(os.path.join(COMMAND_DIR, f), encoding="utf-8").read()
            assert not pattern.search(text), f


def test_docs_list_every_exit_code():
    text = open(os.path.join(ROOT, "docs", "cli.md"), encoding="utf-8").read()
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(m) for m in re.findall(r"^\| (\d+) \|", section, re.M)}
    assert documented == set(EXIT_CODES)


def test_display_flag_is_called_exact_in_code():
    """--raw (exact integers) has its own name in commands/ and render/, apart
    from the engine's raw_macs (a rule's MACs before the convention) and the
    spec's raw_inputs (inputs as written): no identifier there is plain `raw`."""
    import io
    import tokenize

    for folder in ("commands", "render"):
        base = os.path.join(ROOT, "cnnsize", folder)
        for f in sorted(os.listdir(base)):
            if f.endswith(".py"):
                with open(os.path.join(base, f), encoding="utf-8") as fh:
                    toks = tokenize.generate_tokens(io.StringIO(fh.read()).readline)
                    names = {t.string for t in toks if t.type == tokenize.NAME}
                assert "raw" not in names, f"{folder}/{f}"
