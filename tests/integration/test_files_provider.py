"""The local file providers on real directories: converge, drift, escapes, atomicity, memory."""

from __future__ import annotations

import os
import stat
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reconcile as rc
from reconcile.providers import (
    Directories,
    Directory,
    File,
    Files,
    PathEscapeError,
    Symlink,
    Symlinks,
    _root,
    local_providers,
)
from reconcile.testing import CountingProvider, ProviderConformance

MiB = 1024 * 1024


def _counting(root: Path) -> tuple[rc.Reconciler, list[CountingProvider[Any]]]:
    providers = [CountingProvider(p) for p in local_providers(root)]
    return rc.Reconciler(providers), providers


def _writes(providers: list[CountingProvider[Any]]) -> int:
    return sum(p.writes for p in providers)


def _snapshot(*folders: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry under ``folders``: type, mode, inode, mtime and (for files) bytes."""
    seen: dict[str, tuple[Any, ...]] = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            st_ = path.lstat()
            body = path.read_bytes() if stat.S_ISREG(st_.st_mode) else None
            link = os.readlink(path) if path.is_symlink() else None
            seen[str(path)] = (st_.st_mode, st_.st_ino, st_.st_mtime_ns, body, link)
    return seen


def _site() -> list[Any]:
    return [
        Directory("site", mode=0o750),
        File("site/index.html", content="<h1>hello</h1>\n"),
        File("etc/app.conf", content="port = 8080\n", mode=0o600),  # parent made as needed
        Symlink("current", target="site"),
    ]


def test_converge_creates_the_tree(tmp_path: Path) -> None:
    report = rc.Reconciler(local_providers(tmp_path)).converge(_site())
    assert report.converged
    assert (tmp_path / "site" / "index.html").read_text() == "<h1>hello</h1>\n"
    assert stat.S_IMODE((tmp_path / "site").stat().st_mode) == 0o750
    assert stat.S_IMODE((tmp_path / "etc" / "app.conf").stat().st_mode) == 0o600
    assert os.readlink(tmp_path / "current") == "site"


def test_a_second_converge_makes_no_writes(tmp_path: Path) -> None:
    reconciler, providers = _counting(tmp_path)
    reconciler.converge(_site())
    before = _snapshot(tmp_path)
    for p in providers:
        p.reset_calls()
    report = reconciler.converge(_site())
    assert report.converged
    assert len(report.rounds) == 1
    assert _writes(providers) == 0
    assert _snapshot(tmp_path) == before  # same inodes, same mtimes: nothing rewritten


def test_content_drift_is_detected_and_healed(tmp_path: Path) -> None:
    reconciler = rc.Reconciler(local_providers(tmp_path))
    reconciler.converge(_site())
    (tmp_path / "site" / "index.html").write_text("defaced\n")
    plan = reconciler.plan(_site())
    (step,) = plan.changes
    assert step.address == "file[site/index.html]"
    assert plan.render().count("defaced") == 1  # the actual text of a small file is shown
    assert reconciler.converge(_site()).converged
    assert (tmp_path / "site" / "index.html").read_text() == "<h1>hello</h1>\n"


def test_mode_drift_is_healed_by_chmod_without_rewriting(tmp_path: Path) -> None:
    reconciler = rc.Reconciler(local_providers(tmp_path))
    reconciler.converge(_site())
    conf = tmp_path / "etc" / "app.conf"
    conf.chmod(0o666)
    (tmp_path / "site").chmod(0o777)
    inode, mtime = conf.stat().st_ino, conf.stat().st_mtime_ns
    plan = reconciler.plan(_site())
    assert {s.address for s in plan.changes} == {"file[etc/app.conf]", "directory[site]"}
    assert '"0o666" -> "0o600"' in plan.render()
    assert reconciler.apply(plan).ok
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    assert (conf.stat().st_ino, conf.stat().st_mtime_ns) == (inode, mtime)
    assert stat.S_IMODE((tmp_path / "site").stat().st_mode) == 0o750


def test_deletions_are_detected_and_healed(tmp_path: Path) -> None:
    reconciler = rc.Reconciler(local_providers(tmp_path))
    reconciler.converge(_site())
    (tmp_path / "current").unlink()
    (tmp_path / "etc" / "app.conf").unlink()
    (tmp_path / "etc").rmdir()
    plan = reconciler.plan(_site())
    assert {s.address for s in plan.changes} == {"symlink[current]", "file[etc/app.conf]"}
    assert all(s.action is rc.Action.CREATE for s in plan.changes)
    assert reconciler.converge(_site()).converged
    assert reconciler.plan(_site()).is_empty


def test_a_link_pointing_elsewhere_is_replaced(tmp_path: Path) -> None:
    reconciler = rc.Reconciler(local_providers(tmp_path))
    reconciler.converge(_site())
    (tmp_path / "current").unlink()
    (tmp_path / "current").symlink_to("etc")
    assert [s.action for s in reconciler.plan(_site()).changes] == [rc.Action.UPDATE]
    assert reconciler.converge(_site()).converged
    assert os.readlink(tmp_path / "current") == "site"


# -- confinement -------------------------------------------------------------------


def _escapes(root: Path, outside: Path) -> list[tuple[Any, str]]:
    (root / "out").symlink_to(outside)
    return [
        (File("../x", content="no"), "contains '..'"),
        (File("a/../../x", content="no"), "contains '..'"),
        (File(str(outside / "x"), content="no"), "is absolute and outside the root"),
        (File("out/x", content="no"), "goes through a symlink"),
        (Directory("out/d"), "goes through a symlink"),
        (Symlink("l", target="../outside"), "resolves outside the root"),
        (Symlink("out/l", target="x"), "goes through a symlink"),
    ]


def test_path_escapes_are_rejected_at_plan_time_and_nothing_changes(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    cases = _escapes(root, outside)
    reconciler = rc.Reconciler(local_providers(root))
    before = _snapshot(tmp_path)
    for res, why in cases:
        with pytest.raises(PathEscapeError) as caught:
            reconciler.plan([File("fine.txt", content="ok"), res])
        cause = caught.value
        assert why in str(cause)
        assert rc.address_of(res) in str(cause)
        assert repr(res.path) in str(cause)
    assert _snapshot(tmp_path) == before


def test_writes_check_confinement_again(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    files = Files(root)
    with pytest.raises(PathEscapeError):
        files.create(File("../outside/x", content="no"))
    (root / "out").symlink_to(outside)
    with pytest.raises(PathEscapeError):
        files.create(File("out/x", content="no"))
    assert list(outside.iterdir()) == []


def test_links_on_the_way_are_followed_only_while_they_stay_inside(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "real" / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "rel").symlink_to("real/sub")
    (root / "abs").symlink_to(root / "real")
    (root / "real" / "up").symlink_to("../real/sub/..")  # '..' of a real folder, inside
    (root / "real" / "out").symlink_to("../../outside")
    (root / "loop").symlink_to("loop")
    files = Files(root)
    for path in ("rel/a.txt", "abs/b.txt", "real/up/c.txt"):
        files.create(File(path, content=path))
    assert (root / "real" / "sub" / "a.txt").read_text() == "rel/a.txt"
    assert (root / "real" / "b.txt").read_text() == "abs/b.txt"
    assert (root / "real" / "c.txt").read_text() == "real/up/c.txt"
    with pytest.raises(PathEscapeError, match="goes through a symlink"):
        files.create(File("real/out/x", content="no"))
    with pytest.raises(OSError, match="loop of links"):
        files.create(File("loop/x", content="no"))
    assert list(outside.iterdir()) == []


def test_absolute_paths_inside_the_root_are_accepted(tmp_path: Path) -> None:
    reconciler = rc.Reconciler(local_providers(tmp_path))
    desired = [File(str(tmp_path / "abs.txt"), content="a")]
    assert reconciler.converge(desired).converged
    assert (tmp_path / "abs.txt").read_text() == "a"


def test_the_root_itself_is_not_a_resource(tmp_path: Path) -> None:
    with pytest.raises(rc.InvalidStateError, match="names the root itself"):
        Directories(tmp_path).read(Directory("."))


# -- type mismatches, deletes, list --------------------------------------------------


def test_an_entry_of_another_type_is_an_error_not_replaced(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "current").write_text("a file where a link is wanted")
    before = _snapshot(tmp_path)
    reconciler = rc.Reconciler(local_providers(tmp_path))
    with pytest.raises(rc.ObserveError, match="site is a directory, not a regular file"):
        reconciler.plan([File("site", content="x")])
    with pytest.raises(rc.ObserveError, match="current is a regular file, not a symlink"):
        reconciler.plan([Symlink("current", target="site")])
    assert _snapshot(tmp_path) == before


def test_delete_of_what_is_gone_does_nothing(tmp_path: Path) -> None:
    Files(tmp_path).delete(File("nope", content=""))
    Directories(tmp_path).delete(Directory("nope"))
    Symlinks(tmp_path).delete(Symlink("nope", target="x"))


def test_only_empty_directories_are_removed(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "keep").write_text("precious")
    with pytest.raises(OSError, match="not empty"):
        Directories(tmp_path).delete(Directory("d"))
    assert (tmp_path / "d" / "keep").read_text() == "precious"


def _killed_writes(folder: Path) -> list[Path]:
    """What a write killed before its rename leaves: a temporary file, and a link's."""
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / ".page.html.0a1b2c3d.tmp"
    file.write_text("half")
    link = folder / ".current.99aabbcc.tmp"
    link.symlink_to("elsewhere")
    return [file, link]


def test_a_killed_write_leaves_no_orphan_and_does_not_block_removing_its_folder(
    tmp_path: Path,
) -> None:
    state = rc.MemoryState()
    reconciler = rc.Reconciler(local_providers(tmp_path), state=state)
    assert reconciler.converge([Directory("d"), File("d/page.html", content="x")]).converged
    leftovers = _killed_writes(tmp_path / "d")
    files, dirs, links = (list(p.list()) for p in local_providers(tmp_path))
    assert [f.path for f in files] == ["d/page.html"]  # not the temporaries
    assert [d.path for d in dirs] == ["d"]
    assert links == []
    assert reconciler.converge([]).converged  # prunes the file, then the folder
    assert not (tmp_path / "d").exists()
    assert not any(p.is_symlink() or p.exists() for p in leftovers)


def test_only_our_temporaries_are_removed_with_a_folder(tmp_path: Path) -> None:
    _killed_writes(tmp_path / "d")
    for name in (".notes.tmp", ".page.html.0A1B2C3D.tmp", "page.html.0a1b2c3d.tmp"):
        (tmp_path / "d" / name).write_text("someone else's")
        with pytest.raises(OSError, match="not empty"):
            Directories(tmp_path).delete(Directory("d"))
        assert (tmp_path / "d" / name).read_text() == "someone else's"
        (tmp_path / "d" / name).unlink()
    Directories(tmp_path).delete(Directory("d"))
    assert not (tmp_path / "d").exists()


def test_list_walks_the_root(tmp_path: Path) -> None:
    rc.Reconciler(local_providers(tmp_path)).converge(_site())
    files, dirs, links = (list(p.list()) for p in local_providers(tmp_path))
    assert [(f.path, f.content, f.mode) for f in files] == [
        ("etc/app.conf", "port = 8080\n", 0o600),
        ("site/index.html", "<h1>hello</h1>\n", 0o644),
    ]
    assert [d.path for d in dirs] == ["etc", "site"]
    assert links == [Symlink("current", target="site")]


def test_a_file_copied_from_a_source(tmp_path: Path) -> None:
    source = tmp_path / "template.txt"
    source.write_bytes(b"\x00binary\xff")
    root = tmp_path / "root"
    reconciler = rc.Reconciler(local_providers(root))
    desired = [File("copy.bin", source=str(source))]
    assert reconciler.converge(desired).converged
    assert (root / "copy.bin").read_bytes() == b"\x00binary\xff"
    source.write_bytes(b"changed")
    plan = reconciler.plan(desired)
    assert "(8 bytes, sha256" in plan.render()  # what is there now, summarised
    assert reconciler.converge(desired).converged
    assert (root / "copy.bin").read_bytes() == b"changed"


def test_a_missing_source_fails_the_plan(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("exists")
    with pytest.raises(rc.ObserveError, match="is not a file"):
        rc.Reconciler(local_providers(tmp_path)).plan([File("x", source=str(tmp_path / "no"))])


def test_content_and_source_are_exclusive() -> None:
    with pytest.raises(rc.InvalidStateError, match="exactly one of content"):
        File("x")
    with pytest.raises(rc.InvalidStateError, match="exactly one of content"):
        File("x", content="a", source="b")
    with pytest.raises(rc.InvalidStateError, match="not a file mode"):
        File("x", content="a", mode=0o10000)


# -- atomicity and memory -------------------------------------------------------------


def _temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def test_atomic_writes_leave_no_temp_files(tmp_path: Path) -> None:
    reconciler = rc.Reconciler(local_providers(tmp_path))
    reconciler.converge(_site())
    (tmp_path / "site" / "index.html").write_text("drift")
    (tmp_path / "current").unlink()
    (tmp_path / "current").symlink_to("etc")
    reconciler.converge(_site())
    assert _temp_files(tmp_path) == []


@pytest.mark.parametrize("durable", [True, False], ids=["durable", "not-durable"])
def test_a_failed_write_leaves_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durable: bool
) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")

    def broken(src: str, dst: str, **dir_fds: int) -> None:
        raise OSError("disk on fire")

    files = Files(tmp_path, durable=durable)
    want = File("a.txt", content="new")
    have = files.read(want)
    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk on fire"):
        files.update(have, want, rc.diff(want, have))
    assert target.read_text() == "old"
    assert _temp_files(tmp_path) == []


# -- durability: fsynced by default, atomic either way -----------------------------------


def _spy_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every path the providers fsync from now on (file descriptors traced back to paths)."""
    opened: dict[int, str] = {}
    synced: list[Path] = []
    real_open, real_fsync = os.open, os.fsync

    def spy_open(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        fd = real_open(path, flags, mode, **kwargs)
        folder = kwargs.get("dir_fd")  # a name in a folder opened before
        opened[fd] = os.path.join(opened[folder], path) if folder is not None else os.fspath(path)
        return fd

    real_openat2 = _root.openat2_beneath

    def spy_openat2(dir_fd: int, rel: str) -> int:  # a parent folder opened in one call
        fd = real_openat2(dir_fd, rel)
        opened[fd] = os.path.join(opened[dir_fd], rel)
        return fd

    def spy_fsync(fd: int) -> None:
        synced.append(Path(opened.get(fd, "?")))
        real_fsync(fd)

    monkeypatch.setattr(os, "open", spy_open)
    monkeypatch.setattr(os, "fsync", spy_fsync)
    monkeypatch.setattr(_root, "openat2_beneath", spy_openat2)
    return synced


def _contents(root: Path) -> dict[str, tuple[Any, ...]]:
    """Type, mode, bytes and link target of every entry: what a write should produce."""
    return {k: (v[0], v[3], v[4]) for k, v in _snapshot(root).items()}


def _relative(seen: dict[str, tuple[Any, ...]], root: Path) -> dict[str, tuple[Any, ...]]:
    return {str(Path(k).relative_to(root)): v for k, v in seen.items()}


def test_writes_are_durable_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path.resolve()
    synced = _spy_fsyncs(monkeypatch)
    assert rc.Reconciler(local_providers(root)).converge([File("a/b.txt", content="x")]).converged
    assert any(p.parent == root / "a" and p.name.startswith(".b.txt.") for p in synced)
    assert root / "a" in synced  # the rename into place
    assert root in synced  # the folder a/ that was made for it
    synced.clear()
    (root / "a" / "b.txt").chmod(0o600)
    assert rc.Reconciler(local_providers(root)).converge([File("a/b.txt", content="x")]).converged
    assert root / "a" / "b.txt" in synced  # a mode change alone is synced too


def test_durable_false_writes_the_same_tree_atomically_without_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    durable, fast = tmp_path / "durable", tmp_path / "fast"
    rc.Reconciler(local_providers(durable)).converge(_site())
    synced = _spy_fsyncs(monkeypatch)
    reconciler = rc.Reconciler(local_providers(fast, durable=False), state=rc.MemoryState())
    assert reconciler.converge(_site()).converged
    assert _relative(_contents(fast), fast) == _relative(_contents(durable), durable)
    (fast / "site" / "index.html").write_text("drift")
    (fast / "etc" / "app.conf").chmod(0o644)
    (fast / "current").unlink()
    assert reconciler.converge(_site()).converged
    assert reconciler.converge([]).converged  # and deletes what it made
    assert synced == []
    assert [p.name for p in fast.iterdir()] == ["etc"]  # made as a parent, never declared


def test_local_providers_pass_durable_to_all_three(tmp_path: Path) -> None:
    fast = local_providers(tmp_path, durable=False)
    assert [repr(p) for p in fast] == [
        f"{name}({str(tmp_path)!r}, durable=False)" for name in ("Files", "Directories", "Symlinks")
    ]
    assert repr(Files(tmp_path)) == f"Files({str(tmp_path)!r})"


def _peak_while(action: Any) -> int:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_large_file_is_compared_by_streaming(tmp_path: Path) -> None:
    size = 20 * MiB
    source = tmp_path / "big.src"
    with source.open("wb") as out:
        for i in range(size // MiB):
            out.write(bytes([i]) * MiB)
    content = "x" * size  # made before tracing: only what reading allocates is measured
    root = tmp_path / "root"
    reconciler = rc.Reconciler(local_providers(root))
    desired = [File("copy.bin", source=str(source)), File("text.txt", content=content)]
    assert reconciler.converge(desired).converged
    files = Files(root)
    assert _peak_while(lambda: files.read(desired[0])) < size / 8
    assert _peak_while(lambda: files.read(desired[1])) < size / 8
    assert _peak_while(lambda: reconciler.plan(desired)) < size / 8
    with (root / "text.txt").open("r+b") as f:  # one byte differs: shown as a summary
        f.seek(size // 2)
        f.write(b"y")
    have = files.read(desired[1])
    assert have is not None
    assert have.content == f"({size} bytes, sha256 {have.sha256[:16]})"
    assert _peak_while(lambda: files.read(desired[1])) < size / 8


# -- property: random trees converge, and converging again writes nothing ------------

_names = st.sampled_from(["a", "b", "c"])
_files = st.tuples(
    st.just("file"), st.text(max_size=20), st.sampled_from([0o400, 0o600, 0o644, 0o755])
)
_links = st.tuples(st.just("link"), st.sampled_from(["a", "b", "c", "nowhere", "a/b"]))
_trees = st.recursive(
    _files | _links,
    lambda kids: st.tuples(
        st.just("dir"),
        st.sampled_from([0o700, 0o750, 0o755, 0o777]),
        st.dictionaries(_names, kids, max_size=3),
    ),
    max_leaves=8,
)


def _flatten(tree: dict[str, Any], prefix: str = "") -> list[Any]:
    found: list[Any] = []
    for name, node in tree.items():
        path = prefix + name
        if node[0] == "file":
            found.append(File(path, content=node[1], mode=node[2]))
        elif node[0] == "link":
            found.append(Symlink(path, target=node[1]))
        else:
            found.append(Directory(path, mode=node[1]))
            found += _flatten(node[2], path + "/")
    return found


def _assert_on_disk(root: Path, desired: list[Any]) -> None:
    for res in desired:
        path = root / res.path
        st_ = path.lstat()
        if isinstance(res, File):
            assert path.read_bytes() == (res.content or "").encode()
            assert stat.S_IMODE(st_.st_mode) == res.mode
        elif isinstance(res, Directory):
            assert stat.S_ISDIR(st_.st_mode)
            assert stat.S_IMODE(st_.st_mode) == res.mode
        else:
            assert os.readlink(path) == res.target


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(tree=st.dictionaries(_names, _trees, max_size=3), data=st.data())
def test_random_trees_converge_and_stay_converged(tree: dict[str, Any], data: Any) -> None:
    desired = _flatten(tree)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        reconciler, providers = _counting(root)
        assert reconciler.converge(desired).converged
        _assert_on_disk(root, desired)
        for p in providers:
            p.reset_calls()
        assert reconciler.converge(desired).converged
        assert _writes(providers) == 0
        _drift(root, desired, data)
        assert reconciler.converge(desired).converged
        _assert_on_disk(root, desired)


def _drift(root: Path, desired: list[Any], data: Any) -> None:
    """Change some files' bytes or modes behind the engine's back."""
    for res in desired:
        if isinstance(res, File) and data.draw(st.booleans(), label=f"drift {res.path}"):
            path = root / res.path
            path.chmod(0o600)
            path.write_text("drift")
            path.chmod(data.draw(st.sampled_from([0o600, 0o640])))


# -- the provider conformance suite, on disk --------------------------------------------

# paths that never put one entry inside another (a file under a file is the user's conflict)
_paths = st.sampled_from(["a", "b/x", "c/d/y", "c/z"])


class _LocalConformance(ProviderConformance):
    # no field of these kinds is flagged replace or sensitive: nothing for those to probe
    test_replace_field_change_plans_replace_and_converges = None  # type: ignore[assignment]
    test_sensitive_values_never_leak = None  # type: ignore[assignment]


class TestFilesConformance(_LocalConformance):
    def make_provider(self) -> Files:
        return Files(self.fresh_directory())

    def resources(self) -> st.SearchStrategy[File]:
        return st.builds(
            File,
            path=_paths,
            content=st.text(max_size=30),
            mode=st.sampled_from([0o600, 0o644, 0o755]),
        )


class TestDirectoriesConformance(_LocalConformance):
    def make_provider(self) -> Directories:
        return Directories(self.fresh_directory())

    def resources(self) -> st.SearchStrategy[Directory]:
        # one level only: a nested directory makes its parents, which list() rightly reports
        return st.builds(
            Directory, path=st.sampled_from("abcd"), mode=st.sampled_from([0o700, 0o755])
        )


class TestSymlinksConformance(_LocalConformance):
    def make_provider(self) -> Symlinks:
        return Symlinks(self.fresh_directory())

    def resources(self) -> st.SearchStrategy[Symlink]:
        return st.builds(Symlink, path=_paths, target=st.sampled_from(["x", "a", "b/c", "."]))
