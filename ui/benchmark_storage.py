"""A benchmark in the server's study storage (when its operator configured one): each cell a
study of this visitor's, so a rerun of the same settings resumes, and each cell opens on the
Search page's study watcher.

The benchmark's name carries the visitor's tag (ui.studies.visitor_study_name), so nobody
writes to another visitor's cells; every study is checked and marked before anything trains,
as the Search page does with its own.
"""

from __future__ import annotations

from urllib.parse import urlencode

import optuna

from core.benchmark import BenchmarkConfig, benchmark_name, cell_study_name
from core.search.access import StudyAccessError
from core.search.storage import StorageError, open_storage
from core.search.study import open_study
from ui.studies import (mark_owner, owned_studies, owner_key, storage_failed, storage_url,
                        stored_owner, study_access, visitor_study_name)


def benchmark_storage() -> str | None:
    """The server's storage URL (configuration only, never a browser field), or None."""
    return storage_url()


def visitor_benchmark_name(config: BenchmarkConfig) -> str:
    return visitor_study_name(benchmark_name(config))


def claim(config: BenchmarkConfig, url: str, name: str) -> str | None:
    """Check this visitor may write to the benchmark's studies, create (and mark) them; None
    when they may, else why not, in words that name no host or driver."""
    cells = [(config.search_config(e, w), cell_study_name(config, e, w, name))
             for e, w in config.cells()]
    names = [name] + [n for _, n in cells]
    try:
        storage = open_storage(url)
        existing = set(optuna.get_all_study_names(storage))
        for n in names:
            study_access().check_write(n, owned_studies(), n in existing, owner=owner_key(),
                                       stored_owner=stored_owner(storage, n)
                                       if n in existing else None)
        made = [] if name in existing else [
            optuna.create_study(storage=storage, study_name=name, load_if_exists=True)]
        for search, n in cells:
            study = open_study(search, storage, n)   # refuses a study made for other settings
            if n not in existing:
                made.append(study)
        for study in made:
            mark_owner(study)
    except StudyAccessError as error:
        return str(error)
    except Exception as error:   # the visitor sees no host, port or driver
        ours = isinstance(error, ValueError) and not isinstance(error, StorageError)
        return str(error) if ours else storage_failed("opening the benchmark's studies")
    owned_studies().update(names)
    return None


def watch_link(study: str) -> str:
    """The Search page watching a cell's study (it shows only studies the visitor may watch)."""
    return "search?" + urlencode({"watch": study})
