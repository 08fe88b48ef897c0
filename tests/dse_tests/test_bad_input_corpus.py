"""A corpus of malformed inputs, one per entry point and failure kind.

Every case goes through the real command line (``dse.cli.main``) and must end with exit status 2,
one ``error: path: rule, got value`` line naming the field and the value, no traceback (an
exception escaping ``main`` fails the test) and nothing created: no output folder, no study.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from dse.cli import main

from .conftest import SMALL_SPEC

ALIAS_BOMB = "a: &a [x, x, x]\n" + "".join(
    f"l{i}: &l{i} [{', '.join([f'*{p}' for p in ['a' if i == 0 else f'l{i - 1}'] * 9])}]\n"
    for i in range(12)
)


def _spec(**changes) -> dict:
    s = copy.deepcopy(SMALL_SPEC)
    for dotted, value in changes.items():
        node = s
        *parents, last = dotted.split("__")
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        node[last] = value
    return s


def _write_spec(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


# (case id, spec file text or spec dict, field named in the message, value shown in it)
SPEC_CASES = [
    ("non-utf8", b"name: caf\xe9\n", "study.yaml:1", "xe9"),
    ("duplicate-key", "version: 1\nname: a\nname: b\n", "study.yaml:3", "'name'"),
    ("alias-bomb", ALIAS_BOMB, "study.yaml", "aliases"),
    ("bad-yaml", "name: [unclosed\n", "study.yaml", "valid YAML"),
    ("seed-beyond-2**32", _spec(seed=2**40), "seed", str(2**40)),
    ("accuracy-seed", _spec(accuracy__seed=2**33), "accuracy.seed", str(2**33)),
    ("unknown-model", _spec(workload={"model": "nope-7b"}), "workload.model", "'nope-7b'"),
    (
        "unknown-format",
        _spec(space__weight_format=["nope-format"]),
        "space.weight_format[0]",
        "'nope-format'",
    ),
    (
        "unknown-family",
        _spec(space__weight_format=[{"family": "nope"}]),
        "space.weight_format[0]",
        "'nope'",
    ),
    (
        "missing-calibration-file",
        _spec(space__weight_format=[{"family": "quantiles", "calibration": "nope.npy"}]),
        "space.weight_format[0].calibration",
        "'nope.npy'",
    ),
    (
        "contradictory-constraints",
        _spec(
            constraints=[
                {"metric": "weight_bits_per_element", "max": 3.0},
                {"metric": "weight_bits_per_element", "min": 5.0},
            ]
        ),
        "constraints[0]",
        "'min': 5.0",
    ),
    ("absurd-gemm", _spec(workload__gemms__0__m=10**20), "workload.gemms[0].m", str(10**20)),
    ("unknown-key", _spec(colour="red"), "colour", "'colour'"),
    (
        "tensor-rows-10**12",
        _spec(accuracy__tensor_rows=10**12),
        "accuracy.tensor_rows: must be an int in 1..16384",
        str(10**12),
    ),
    # a study name names the folder runs/<name>: one plain path component, no control characters
    ("name-escapes", _spec(name="../../escaped"), "name: must be letters", "'../../escaped'"),
    ("name-absolute", _spec(name="/abs"), "name: must be letters", "'/abs'"),
    ("name-nested", _spec(name="a/b/c"), "name: must be letters", "'a/b/c'"),
    ("name-ansi", _spec(name="x\x1b[31mred"), "name: must be letters", "'x\\x1b[31mred'"),
    ("name-nul", _spec(name="x\x00y"), "name: must be letters", "'x\\x00y'"),
    (
        "grid-of-10**14-designs",
        _spec(
            sampler={"name": "grid"},
            space__rows={"low": 1, "high": 4096},
            space__cols={"low": 1, "high": 4096},
            space__weight_buffer_kib={"low": 1, "high": 2**20},
        ),
        "sampler.name: a grid over 140,737,488,355,328 designs is too large",
        "'grid'",
    ),
    (
        "auto-grid-of-10**7-settings",
        _spec(
            sampler={"name": "auto"},
            n_trials=10**400,
            space__group_size={"low": 1, "high": 4096},
            space__weight_bits={"low": 2, "high": 8},
            space__act_bits={"low": 2, "high": 16},
            space__kv_bits={"low": 2, "high": 16},
        ),
        "a grid over",
        "'auto'",
    ),
    ("name-300-chars", _spec(name="a" * 300), "name: must be at most 100 characters", "aaa"),
    (
        "act-format-a-type-set",
        _spec(space__act_format=["mant-unicore16"]),
        "space.act_format[0]: must be one format, not a set of 16",
        "'mant-unicore16'",
    ),
    (
        "act-bits-unknown-kind",
        _spec(**{"space__act_bits.lm_head": [4]}),
        "space.act_bits.lm_head: unknown key",
        "'act_bits.lm_head'",
    ),
]


@pytest.mark.parametrize(
    ("text", "field", "value"), [c[1:] for c in SPEC_CASES], ids=[c[0] for c in SPEC_CASES]
)
def test_bad_spec_is_one_clear_error_and_leaves_nothing(tmp_path, capsys, text, field, value):
    path = tmp_path / "study.yaml"
    if isinstance(text, dict):
        _write_spec(tmp_path, text)
    elif isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert lines, err
    assert any(field in line and value in line for line in lines), err
    assert "Traceback" not in err
    assert all(len(line) < 400 for line in lines), "a message renders a huge value"
    assert not out.exists()


@pytest.mark.parametrize("name", ["../../escaped", "/mant-dse-abs-name", "a/b/c"])
def test_study_name_never_becomes_a_path(tmp_path, capsys, monkeypatch, name):
    work = tmp_path / "a" / "b" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    spec = _write_spec(work, _spec(name=name))
    assert main(["run", str(spec), "--no-progress"]) == 2  # default --out: runs/<name>
    err = capsys.readouterr().err
    assert "error: name: must be letters, digits" in err and repr(name) in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b", "study.yaml", "work"]
    assert not Path("/mant-dse-abs-name").exists()


def test_a_newline_in_a_name_cannot_forge_an_error_line(tmp_path, capsys):
    spec = _write_spec(tmp_path, _spec(name="x\nerror: all good\x1b[2J"))
    assert main(["run", str(spec), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\nerror: all good" not in err
    assert all(line.startswith("error: name: ") for line in err.splitlines()), err


def test_out_that_is_a_file_or_under_a_file(tmp_path, capsys):
    spec = _write_spec(tmp_path, _spec())
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out, rule in ((afile, "is a file"), (afile / "sub", "lies under a file")):
        assert main(["run", str(spec), "--out", str(out), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert f"--out: must be a folder, but it {rule}" in err or rule in err
        assert str(out.name) in err
    assert afile.read_text() == "x"


def test_bad_storage_url_leaves_no_output_folder(tmp_path, capsys):
    spec = _write_spec(tmp_path, _spec())
    out = tmp_path / "out"
    assert main(["run", str(spec), "--out", str(out), "--storage", "bogus://x"]) == 2
    assert "storage: must be a journal" in capsys.readouterr().err
    assert not out.exists()


def test_a_storage_password_is_never_shown_or_saved(tmp_path, capsys):
    from dse.run.storage import describe_storage
    from dse.study.spec import parse_spec
    from dse.study.spec_dict import spec_to_dict

    url = "postgresql://ana:hunter2@127.0.0.1:1/studies"
    spec = _write_spec(tmp_path, _spec())
    out = tmp_path / "out"
    assert main(["run", str(spec), "--out", str(out), "--storage", url, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "error: storage: cannot connect" in err and "postgresql://ana:***@127.0.0.1:1" in err
    assert "hunter2" not in err
    assert not out.exists()
    assert describe_storage(url) == "postgresql://ana:***@127.0.0.1:1/studies"
    saved = spec_to_dict(parse_spec(_spec(storage=url)))
    assert saved["storage"] == "postgresql://ana@127.0.0.1:1/studies"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One tiny finished study to point plot/export at."""
    root = tmp_path_factory.mktemp("run")
    spec = _write_spec(root, _spec(n_trials=2))
    assert (
        main(["run", str(spec), "--out", str(root / "out"), "--no-progress", "--no-report"]) == 0
    )
    return root / "out"


def test_plot_and_export_to_a_wrong_place(finished_run, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    cases = [
        (["plot", "--out", str(finished_run), "--to", str(tmp_path)], "--to: must be a file path"),
        (["plot", "--out", str(finished_run), "--to", str(afile / "r.html")], "--to:"),
        (["export", "--out", str(finished_run), "--to", str(afile), "--pareto"], "--to:"),
    ]
    if Path("/proc/self").is_dir():  # no file can be created there, not even by root
        cases += [
            (["plot", "--out", str(finished_run), "--to", "/proc/r.html"], "--to: is not writ"),
            (["export", "--out", str(finished_run), "--to", "/proc/d", "--pareto"], "--to: is"),
            (["run", str(finished_run / "study.yaml"), "--out", "/proc/x"], "--out: is not"),
        ]
    for argv, needle in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert needle in err and "Traceback" not in err
    assert afile.read_text() == "x"


def test_plot_into_a_read_only_run_folder_is_bad_input(finished_run, tmp_path, capsys):
    import shutil

    from dse.cli import _paths

    out = tmp_path / "ro"
    shutil.copytree(finished_run, out)
    before = sorted(p.name for p in out.iterdir())
    real = _paths._can_create_in
    # a read-only folder (root may write to a chmod 0555 folder, so say it is read-only)
    _paths._can_create_in = lambda folder: folder != out and real(folder)
    try:
        assert main(["plot", "--out", str(out)]) == 2
    finally:
        _paths._can_create_in = real
    err = capsys.readouterr().err
    assert f"--out: is not writable ({out})" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == before


JOURNAL_LINES = [
    (b"\x00garbage", "garbage"),
    (b'{"op_code": 4}', "op_code"),  # JSON, but no record Optuna can replay (KeyError)
    (b'{"op_code": 6, "worker_id": "w", "trial_id": "x", "state": 1, "values": null}', "op"),
    (b'{"op_code": 99, "worker_id": "w"}', "99"),
    (b"[" * 100_000 + b"]" * 100_000, "[[["),  # nested thousands deep (RecursionError)
]


@pytest.mark.parametrize(
    ("bad", "needle"), JOURNAL_LINES, ids=["garbage", "no-keys", "bad-type", "op", "deep"]
)
def test_journal_with_a_garbage_line_in_the_middle(finished_run, tmp_path, capsys, bad, needle):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(finished_run, out)
    journal = out / "study.journal"
    lines = journal.read_bytes().split(b"\n")
    lines[2] = bad
    journal.write_bytes(b"\n".join(lines))
    before = journal.read_bytes()
    for argv in (
        ["plot", "--out", str(out)],
        ["run", str(out / "study.yaml"), "--out", str(out), "--no-progress"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"{journal}:3: is not a journal record" in err and needle in err, err
        assert "Traceback" not in err
    assert journal.read_bytes() == before  # never "repaired" by guessing


@pytest.fixture(scope="module")
def exported(finished_run, tmp_path_factory):
    to = tmp_path_factory.mktemp("exported")
    assert main(["export", "--out", str(finished_run), "--to", str(to), "--trial", "0"]) == 0
    return to / "trial-00000"


EXPORT_CASES = [
    ("design.yaml", lambda d: d["design"].update(rows="many"), "design.rows", "'many'"),
    ("design.yaml", lambda d: d["design"].update(rows=0), "design.rows", "0"),
    ("design.yaml", lambda d: d["design"].pop("cols"), "design.cols", "is required"),
    ("design.yaml", lambda d: d["design"].update(colour=1), "design.colour", "'colour'"),
    ("design.yaml", lambda d: d.pop("workload"), "workload", "is required"),
    ("design.yaml", lambda d: d.update(design=[1, 2]), "design", "must be a mapping"),
    ("design.yaml", lambda d: d["workload"].update(seq_len=-1), "seq_len", "-1"),
    ("weights.yaml", lambda d: d.update(group_size="x"), "weights.yaml", "'x'"),
    ("weights.yaml", lambda d: [1, 2], "weights.yaml", "must be a mapping"),
    ("accelerator.yaml", lambda d: d.update(clock_hz="fast"), "accelerator", "'fast'"),
]


@pytest.mark.parametrize(
    ("name", "edit", "field", "value"),
    EXPORT_CASES,
    ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(EXPORT_CASES)],
)
def test_corrupt_exported_file_is_bad_input(exported, tmp_path, name, edit, field, value):
    import shutil

    from dse.export import evaluate_exported
    from mant.errors import InputError

    folder = tmp_path / "x"
    shutil.copytree(exported, folder)
    path = folder / name
    data = yaml.safe_load(path.read_text())
    result = edit(data)
    path.write_text(yaml.safe_dump(result if isinstance(result, list) else data))
    with pytest.raises(InputError) as info:
        evaluate_exported(folder)
    text = str(info.value)
    assert field in text and value in text, text


def test_corrupt_exported_file_bytes(exported, tmp_path):
    import shutil

    from dse.export import evaluate_exported
    from mant.errors import InputError

    for raw, needle in ((b"study: caf\xe9\n", "UTF-8"), (b"a: 1\na: 2\n", "duplicate key")):
        folder = tmp_path / f"x{len(raw)}"
        shutil.copytree(exported, folder)
        (folder / "design.yaml").write_bytes(raw)
        with pytest.raises(InputError, match=needle):
            evaluate_exported(folder)


def test_huge_group_size_flag(tmp_path, capsys):
    import numpy as np

    np.save(tmp_path / "w.npy", np.ones((4, 64), np.float32))
    argv = ["quantize", str(tmp_path / "w.npy"), "--format", "int4", "--group-size", "1000000000"]
    assert main(argv) == 2
    assert "--group-size: must be an int in 1..65536, got 1000000000" in capsys.readouterr().err


def test_journal_storage_that_is_a_folder(tmp_path, capsys):
    spec = _write_spec(tmp_path, _spec())
    folder = tmp_path / "afolder"
    folder.mkdir()
    out = tmp_path / "out"
    url = f"journal:///{folder}"
    assert main(["run", str(spec), "--out", str(out), "--storage", url, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "storage: must name a journal file, but it is a folder" in err
    assert not out.exists()


def test_zero_d_tensor_and_huge_gemm_flags(tmp_path, capsys):
    import numpy as np

    np.save(tmp_path / "t0.npy", np.float32(3.0))
    assert main(["quantize", str(tmp_path / "t0.npy"), "--format", "int4"]) == 2
    assert "t0.npy:t0: must be a tensor of at least one element" in capsys.readouterr().err
    argv = ["hw", "gemm", "--m", str(10**20), "--n", "4", "--k", "4", "--accelerator", "mant"]
    assert main(argv) == 2
    assert f"--m: must be an int in 1..16777216, got {10**20}" in capsys.readouterr().err


def test_non_utf8_accelerator_file(tmp_path, capsys):
    bad = tmp_path / "acc.yaml"
    bad.write_bytes(b"name: \xff\n")
    argv = ["hw", "gemm", "--m", "4", "--n", "4", "--k", "4", "--accelerator", str(bad)]
    assert main(argv) == 2
    assert "acc.yaml:1: accelerator file must be UTF-8 text" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# every YAML file a user hands in is read strictly (mant.yaml_input): a duplicate key in a PE,
# accelerator, model, reproduce-config or recipe file is one error naming the file and the key


def _with_duplicate_key(text: str) -> tuple[str, str]:
    """A valid file of its kind with its first top-level key given a second time (at the end)."""
    import json

    data = yaml.safe_load(text)
    key = next(iter(data))
    return text.rstrip("\n") + f"\n{key}: {json.dumps(data[key])}\n", key


def _shipped(kind: str) -> str:
    from importlib import resources

    if kind == "pe":
        return (resources.files("hwmodel") / "data" / "pes" / "mant.yaml").read_text("utf-8")
    if kind == "accelerator":
        return (resources.files("hwmodel") / "presets" / "mant.yaml").read_text("utf-8")
    if kind == "model":
        return (resources.files("hwmodel") / "data" / "models" / "llama-2-7b.yaml").read_text(
            "utf-8"
        )
    if kind == "reproduce":
        from dse.reproduce.config import shipped_config_text

        return shipped_config_text()
    from dse.study.recipe_io import recipe_yaml
    from mant.recipes import named_recipe

    return recipe_yaml(named_recipe("mant-w4a8", "recipe"))


def _argv(kind: str, path: Path, tmp_path: Path) -> list[str]:
    if kind == "pe":  # a PE file as a competing PE type of a study
        spec = _write_spec(tmp_path, _spec(space__pe_type=["int8", str(path)]))
        return ["run", str(spec), "--out", str(tmp_path / "out"), "--no-progress"]
    gemm = ["hw", "gemm", "--m", "4", "--n", "4", "--k", "4"]
    if kind == "accelerator":
        return [*gemm, "--accelerator", str(path)]
    if kind == "model":
        return ["hw", "llm", "--model", str(path), "--accelerator", "mant"]
    if kind == "reproduce":
        return ["reproduce", "--config", str(path), "--out", str(tmp_path / "out")]
    return ["recipes", str(path)]


@pytest.mark.parametrize("kind", ["pe", "accelerator", "model", "reproduce", "recipe"])
def test_duplicate_key_in_a_user_yaml_file(tmp_path, capsys, kind):
    text, key = _with_duplicate_key(_shipped(kind))
    path = tmp_path / f"my-{kind}.yaml"
    path.write_text(text, encoding="utf-8")
    line = len(text.rstrip("\n").splitlines())
    assert main(_argv(kind, path, tmp_path)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    expected = f"my-{kind}.yaml:{line}: duplicate key (YAML keeps only the last one), got {key!r}"
    assert err.startswith("error: ") and f"{path}:{line}: " in err and expected in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["pe", "accelerator", "model", "reproduce", "recipe"])
def test_non_utf8_user_yaml_file(tmp_path, capsys, kind):
    path = tmp_path / f"my-{kind}.yaml"
    path.write_bytes(_shipped(kind).encode("utf-8") + b"# caf\xe9\n")
    assert main(_argv(kind, path, tmp_path)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"my-{kind}.yaml" in err, err
    assert "UTF-8" in err, err


def test_saved_study_file_with_a_duplicate_key_is_bad_input(finished_run, tmp_path, capsys):
    import shutil

    from dse.run.runner import SPEC_FILE

    folder = tmp_path / "run"
    shutil.copytree(finished_run, folder)
    saved = folder / SPEC_FILE
    text, key = _with_duplicate_key(saved.read_text(encoding="utf-8"))
    saved.write_text(text, encoding="utf-8")
    spec = _write_spec(tmp_path, _spec())
    assert main(["run", str(spec), "--out", str(folder), "--sweep"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"{SPEC_FILE}:" in err and f"got {key!r}" in err, err


# ---------------------------------------------------------------------------------------------
# tensor-file headers are data from the user: checked against the file before anything is read


def _safetensors(entries: dict, data: bytes, metadata=None) -> bytes:
    import json
    import struct

    header = dict(entries)
    if metadata is not None:
        header["__metadata__"] = metadata
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def _f32(shape, begin, end):
    return {"dtype": "F32", "shape": shape, "data_offsets": [begin, end]}


SAFETENSORS_CASES = [
    ("negative-offset", {"w": _f32([2], -8, 0)}, bytes(8), None, "data_offsets must be"),
    ("negative-shape", {"w": _f32([-2], 0, 8)}, bytes(8), None, "shape must be non-negative"),
    (
        "overlap",
        {"a": _f32([2], 0, 8), "b": _f32([2], 4, 12)},
        bytes(12),
        None,
        "data_offsets overlap",
    ),
    ("gap", {"a": _f32([2], 0, 8), "b": _f32([2], 12, 20)}, bytes(20), None, "leave a gap"),
    ("short-span", {"w": _f32([4], 0, 8)}, bytes(8), None, "do not hold shape [4]"),
    ("metadata-list", {"w": _f32([2], 0, 8)}, bytes(8), [1, 2], "__metadata__ must be"),
    ("trailing-bytes", {"w": _f32([2], 0, 8)}, bytes(16), None, "cover 8 bytes of a 16-byte"),
]


@pytest.mark.parametrize(
    ("entries", "data", "meta", "needle"),
    [c[1:] for c in SAFETENSORS_CASES],
    ids=[c[0] for c in SAFETENSORS_CASES],
)
def test_bad_safetensors_header_is_rejected(tmp_path, capsys, entries, data, meta, needle):
    import safetensors

    path = tmp_path / "w.safetensors"
    path.write_bytes(_safetensors(entries, data, meta))
    with pytest.raises(Exception):  # noqa: B017 - the reference reader refuses it too
        with safetensors.safe_open(str(path), "np") as fh:
            [fh.get_tensor(k) for k in fh.keys()]  # noqa: SIM118
    assert main(["quantize", str(path), "--format", "int4"]) == 2
    err = capsys.readouterr().err
    assert "w.safetensors: must be a readable tensor file" in err and needle in err, err
    assert "Traceback" not in err


def test_gguf_claiming_2_to_the_40_tensors_is_rejected_at_once(tmp_path, capsys):
    import struct
    import time

    path = tmp_path / "big.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 2**40, 0) + bytes(2 << 20))
    start = time.perf_counter()
    assert main(["quantize", str(path), "--format", "int4"]) == 2
    assert time.perf_counter() - start < 5  # gguf's reader alone loops for ~20 s on this file
    err = capsys.readouterr().err
    assert f"{2**40} tensors, 0 keys do not fit in" in err and "Traceback" not in err


# ---------------------------------------------------------------------------------------------
# model files (config.json, GGUF metadata): every field of the wrong type, kind or size


_HF = {
    "model_type": "llama",
    "num_hidden_layers": 2,
    "hidden_size": 64,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 128,
    "vocab_size": 100,
}

CONFIG_CASES = [
    ("kv-heads-0", {"num_key_value_heads": 0}, "kv_heads: must be an int in 1..65536", "0"),
    ("hidden-float", {"hidden_size": 64.5}, "hidden: must be an int in 1..", "64.5"),
    ("hidden-nan", {"hidden_size": float("nan")}, "hidden: must be an int in 1..", "nan"),
    ("hidden-string", {"hidden_size": "64"}, "hidden: must be an int in 1..", "'64'"),
    ("heads-list", {"num_attention_heads": [4]}, "heads: must be an int in 1..", "[4]"),
    ("layers-10**30", {"num_hidden_layers": 10**30}, "layers: must be an int in 1..65536", "1000"),
    ("text-config-list", {"text_config": [1, 2]}, "text_config: must be a mapping", "[1, 2]"),
    ("architectures-int", {"architectures": 7, "hidden_size": -1}, "hidden: must be", "-1"),
]


@pytest.mark.parametrize(
    ("change", "field", "value"), [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES]
)
def test_bad_config_json_field_is_one_clear_error(tmp_path, capsys, change, field, value):
    import json

    path = tmp_path / "config.json"
    path.write_text(json.dumps({**_HF, **change}))
    argv = ["hw", "llm", "--model", str(path), "--accelerator", "mant"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert field in err and value in err and "Traceback" not in err, err


def test_config_json_nested_thousands_deep(tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_text('{"model_type": "llama", "x": ' + "[" * 50_000 + "]" * 50_000 + "}")
    assert main(["hw", "llm", "--model", str(path), "--accelerator", "mant"]) == 2
    err = capsys.readouterr().err
    assert "config.json: is nested more than 64 levels deep" in err and "Traceback" not in err


@pytest.mark.parametrize("kind", ["study", "model"])
def test_yaml_nested_thousands_deep(tmp_path, capsys, kind):
    deep = "[" * 5000 + "]" * 5000
    if kind == "study":
        path = tmp_path / "study.yaml"
        path.write_text(yaml.safe_dump(_spec()) + f"colour: {deep}\n")
        argv = ["run", str(path), "--out", str(tmp_path / "o"), "--no-progress"]
    else:
        path = tmp_path / "m.yaml"
        path.write_text(f"layers: {deep}\n")
        argv = ["hw", "llm", "--model", str(path), "--accelerator", "mant"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{path.name}: is nested more than 64 levels deep" in err and "Traceback" not in err


def _gguf_model(path: Path, **fields) -> Path:
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")
    for key, (kind, value) in fields.items():
        getattr(w, f"add_{kind}")(f"llama.{key}", value)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.close()
    return path


GGUF_CASES = [
    ("float-hidden", {"embedding_length": ("float32", 64.5)}, "hidden: must be an int", "64.5"),
    ("string-hidden", {"embedding_length": ("string", "64")}, "hidden: must be an int", "'64'"),
    ("2**63-blocks", {"block_count": ("uint64", 2**63)}, "layers: must be an int in 1..", "922"),
    ("kv-heads-0", {"attention.head_count_kv": ("uint32", 0)}, "kv_heads: must be an int", "0"),
]


@pytest.mark.parametrize(
    ("change", "field", "value"), [c[1:] for c in GGUF_CASES], ids=[c[0] for c in GGUF_CASES]
)
def test_bad_gguf_metadata_is_one_clear_error(tmp_path, capsys, change, field, value):
    base = {
        "block_count": ("uint32", 2),
        "embedding_length": ("uint32", 64),
        "attention.head_count": ("uint32", 4),
        "attention.head_count_kv": ("uint32", 2),
        "feed_forward_length": ("uint32", 128),
        "vocab_size": ("uint32", 100),
    }
    path = _gguf_model(tmp_path / "m.gguf", **{**base, **change})
    argv = ["hw", "llm", "--model", str(path), "--accelerator", "mant"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert field in err and value in err and "Traceback" not in err, err


# ---------------------------------------------------------------------------------------------
# the files accuracy source opens its tensors when the study is parsed (docs/inputs.md): bad
# values there are exit 2 before anything runs, never a failure of every trial


def _files_case(tmp_path: Path, kind: str) -> dict:
    import numpy as np

    rng = np.random.default_rng(0)
    w = rng.standard_normal((8, 64)).astype(np.float32)
    calibration = None
    if kind == "zeros":
        w[:] = 0
    elif kind == "nan":
        w[1, 2] = np.nan
    elif kind == "calibration-width":
        np.save(tmp_path / "x.npy", rng.standard_normal((16, 32)).astype(np.float32))
        calibration = {"w": "x.npy"}
    elif kind == "calibration-nan":
        x = rng.standard_normal((16, 64)).astype(np.float32)
        x[0, 0] = np.inf
        np.save(tmp_path / "x.npy", x)
        calibration = {"w": "x.npy"}
    np.save(tmp_path / "w.npy", w)
    accuracy = {"source": "files", "paths": [str(tmp_path / "w.npy")]}
    if calibration:
        accuracy["calibration"] = {k: str(tmp_path / v) for k, v in calibration.items()}
    return _spec(accuracy=accuracy, objectives=["weight_rel_mse", "latency_s"])


FILES_CASES = [
    ("zeros", "w.npy:w: must have a non-zero value", "all zeros"),
    ("nan", "w.npy:w: must be finite", "1 NaN"),
    ("calibration-width", "accuracy.calibration.w: must have in_features=64", "32"),
    ("calibration-nan", "accuracy.calibration.w", "Inf"),
]


@pytest.mark.parametrize(("kind", "field", "value"), FILES_CASES, ids=[c[0] for c in FILES_CASES])
def test_bad_values_in_a_studys_tensor_files_are_found_at_parse(
    tmp_path, capsys, kind, field, value
):
    spec = _write_spec(tmp_path, _files_case(tmp_path, kind))
    out = tmp_path / "out"
    assert main(["run", str(spec), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert field in err and value in err and "Traceback" not in err, err
    assert not out.exists()


def test_yaml_reads_1e9_as_a_number_like_yaml_1_2(tmp_path, capsys):
    """PyYAML (YAML 1.1) reads 1.0e9 as the string '1.0e9'; a clock of 1.0e9 Hz is a number."""
    from hwmodel import dump_accelerator, load_accelerator
    from mant.yaml_input import load_yaml_text

    assert load_yaml_text("a: 1.0e9\nb: 1e9\nc: -2.5E-3\nd: x1e9\n", where="t") == {
        "a": 1e9,
        "b": 1e9,
        "c": -2.5e-3,
        "d": "x1e9",
    }
    path = tmp_path / "acc.yaml"
    dump_accelerator(load_accelerator("mant"), path)
    text = path.read_text()
    path.write_text(
        "\n".join(
            "clock_hz: 1.0e9" if line.startswith("clock_hz:") else line
            for line in text.splitlines()
        )
    )
    assert "clock_hz: 1.0e9" in path.read_text()
    argv = ["hw", "gemm", "--m", "4", "--n", "4", "--k", "4", "--accelerator", str(path)]
    assert main(argv) == 0, capsys.readouterr().err
