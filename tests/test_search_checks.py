"""Storage URLs and output paths are checked before any training (issue 13, Medium 4); TPE's
random start is explicit and said (issue 12); the study access model (issue 13, Medium 5)."""

import socket

import optuna
import pytest

from core.cli import main
from core.cli.outputs import check_output_path, write_atomic
from core.search.access import StudyAccess, StudyAccessError
from core.search.storage import StorageError, check_storage_url, open_storage
from core.search.study import BASELINE, STARTUP_ATTR, SearchConfig, open_study


def _refused_port() -> int:
    with socket.socket() as s:   # bound, never listening: connections are refused
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BAD_STORAGES = [
    ("sqlite:///nonexistent/dir/x.db", "does not exist"),
    ("journal:///proc/x.log", "cannot write"),
    ("foo://host/db", "unsupported storage"),
    ("sqlite://", "in-memory"),
    ("sqlite:///:memory:", "in-memory"),
    ("/nonexistent/dir/studies.log", "does not exist"),
]


@pytest.mark.parametrize("url, message", BAD_STORAGES)
def test_bad_storage_urls_are_refused_before_anything_runs(url, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["search", "--method", BASELINE, "--trials", "1", "--epochs", "1",
              "--storage", url])
    captured = capsys.readouterr()
    assert exit_.value.code == 2 and message in captured.err
    assert "trial" not in captured.out   # nothing was trained


@pytest.mark.timeout(60)
def test_a_refused_postgresql_is_an_exit_2_with_a_message(capsys):
    url = f"postgresql://lab@127.0.0.1:{_refused_port()}/lab"
    with pytest.raises(SystemExit) as exit_:
        main(["search", "--method", BASELINE, "--trials", "1", "--epochs", "1",
              "--storage", url])
    captured = capsys.readouterr()
    assert exit_.value.code == 2 and "cannot open storage" in captured.err
    assert "Traceback" not in captured.err and "trial" not in captured.out


def test_a_worker_checks_its_storage_too(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["worker", "--storage", "sqlite://", "--study", "s", "--trials", "1"])
    assert exit_.value.code == 2 and "in-memory" in capsys.readouterr().err


def test_check_storage_url_accepts_what_optuna_tools_accept(tmp_path):
    for url in (f"sqlite:///{tmp_path / 'a.db'}", str(tmp_path / "b.log"),
                f"journal:///{tmp_path / 'c.log'}", "postgresql://u@localhost/db"):
        check_storage_url(url)
    with pytest.raises(StorageError):
        open_storage(str(tmp_path))   # a folder is not a journal file


def test_reproduce_checks_its_output_paths_before_the_run(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["reproduce", "wngd", "--quick", "--json", "/nonexistent/out.json"])
    captured = capsys.readouterr()
    assert exit_.value.code == 2 and "/nonexistent" in captured.err
    assert "==" not in captured.out   # no stage started


def test_outputs_are_written_atomically(tmp_path, monkeypatch):
    path = tmp_path / "out.json"
    write_atomic(str(path), "old")

    def crash(*args):
        raise OSError("disk gone")
    monkeypatch.setattr("core.cli.outputs.os.replace", crash)
    with pytest.raises(OSError):
        write_atomic(str(path), "new")
    # the old file is whole and no temporary file is left behind
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.json"]
    with pytest.raises(ValueError, match="folder"):
        check_output_path(str(tmp_path))


# ---- TPE's random start (issue 12) ---------------------------------------------------------

@pytest.mark.parametrize("trials, startup", [(1, 1), (10, 3), (20, 5), (40, 10), (400, 10)])
def test_startup_trials_default_scales_with_the_budget(trials, startup):
    config = SearchConfig(BASELINE, trials=trials)
    assert config.startup_trials == startup
    assert config.guided_trials == trials - startup


def test_startup_trials_reach_the_sampler_and_are_recorded_in_the_study():
    config = SearchConfig(BASELINE, trials=12, startup_trials=4)
    study = open_study(config, optuna.storages.InMemoryStorage(), "s")
    assert study.sampler._n_startup_trials == 4
    assert study.user_attrs[STARTUP_ATTR] == 4
    with pytest.raises(ValueError, match="startup_trials"):
        SearchConfig(BASELINE, startup_trials=0)


@pytest.mark.timeout(120)
def test_the_cli_says_when_a_search_is_effectively_random(capsys):
    assert main(["search", "--method", BASELINE, "--trials", "2", "--epochs", "1",
                 "--startup-trials", "5", "--device", "cpu", "--parallel", "1"]) == 0
    assert "effectively random search" in capsys.readouterr().out


# ---- who may touch which study (issue 13, Medium 5) --------------------------------------------

def test_visitors_write_only_to_their_own_or_shared_writable_studies():
    access = StudyAccess.from_text("demo, open:writable")
    access.check_write("mine", owned={"mine"}, exists=True)
    access.check_write("new", owned=set(), exists=False)      # creating claims it
    access.check_write("open", owned=set(), exists=True)
    with pytest.raises(StudyAccessError, match="someone else"):
        access.check_write("theirs", owned={"mine"}, exists=True)
    with pytest.raises(StudyAccessError, match="read-only"):
        access.check_write("demo", owned=set(), exists=True)
    assert access.watchable({"mine"}) == ["mine", "demo", "open"]
    with pytest.raises(ValueError, match="bad entry"):
        StudyAccess.from_text("x:rw")


def test_a_browser_writes_to_the_studies_it_marked_after_a_reload_too():
    access = StudyAccess.from_text("")
    access.check_write("old", owned=set(), exists=True, owner="key-a", stored_owner="key-a")
    for owner, stored in (("key-b", "key-a"), (None, None), ("key-a", None)):
        with pytest.raises(StudyAccessError, match="someone else"):
            access.check_write("old", owned=set(), exists=True, owner=owner,
                               stored_owner=stored)


@pytest.mark.parametrize("name", ["", "  "])
def test_an_empty_study_name_is_refused_everywhere(name, capsys):
    # Issue 20, High 3: "" fell back to the default study after a check made on "".
    from core.search.duel import run_duel
    from core.search.study import run_search
    config = SearchConfig("wngd", trials=1, epochs=1)
    with pytest.raises(ValueError, match="study name is empty"):
        next(run_search(config, study_name=name))
    with pytest.raises(ValueError, match="study name is empty"):
        next(run_duel(config, study_prefix=name))
    with pytest.raises(StudyAccessError, match="study name is empty"):
        StudyAccess.from_text("").check_write(name, owned={name}, exists=False)
    with pytest.raises(SystemExit) as exit_:
        main(["search", "--method", BASELINE, "--study", name, "--trials", "1"])
    assert exit_.value.code == 2 and "study name is empty" in capsys.readouterr().err


def test_an_atomically_written_result_gets_the_umask_mode_not_a_private_one(tmp_path):
    import os
    import stat
    path = tmp_path / "out.json"
    umask = os.umask(0o022)
    try:
        write_atomic(str(path), "{}")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
