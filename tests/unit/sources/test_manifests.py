"""Manifests: every malformed input names its file, line and path; good input round-trips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reconcile as rc
from reconcile.sources import ManifestError, ManifestProblem, ManifestSource, load_manifests
from reconcile.testing import MemoryProvider


@attrs.frozen
class Port:
    number: int
    protocol: str = "tcp"


@rc.resource("mf_record")
class Record:
    name: str = rc.field(key=True)
    value: str = ""
    ttl: int = 300
    tags: list[str] = rc.field(factory=list)
    labels: dict[str, str] = rc.field(factory=dict)


@rc.resource("mf_service")
class Service:
    name: str = rc.field(key=True)
    ports: list[Port] = rc.field(factory=list)
    replicas: int = 1


def _not_above_max(instance: Any, attribute: Any, value: int) -> None:
    """A check across two fields: it reads ``max_size`` too."""
    if value > instance.max_size:
        raise ValueError("min_size is above max_size")


@rc.resource("mf_pool")
class Pool:
    name: str = rc.field(key=True, validator=attrs.validators.matches_re(r"[a-z]+"))
    min_size: int = rc.field(default=0, validator=[attrs.validators.ge(0), _not_above_max])
    max_size: int = rc.field(default=1, validator=attrs.validators.le(100))
    tier: str = rc.field(
        default="gold", converter=str.lower, validator=attrs.validators.in_(("gold", "silver"))
    )


def _write(root: Path, files: dict[str, str | bytes]) -> list[Path]:
    paths = []
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        paths.append(path)
    return paths


def _problems(root: Path, files: dict[str, str | bytes]) -> ManifestError:
    with pytest.raises(ManifestError) as caught:
        load_manifests(*_write(root, files))
    return caught.value


GOOD_API = "kind: mf_record\nspec: {name: api, value: 1.2.3.4}\n"

# name -> files, "file:line" where the problem is reported, what the message says
MALFORMED = {
    "unknown-kind": (
        {"a.yaml": "kind: mf_nope\nspec: {name: x}\n"},
        "a.yaml:1",
        ("$.kind", "unknown kind 'mf_nope'"),
    ),
    "missing-kind": (
        {"a.yaml": "# c\nspec: {name: x}\n"},
        "a.yaml:2",
        ("missing key 'kind'",),
    ),
    "kind-not-a-string": (
        {"a.yaml": "kind: [mf_record]\nspec: {name: x}\n"},
        "a.yaml:1",
        ("$.kind", "expected a kind name"),
    ),
    "missing-key-field": (
        {"a.yaml": "kind: mf_record\nspec:\n  value: x\n"},
        "a.yaml:2",
        ("$.spec.name", "required field missing"),
    ),
    "wrong-type-int": (
        {"a.yaml": "kind: mf_record\nspec:\n  name: www\n  ttl: '300'\n"},
        "a.yaml:4",
        ("mf_record[www]", "$.spec.ttl", "expected int, got str"),
    ),
    "yaml-bool-is-not-a-str": (
        {"a.yaml": "kind: mf_record\nspec:\n  name: www\n  value: yes\n"},
        "a.yaml:4",
        ("$.spec.value", "expected str, got bool"),
    ),
    "wrong-type-nested": (
        {"a.yaml": "kind: mf_service\nspec:\n  name: web\n  ports:\n    - number: '80'\n"},
        "a.yaml:5",
        ("mf_service[web]", "$.spec.ports[0].number", "expected int"),
    ),
    "string-is-not-a-list": (
        {"a.yaml": "kind: mf_record\nspec:\n  name: www\n  tags: prod\n"},
        "a.yaml:4",
        ("$.spec.tags", "expected a list, got str"),
    ),
    "unknown-field": (
        {"a.yaml": "kind: mf_record\nspec:\n  name: www\n  colour: red\n"},
        "a.yaml:4",
        ("$.spec.colour", "unknown field", "name, value, ttl"),
    ),
    "unknown-nested-field": (
        {"a.yaml": "kind: mf_service\nspec:\n  name: web\n  ports:\n  - {number: 80, nmae: h}\n"},
        "a.yaml:5",
        ("$.spec.ports[0].nmae", "unknown field"),
    ),
    "unknown-top-level-key": (
        {"a.yaml": "apiVersion: v1\nkind: mf_record\nspec: {name: x}\n"},
        "a.yaml:1",
        ("$.apiVersion", "unknown key"),
    ),
    "spec-not-a-mapping": (
        {"a.yaml": "kind: mf_record\nspec: [name, x]\n"},
        "a.yaml:2",
        ("$.spec", "expected a mapping"),
    ),
    "duplicate-address-across-files": (
        {"a.yaml": GOOD_API, "b.json": '{"kind": "mf_record", "spec": {"name": "api"}}'},
        "b.json:1",
        ("mf_record[api] is declared twice", "a.yaml:1"),
    ),
    "duplicate-address-in-one-file": (
        {"a.yaml": GOOD_API + "---\n" + GOOD_API},
        "a.yaml:4",
        ("document 2", "declared twice", "(document 1)"),
    ),
    "dangling-depends-on": (
        {
            "a.yaml": GOOD_API
            + "---\nkind: mf_record\nspec: {name: www}\n"
            + "depends_on:\n- mf_record[api]\n- mf_record[ghost]\n"
        },
        "a.yaml:8",
        ("$.depends_on[1]", "mf_record[ghost]", "no manifest declares"),
    ),
    "dangling-ref": (
        {
            "a.yaml": "kind: mf_record\nspec:\n  name: www\n"
            "  value: {$ref: 'mf_record[ghost]', field: value}\n"
        },
        "a.yaml:4",
        ("$.spec.value", "$ref names mf_record[ghost]"),
    ),
    "ref-with-extra-keys": (
        {
            "a.yaml": GOOD_API
            + "---\nkind: mf_record\nspec:\n  name: www\n"
            + "  value: {$ref: 'mf_record[api]', field: value, default: x}\n"
        },
        "a.yaml:7",
        ("$.spec.value", "exactly the keys $ref and field", "default"),
    ),
    "ref-without-field": (
        {
            "a.yaml": GOOD_API
            + "---\nkind: mf_record\nspec:\n  name: www\n  value: {$ref: 'mf_record[api]'}\n"
        },
        "a.yaml:7",
        ("$.spec.value", "exactly the keys $ref and field"),
    ),
    "ref-not-strings": (
        {
            "a.yaml": GOOD_API
            + "---\nkind: mf_record\nspec:\n  name: www\n  value: {$ref: 1, field: v}\n"
        },
        "a.yaml:7",
        ("$.spec.value", "must both be strings"),
    ),
    "ref-to-unknown-field": (
        {
            "a.yaml": GOOD_API
            + "---\nkind: mf_record\nspec:\n  name: www\n"
            + "  value: {$ref: 'mf_record[api]', field: ip}\n"
        },
        "a.yaml:7",
        ("$ref field 'ip'", "has no such field"),
    ),
    "cycle": (
        {
            "a.yaml": "kind: mf_record\nspec: {name: a}\ndepends_on: ['mf_record[b]']\n",
            "b.yaml": "kind: mf_record\nspec: {name: b}\ndepends_on: ['mf_record[a]']\n",
        },
        "a.yaml:1",
        ("dependency cycle", "mf_record[a]", "mf_record[b]"),
    ),
    "cycle-through-a-ref": (
        {
            "a.yaml": "kind: mf_record\n"
            "spec: {name: a, value: {$ref: 'mf_record[b]', field: value}}\n"
            "---\nkind: mf_record\nspec: {name: b}\ndepends_on: ['mf_record[a]']\n",
        },
        "a.yaml:1",
        ("dependency cycle",),
    ),
    "depends-on-itself": (
        {"a.yaml": "kind: mf_record\nspec: {name: a}\ndepends_on: mf_record[a]\n"},
        "a.yaml:1",
        ("dependency cycle: mf_record[a] -> mf_record[a]",),
    ),
    "depends-on-not-a-list": (
        {"a.yaml": GOOD_API + "depends_on: {a: 1}\n"},
        "a.yaml:3",
        ("$.depends_on", "expected a list of addresses"),
    ),
    "depends-on-item-not-a-string": (
        {"a.yaml": GOOD_API + "depends_on: [3]\n"},
        "a.yaml:3",
        ("$.depends_on[0]", "expected an address (str), got int"),
    ),
    "lifecycle-wrong-type": (
        {"a.yaml": GOOD_API + "lifecycle:\n  prevent_destroy: 'yes'\n"},
        "a.yaml:4",
        ("$.lifecycle.prevent_destroy", "expected bool, got str"),
    ),
    "lifecycle-unknown-option": (
        {"a.yaml": GOOD_API + "lifecycle:\n  prevent_destory: true\n"},
        "a.yaml:4",
        ("$.lifecycle.prevent_destory", "unknown field"),
    ),
    "lifecycle-ignores-unknown-field": (
        {"a.yaml": GOOD_API + "lifecycle: {ignore_changes: [ttl, colour]}\n"},
        "a.yaml:3",
        ("$.lifecycle.ignore_changes", "colour"),
    ),
    "yaml-syntax-error": (
        {"a.yaml": "kind: mf_record\nspec:\n  name: [www\n  value: x\n"},
        "a.yaml:4",
        ("YAML syntax error",),
    ),
    "yaml-duplicate-key": (
        {"a.yaml": "kind: mf_record\nspec:\n  name: a\n  name: b\n"},
        "a.yaml:4",
        ("duplicate key 'name' (first at line 3)",),
    ),
    "document-is-a-list": (
        {"a.yaml": GOOD_API + "---\n- kind: mf_record\n"},
        "a.yaml:4",
        ("document 2", "a document is a mapping with kind and spec, not list"),
    ),
    "document-is-a-string": (
        {"a.yaml": "just some words\n"},
        "a.yaml:1",
        ("not str",),
    ),
    "empty-file": ({"a.yaml": ""}, "a.yaml:1", ("no documents",)),
    "comment-only-file": (
        {"a.yaml": "# nothing here yet\n"},
        "a.yaml:1",
        ("no documents",),
    ),
    "python-object-tag": (
        {"a.yaml": "kind: mf_record\nspec:\n  name: !!python/object/apply:os.getcwd []\n"},
        "a.yaml:3",
        ("python/object/apply:os.getcwd", "plain data only"),
    ),
    "alias-bomb": (
        {
            "a.yaml": "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n"
                for p, n in zip("abcdef", "bcdefg", strict=True)
            )
        },
        "a.yaml:1",
        ("aliases",),
    ),
    "json-syntax-error": (
        {"a.json": '{\n  "kind": "mf_record",\n  "spec": {"name": }\n}\n'},
        "a.json:3",
        ("JSON syntax error",),
    ),
    "json-scalar": ({"a.json": '"mf_record"'}, "a.json:1", ("an object or a list of objects",)),
    "json-list-item-not-an-object": (
        {"a.json": '[\n {"kind": "mf_record", "spec": {"name": "a"}},\n 7\n]'},
        "a.json:3",
        ("document 2", "not int"),
    ),
    "json-wrong-type": (
        {"a.json": '[\n {"kind": "mf_record",\n  "spec": {"name": "a", "ttl": "x"}}\n]'},
        "a.json:3",
        ("$.spec.ttl", "expected int, got str"),
    ),
    "toml-syntax-error": (
        {"a.toml": '[[resource]]\nkind = "mf_record"\nspec = { name = }\n'},
        "a.toml:3",
        ("TOML syntax error",),
    ),
    "toml-wrong-type": (
        {"a.toml": '[[resource]]\nkind = "mf_record"\n\n[resource.spec]\nname = "a"\nttl = "x"\n'},
        "a.toml:6",
        ("$.spec.ttl", "expected int, got str"),
    ),
    "toml-unknown-top-level-key": (
        {"a.toml": 'title = "x"\n[[resource]]\nkind = "mf_record"\n'},
        "a.toml:1",
        ("unknown top-level key 'title'",),
    ),
    "toml-single-table": (
        {"a.toml": '[resource]\nkind = "mf_record"\n'},
        "a.toml:1",
        ("write [[resource]]",),
    ),
    "not-utf8": ({"a.yaml": b"kind: mf_record\nspec: {name: \xff}\n"}, "a.yaml:2", ("UTF-8",)),
    "not-a-manifest-file": ({"a.txt": "kind: mf_record\n"}, "a.txt:None", ("not a manifest file",)),
    "validator-of-the-kind": (
        {"a.yaml": "kind: file\nspec: {path: x, content: a, source: b}\n"},
        "a.yaml:2",
        ("file[x]", "exactly one of content", "source"),
    ),
    "validator-of-one-field": (
        {"a.yaml": "kind: file\nspec:\n  path: x\n  content: a\n  mode: 99999\n"},
        "a.yaml:5",
        ("file[x]", "$.spec.mode", "is not a file mode"),
    ),
    "validator-across-fields-stays-at-spec": (
        {"a.yaml": "kind: file\nspec:\n  path: x\n  content: a\n  source: b\n"},
        "a.yaml:2",
        ("file[x]", "$.spec: ", "exactly one of content"),
    ),
    "lifecycle-validator": (
        {"a.yaml": GOOD_API + "lifecycle:\n  drift: sometimes\n"},
        "a.yaml:4",
        ("$.lifecycle.drift", "must be in"),
    ),
    "json-nested-list-item": (
        {"a.json": '{"kind": "mf_record",\n "spec": {"name": "a",\n  "tags": ["x",\n   3]}}'},
        "a.json:4",
        ("$.spec.tags[1]", "expected str, got int"),
    ),
    "json-duplicate-key": (
        {"a.json": '{"kind": "mf_record",\n "spec": {"name": "a"},\n "kind": "mf_record"}'},
        "a.json:3",
        ("duplicate key 'kind' (first at line 1)",),
    ),
}


@pytest.mark.parametrize(("files", "where", "says"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_manifest_is_named_by_file_line_and_path(
    tmp_path: Path, files: dict[str, str | bytes], where: str, says: tuple[str, ...]
) -> None:
    import reconcile.providers  # noqa: F401  (registers the "file" kind)

    err = _problems(tmp_path, files)
    name, line = where.split(":")
    matching = [
        p
        for p in err.problems
        if Path(p.file).name == name and str(p.line) == line and all(s in str(p) for s in says)
    ]
    assert matching, f"no problem at {where} saying {says}; got:\n{err}"
    assert str(matching[0]) in str(err)
    assert str(tmp_path / name) in str(err)


def test_the_table_covers_many_cases() -> None:
    assert len(MALFORMED) >= 20


def test_every_problem_in_every_file_is_reported_at_once(tmp_path: Path) -> None:
    err = _problems(
        tmp_path,
        {
            "a.yaml": "kind: mf_record\nspec: {name: a, ttl: x, colour: red}\n",
            "b.json": '{"kind": "mf_nope"}',
            "c.toml": "[[resource]]\nkind = 1\n",
            "d.yaml": "kind: mf_record\nspec: {name: d}\ndepends_on: ['mf_record[zz]']\n",
        },
    )
    files = {Path(p.file).name for p in err.problems}
    assert files == {"a.yaml", "b.json", "c.toml", "d.yaml"}
    assert len(err.problems) == 5
    assert str(err).startswith("5 problems in manifests; nothing was loaded")


def test_a_python_tag_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = f"kind: mf_record\nspec:\n  name: !!python/object/apply:os.mkdir ['{marker}']\n"
    _problems(tmp_path, {"a.yaml": text})
    assert not marker.exists()


def test_manifest_error_is_an_invalid_state_error_with_problems(tmp_path: Path) -> None:
    err = _problems(tmp_path, {"a.yaml": "kind: mf_record\nspec: {ttl: x}\n"})
    assert isinstance(err, rc.InvalidStateError)
    assert isinstance(err, ValueError)
    assert rc.ManifestError is ManifestError
    problem = err.problems[0]
    assert isinstance(problem, ManifestProblem)
    assert (problem.line, problem.column, problem.document) == (2, 1, 1)
    assert problem.path == "$.spec.name"
    assert problem.address is None  # the key field is missing, so the address is unknown


def test_kinds_limits_what_a_source_reads_and_suggests(tmp_path: Path) -> None:
    (path,) = _write(tmp_path, {"a.yaml": "kind: mf_recrod\nspec: {name: a}\n"})
    with pytest.raises(ManifestError, match="did you mean 'mf_record'"):
        load_manifests(path, kinds=[Record, Service])
    (path,) = _write(tmp_path, {"a.yaml": "kind: mf_service\nspec: {name: a}\n"})
    with pytest.raises(ManifestError, match=r"kinds read here: mf_record\)"):
        load_manifests(path, kinds=[Record])


def test_a_missing_path_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no such file or folder"):
        load_manifests(tmp_path / "nope.yaml")
    with pytest.raises(TypeError):
        load_manifests()


# -- validators: at the field they check, or at $.spec for checks across fields -----

# name -> spec lines of an mf_pool document, line and path reported, what the message says
POOL_VALIDATED = {
    "key-field-pattern": ("  name: Web\n", 3, "$.spec.name", "must match regex"),
    "first-of-two-validators": ("  name: web\n  min_size: -1\n", 4, "$.spec.min_size", ">= 0"),
    "bound": ("  name: web\n\n  max_size: 500\n", 5, "$.spec.max_size", "<= 100"),
    "converted-then-validated": ("  name: web\n  tier: Bronze\n", 4, "$.spec.tier", "'bronze'"),
    "check-across-two-fields": (
        "  name: web\n  min_size: 5\n  max_size: 2\n",
        2,
        "$.spec",
        "min_size is above max_size",
    ),
}


@pytest.mark.parametrize(
    ("spec", "line", "path", "says"), POOL_VALIDATED.values(), ids=POOL_VALIDATED.keys()
)
def test_a_validator_error_is_reported_at_the_field_it_checks(
    tmp_path: Path, spec: str, line: int, path: str, says: str
) -> None:
    err = _problems(tmp_path, {"a.yaml": "kind: mf_pool\nspec:\n" + spec})
    (problem,) = err.problems
    assert (problem.line, problem.path) == (line, path), str(err)
    assert says in problem.message


def test_an_attrs_validator_message_reads_as_a_sentence(tmp_path: Path) -> None:
    """attrs' validators raise ValueError(message, attribute, options, value): only the
    message is shown, not the attribute's repr."""
    err = _problems(tmp_path, {"a.yaml": "kind: mf_pool\nspec:\n  name: web\n  tier: bronze\n"})
    (problem,) = err.problems
    assert problem.message.startswith("'tier' must be in ('gold', 'silver')"), problem.message
    assert "Attribute(" not in problem.message


def _pin_format(instance: object, attribute: object, value: str) -> None:
    if not value.isdigit():
        raise ValueError(f"pin {value!r} must be digits")


def _pin_not_in_name(instance: Any, attribute: object, value: str) -> None:
    if value in instance.name:
        raise ValueError(f"the name {instance.name!r} must not contain the pin {value!r}")


@rc.resource("mf_vault")
class Vault:
    name: str = rc.field(key=True)
    pin: str = rc.field(default="0000", sensitive=True, validator=_pin_format)
    code: str = rc.field(default="", sensitive=True, validator=_pin_not_in_name)


def test_a_sensitive_field_s_validator_error_never_shows_the_value(tmp_path: Path) -> None:
    text = "kind: mf_vault\nspec:\n  name: safe\n  pin: hunter2secret\n"
    err = _problems(tmp_path, {"a.yaml": text})
    (problem,) = err.problems
    assert (problem.line, problem.path) == (4, "$.spec.pin")
    assert "hidden" in problem.message
    assert "hunter2secret" not in str(err)
    assert "hunter2secret" not in repr(err)


def test_a_validator_that_quotes_a_secret_with_another_field_is_hidden_too(
    tmp_path: Path,
) -> None:
    text = "kind: mf_vault\nspec:\n  name: safe-swordfish\n  code: swordfish\n"
    err = _problems(tmp_path, {"a.yaml": text})
    (problem,) = err.problems
    assert (problem.line, problem.path) == (4, "$.spec.code")  # it reads only a key besides
    assert "swordfish" not in problem.message
    assert "hidden" in problem.message


def _mode_manifest(kind: str, form: str) -> tuple[str, int]:
    """A ``kind`` document in ``form`` whose mode is out of range, and the mode's line."""
    spec: dict[str, object] = {"path": "p", "mode": 99999}
    if kind == "file":
        spec = {"path": "p", "content": "x", "mode": 99999}
    if form == "yaml":
        text = f"kind: {kind}\nspec:\n" + "".join(f"  {k}: {v}\n" for k, v in spec.items())
    elif form == "json":
        text = json.dumps({"kind": kind, "spec": spec}, indent=2)
    else:
        pairs = "".join(f"{k} = {json.dumps(v)}\n" for k, v in spec.items())
        text = f'[[resource]]\nkind = "{kind}"\n\n[resource.spec]\n{pairs}'
    lines = text.splitlines()
    return text, next(n for n, li in enumerate(lines, start=1) if "99999" in li)


@pytest.mark.parametrize("form", ["yaml", "json", "toml"])
@pytest.mark.parametrize("kind", ["file", "directory"])
def test_a_bad_mode_is_at_the_mode_line_in_every_format(
    tmp_path: Path, kind: str, form: str
) -> None:
    import reconcile.providers  # noqa: F401  (registers the "file" and "directory" kinds)

    text, line = _mode_manifest(kind, form)
    err = _problems(tmp_path, {f"a.{form}": text})
    (problem,) = err.problems
    assert (problem.line, problem.path, problem.address) == (line, "$.spec.mode", f"{kind}[p]")
    assert "mode 0o303237 is not a file mode" in problem.message


def test_a_kubernetes_object_validator_is_at_its_field(tmp_path: Path) -> None:
    import reconcile.kube  # noqa: F401  (registers the "k8s" kind)

    text = (
        "kind: k8s\nspec:\n  group: apps\n  object_kind: Deployment\n"
        "  namespace: web/prod\n  name: api\n  version: v1\n"
    )
    err = _problems(tmp_path, {"a.yaml": text})
    (problem,) = err.problems
    assert (problem.line, problem.column, problem.path) == (5, 3, "$.spec.namespace")
    assert "namespace must be a string without '/'" in problem.message


def test_a_file_with_neither_content_nor_source_is_reported_at_its_spec(tmp_path: Path) -> None:
    import reconcile.providers  # noqa: F401  (registers the "file" kind)

    err = _problems(tmp_path, {"a.yaml": "kind: file\nspec:\n  path: x\n  mode: 384\n"})
    (problem,) = err.problems
    assert (problem.line, problem.path) == (2, "$.spec")
    assert "give exactly one of content (text) and source (a file)" in problem.message


# -- JSON positions: every value is marked where it is written -----------------------

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


def _every_value(value: Any, path: tuple[str | int, ...] = ()) -> list[tuple[Any, Any]]:
    """Each value under ``value`` (itself included) with its path."""
    found: list[tuple[Any, Any]] = [(path, value)]
    if isinstance(value, dict | list):
        children = value.items() if isinstance(value, dict) else enumerate(value)
        for step, item in children:
            found += _every_value(item, (*path, step))
    return found


def _written_as(value: Any) -> str:
    """How a value's text begins in ``json.dumps`` output."""
    if isinstance(value, dict | list):
        return "{" if isinstance(value, dict) else "["
    return json.dumps(value)


@given(
    top=st.dictionaries(st.text(max_size=4), _json_values, max_size=4)
    | st.lists(_json_values, min_size=1, max_size=3),
    indent=st.sampled_from([None, 0, 2]),
)
def test_every_json_value_is_marked_where_it_is_written(top: Any, indent: int | None) -> None:
    from reconcile.sources._formats import read_json

    text = json.dumps(top, indent=indent)
    lines = text.split("\n")
    docs = list(read_json("a.json", text))
    assert [d.data for d in docs] == ([top] if isinstance(top, dict) else top)
    for doc in docs:
        for path, value in _every_value(doc.data):
            mark = doc.marks[path]  # the path itself, not an ancestor
            assert lines[mark.line - 1][mark.column - 1 :].startswith(_written_as(value)), path


def test_a_json_list_item_that_is_not_an_object_is_at_its_own_line(tmp_path: Path) -> None:
    text = '[\n  {"kind": "mf_record", "spec": {"name": "a"}},\n\n  "mf_record[b]",\n  7\n]\n'
    err = _problems(tmp_path, {"a.json": text})
    assert [(p.document, p.line, p.column) for p in err.problems] == [(2, 4, 3), (3, 5, 3)]
    assert [p.message.rsplit(" ", 1)[1] for p in err.problems] == ["str", "int"]


# -- good manifests ---------------------------------------------------------------


def test_yaml_with_several_documents(tmp_path: Path) -> None:
    text = """\
# DNS records
---
kind: mf_record
spec:
  name: api
  value: 1.2.3.4
  tags: [a, b]
---
---
kind: mf_service
spec:
  name: web
  ports:
    - number: 80
    - {number: 443, protocol: tcp}
"""
    (path,) = _write(tmp_path, {"a.yaml": text})
    assert load_manifests(path) == [
        Record("api", value="1.2.3.4", tags=["a", "b"]),
        Service("web", ports=[Port(80), Port(443)]),
    ]


def test_json_object_and_list(tmp_path: Path) -> None:
    paths = _write(
        tmp_path,
        {
            "one.json": json.dumps({"kind": "mf_record", "spec": {"name": "a", "ttl": 60}}),
            "many.json": json.dumps(
                [{"kind": "mf_record", "spec": {"name": n}} for n in ("b", "c")]
            ),
        },
    )
    assert load_manifests(*paths) == [Record("a", ttl=60), Record("b"), Record("c")]


def test_toml_array_of_tables(tmp_path: Path) -> None:
    text = """\
[[resource]]
kind = "mf_record"
depends_on = ["mf_record[b]"]

[resource.spec]
name = "a"
value = { "$ref" = "mf_record[b]", field = "value" }

[[resource]]
kind = "mf_record"
spec = { name = "b", value = "10.0.0.1" }
lifecycle = { prevent_destroy = true }
"""
    (path,) = _write(tmp_path, {"a.toml": text})
    a, b = load_manifests(path)
    assert a == Record("a", value=rc.ref("mf_record[b]", "value"))
    assert a.depends_on == ("mf_record[b]",)
    assert b.lifecycle == rc.Lifecycle(prevent_destroy=True)


def test_a_folder_is_read_recursively_in_sorted_order(tmp_path: Path) -> None:
    def doc(name: str) -> str:
        return f"kind: mf_record\nspec: {{name: {name}}}\n"

    _write(
        tmp_path,
        {
            "m/b.yaml": doc("b"),
            "m/a/z.yml": doc("z"),
            "m/a/b/c.json": json.dumps({"kind": "mf_record", "spec": {"name": "c"}}),
            "m/a.toml": '[[resource]]\nkind = "mf_record"\nspec = { name = "t" }\n',
            "m/.hidden/x.yaml": doc("hidden"),
            "m/README.md": "# not a manifest",
            "m/empty.yaml": "# nothing yet\n",
        },
    )
    loaded = load_manifests(tmp_path / "m")
    assert [r.name for r in loaded] == ["c", "z", "t", "b"]


def test_references_lifecycle_and_depends_on(tmp_path: Path) -> None:
    text = """\
kind: mf_record
spec: {name: api, value: 1.2.3.4}
---
kind: mf_record
spec:
  name: www
  value: {$ref: "mf_record[api]", field: value}
  tags: ["$ref", "{$ref: x}"]
  labels: {$$ref: "#/definitions/x", note: "$ref"}
depends_on: ["mf_record[api]"]
lifecycle: {prevent_destroy: true, create_before_destroy: false, ignore_changes: [ttl]}
"""
    (path,) = _write(tmp_path, {"a.yaml": text})
    _, www = load_manifests(path)
    assert www.value == rc.ref("mf_record[api]", "value")
    assert www.tags == ["$ref", "{$ref: x}"]  # strings are never references
    assert www.labels == {"$ref": "#/definitions/x", "note": "$ref"}  # $$ref escapes
    assert www.depends_on == ("mf_record[api]",)
    assert www.lifecycle == rc.Lifecycle(prevent_destroy=True, ignore_changes=frozenset({"ttl"}))


def test_the_same_file_given_twice_is_read_once(tmp_path: Path) -> None:
    (path,) = _write(tmp_path, {"a.yaml": GOOD_API})
    assert load_manifests(path, path, tmp_path) == [Record("api", value="1.2.3.4")]


def test_loaded_manifests_plan_and_converge(tmp_path: Path) -> None:
    text = GOOD_API + "---\nkind: mf_record\nspec: {name: www}\ndepends_on: ['mf_record[api]']\n"
    (path,) = _write(tmp_path, {"a.yaml": text})
    records = MemoryProvider(Record)
    reconciler = rc.Reconciler([records])
    report = reconciler.converge(load_manifests(path))
    assert report.converged
    assert [address for method, address in records.log if method == "create"] == [
        "mf_record[api]",
        "mf_record[www]",
    ]


def test_a_saved_plan_in_a_manifest_folder_is_not_a_manifest(tmp_path: Path) -> None:
    _write(tmp_path, {"m/a.yaml": GOOD_API})
    source = ManifestSource(tmp_path / "m")
    before = source.revision()
    plan = rc.Reconciler([MemoryProvider(Record)]).plan(source.load())
    (tmp_path / "m" / "plan.json").write_text(plan.to_json(indent=2))  # reconcile plan --out
    assert [r.name for r in source.load()] == ["api"]
    assert source.revision() == before  # so the saved plan is not stale by being saved
    (tmp_path / "m" / "other.json").write_text(json.dumps({"format_version": "1.0"}))
    with pytest.raises(ManifestError, match=r"other\.json"):
        source.load()  # only a plan is passed over, not any JSON with one of its keys


def test_revision_is_a_digest_of_the_files(tmp_path: Path) -> None:
    _write(tmp_path, {"m/a.yaml": GOOD_API, "m/README.md": "hi"})
    source = ManifestSource(tmp_path / "m")
    first = source.revision()
    assert first.startswith("sha256:")
    assert first == source.revision()
    (tmp_path / "m" / "README.md").write_text("ignored files do not count")
    assert source.revision() == first
    _write(tmp_path, {"elsewhere/a.yaml": GOOD_API})
    assert ManifestSource(tmp_path / "elsewhere").revision() == first  # location-independent
    (tmp_path / "m" / "a.yaml").write_text(GOOD_API + "# changed\n")
    assert source.revision() != first
    assert "ManifestSource(" in repr(source)


# -- property: what is written is what is read --------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=12)
_records = st.lists(
    st.builds(
        Record,
        name=st.text("abcdef", min_size=1, max_size=4),
        value=_text,
        ttl=st.integers(0, 2**31),
        tags=st.lists(_text, max_size=3),
        labels=st.dictionaries(
            st.sampled_from(["$ref", "field", "x"]) | st.text("xyz$", min_size=1, max_size=4),
            _text,
            max_size=3,
        ),
    ),
    unique_by=lambda r: r.name,
    max_size=5,
)


def _document(record: Record) -> dict[str, object]:
    spec = attrs.asdict(record, filter=lambda a, _: a.name not in ("depends_on", "lifecycle"))
    spec["labels"] = {("$$ref" if k == "$ref" else k): v for k, v in spec["labels"].items()}
    return {"kind": "mf_record", "spec": spec}


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=_records, form=st.sampled_from(["yaml", "json"]))
def test_written_records_load_back_equal(tmp_path: Path, records: list[Record], form: str) -> None:
    docs = [_document(r) for r in records]
    if form == "yaml":
        text = yaml.safe_dump_all(docs, allow_unicode=True) if docs else "# none\n"
    else:
        text = json.dumps(docs)
    path = tmp_path / f"records.{form}"
    path.write_text(text, encoding="utf-8")
    if not records:
        with pytest.raises(ManifestError, match="no documents"):
            load_manifests(path)
        return
    assert load_manifests(path) == records


# -- the real-world corpus (optional: skipped where it is absent) --------------------

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus"
APPS = CORPUS / "gitops" / "argocd-example-apps"
needs_corpus = pytest.mark.skipif(not APPS.is_dir(), reason=f"corpus not found at {CORPUS}")


def _corpus_files() -> list[Path]:
    folders = [APPS / "guestbook", APPS / "sock-shop" / "base"]
    return sorted(p for folder in folders if folder.is_dir() for p in folder.glob("*.yaml"))


@rc.resource("mf_k8s_object")
class KubeObject:
    api_version: str = rc.field(key=True)
    kind: str = rc.field(key=True)
    name: str = rc.field(key=True)
    body: dict[str, Any] = rc.field(factory=dict)


@needs_corpus
def test_corpus_yaml_parses_with_marks_as_indexed() -> None:
    from reconcile.sources._yaml import read_yaml

    index = {f["path"]: f for f in json.loads((APPS / "INDEX.json").read_text())["files"]}
    files = _corpus_files()
    assert len(files) >= 20
    for path in files:
        docs = list(read_yaml(str(path), path.read_text()))
        entry = index[path.relative_to(APPS).as_posix()]
        assert len(docs) == entry["yaml_documents_non_null"], path
        assert [d.data["kind"] for d in docs] == [o["kind"] for o in entry["objects"]]
        for doc in docs:
            assert doc.mark(("metadata", "name")) is not None


@needs_corpus
def test_corpus_kubernetes_files_are_rejected_with_every_problem_located() -> None:
    files = _corpus_files()
    with pytest.raises(ManifestError) as caught:
        load_manifests(*files)
    named = {Path(p.file) for p in caught.value.problems}
    assert named == set(files)  # each file has problems (not our format), each is named
    assert all(p.line is not None for p in caught.value.problems)


@needs_corpus
def test_corpus_objects_load_through_a_test_kind(tmp_path: Path) -> None:
    from reconcile.sources._yaml import read_yaml

    count = 0
    for i, path in enumerate(_corpus_files()):
        docs = [d.data for d in read_yaml(str(path), path.read_text())]
        wrapped = [
            {
                "kind": "mf_k8s_object",
                "spec": {
                    "api_version": d["apiVersion"],
                    "kind": d["kind"],
                    "name": d["metadata"]["name"],
                    "body": d,
                },
            }
            for d in docs
        ]
        (tmp_path / f"{i:02}-{path.name}").write_text(yaml.safe_dump_all(wrapped))
        count += len(docs)
    loaded = load_manifests(tmp_path)
    assert len(loaded) == count
    assert {type(r) for r in loaded} == {KubeObject}


def test_a_reference_in_a_validated_field_takes_the_referenced_value(tmp_path: Path) -> None:
    from reconcile.providers import File, local_providers

    text = (
        "kind: directory\nspec: {path: conf, mode: 0750}\n---\n"
        "kind: file\nspec:\n  path: conf/app.ini\n  content: 'x = 1'\n"
        "  mode: {$ref: 'directory[conf]', field: mode}\n"
    )
    loaded = load_manifests(*_write(tmp_path / "m", {"a.yaml": text}))
    (file,) = [r for r in loaded if isinstance(r, File)]
    assert file.mode == rc.ref("directory[conf]", "mode")
    root = tmp_path / "root"
    reconciler = rc.Reconciler(local_providers(root))
    assert reconciler.apply(reconciler.plan(loaded)).ok
    assert (root / "conf" / "app.ini").stat().st_mode & 0o7777 == 0o750


def test_a_mode_may_be_written_as_octal_text_in_every_yaml_spelling(tmp_path: Path) -> None:
    from reconcile.providers import Directory, File

    text = (
        "kind: directory\nspec: {path: a, mode: 0o750}\n---\n"  # YAML 1.1 reads this as text
        "kind: directory\nspec: {path: b, mode: '0700'}\n---\n"
        "kind: file\nspec: {path: a/x, content: x, mode: '640'}\n---\n"
        "kind: file\nspec: {path: b/y, content: y, mode: 0600}\n"  # a number, read as octal
    )
    loaded = {rc.address_of(r): r for r in load_manifests(*_write(tmp_path, {"m.yaml": text}))}
    assert loaded["directory[a]"] == Directory("a", mode=0o750)
    assert loaded["directory[b]"] == Directory("b", mode=0o700)
    assert loaded["file[a/x]"] == File("a/x", content="x", mode=0o640)
    assert loaded["file[b/y]"] == File("b/y", content="y", mode=0o600)
    assert all(type(r.mode) is int for r in loaded.values())


def _port_number(value: int | str) -> int | str:
    """A converter that says what it takes: manifests may write the port as text."""
    return int(value) if isinstance(value, str) and value.isdigit() else value


def _unannotated_number(value):  # type: ignore[no-untyped-def]
    return int(value) if isinstance(value, str) and value.isdigit() else value


@rc.resource("mf_listener")
class Listener:
    name: str = rc.field(key=True)
    port: int = rc.field(default=80, converter=_port_number)
    backlog: int = rc.field(default=10, converter=_unannotated_number)


def test_a_converter_s_annotation_widens_what_a_manifest_may_write(tmp_path: Path) -> None:
    text = "kind: mf_listener\nspec: {name: web, port: '8080'}\n"
    (made,) = load_manifests(*_write(tmp_path / "ok", {"m.yaml": text}))
    assert made == Listener("web", port=8080)

    err = _problems(tmp_path / "bool", {"m.yaml": "kind: mf_listener\nspec: {name: w, port: no}\n"})
    (problem,) = err.problems
    assert (problem.path, problem.line) == ("$.spec.port", 2)
    assert "expected int or str, got bool" in problem.message

    # Without an annotation the converter says nothing of what it takes: the type decides.
    text = "kind: mf_listener\nspec: {name: w, backlog: '20'}\n"
    (problem,) = _problems(tmp_path / "strict", {"m.yaml": text}).problems
    assert problem.path == "$.spec.backlog"
    assert "expected int, got str" in problem.message
