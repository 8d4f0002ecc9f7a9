import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REFERENCE = ROOT.parent / "shared" / "reference" / "mnist1d_data.pkl"
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def mnist1d():
    from core.data import load_mnist1d
    return load_mnist1d()


@pytest.fixture(autouse=True)
def _one_thread():
    # Tests compare numbers bit for bit; one intra-op thread also keeps parallel CI runs fair.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
