"""reconcile.toml's [state] and [source] tables: a wrong shape or key is named, file first."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconcile._cli._config import ConfigError, load_config


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('state = "db"\n', "[state] must be a table"),
        ('[state]\npath = "s.db"\npaht = "x"\n', "[state] has unknown keys ['paht']"),
        ('source = "kube"\n', "[source] must be a table"),
        ('[source]\nformat = "kube"\nnamspace = "x"\n', "[source] has unknown keys ['namspace']"),
    ],
)
def test_a_bad_table_is_named_with_its_file(tmp_path: Path, toml: str, message: str) -> None:
    config = tmp_path / "reconcile.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError) as raised:
        load_config([tmp_path])
    assert str(raised.value).startswith(str(config))
    assert message in str(raised.value)


def test_good_tables_are_read(tmp_path: Path) -> None:
    (tmp_path / "reconcile.toml").write_text(
        '[state]\npath = "s.db"\n\n[source]\nformat = "kube"\nnamespace = "web"\n'
    )
    config = load_config([tmp_path])
    assert config.state == tmp_path.resolve() / "s.db"
    assert (config.source_format, config.namespace) == ("kube", "web")
