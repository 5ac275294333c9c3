"""A data folder that cannot be written (a read-only mount; a full disk acts alike for writes): the history can
still be browsed, every change says plainly why it cannot happen, and no message shows the server's paths
(issue 32, 13). The folder is made read-only for real with a read-only bind mount (root, as in CI)."""

import subprocess

import pytest
from apptest import no_exception, open_app

from core import StorageError, Store
from core.generation.stages import PROGRESS_STAGES  # noqa: F401  (core imported whole, as the pages do)


@pytest.fixture
def read_only_data(tmp_path, make_generation, store, data_dir, monkeypatch):
    """The data folder with two generations, then mounted read-only where the app looks for it."""
    made = [make_generation(f"a fox number {i}", seed=i) for i in range(2)]
    store.close()
    mounted = tmp_path / "read-only-data"
    mounted.mkdir()
    if subprocess.run(["mount", "--bind", str(data_dir), str(mounted)], capture_output=True).returncode:
        pytest.skip("a read-only bind mount needs root (CI runs as root)")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(mounted)], check=True, capture_output=True)
        monkeypatch.setenv("V2I_DATA_DIR", str(mounted))
        yield mounted, made
    finally:
        from core import stop_workers

        stop_workers()
        subprocess.run(["umount", "-l", str(mounted)], capture_output=True)


def test_a_read_only_store_reads_and_refuses_writes_without_paths(read_only_data):
    mounted, made = read_only_data
    store = Store(mounted)
    assert store.read_only and store.count_generations() == 2
    with pytest.raises(StorageError) as refused:
        store.delete_generation(made[0]["id"])
    assert "data folder is read-only" in str(refused.value) and str(mounted) not in str(refused.value)
    assert store.count_generations() == 2


def test_every_page_still_opens_on_a_read_only_data_folder(app_env, read_only_data):
    mounted, made = read_only_data
    at = open_app()
    assert not at.error, [e.value for e in at.error]
    for page in ("pages/history.py", "pages/overview.py", "pages/generate.py"):
        no_exception(at.switch_page(page).run())
        assert not [e.value for e in at.error if "cannot do that" in e.value], page
        assert not any(str(mounted) in e.value for e in at.error)
    at.switch_page("pages/history.py").run()
    assert "2 generations match" in " ".join(c.value for c in at.caption)
