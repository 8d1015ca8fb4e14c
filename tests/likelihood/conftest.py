import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """These tests use tiny tensors, for which a second thread only adds contention."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
