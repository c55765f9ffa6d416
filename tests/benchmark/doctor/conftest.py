import pytest
import torch


@pytest.fixture
def one_thread():
    """Torch on one thread for the test: timing-free checks, but on a shared 2-core machine
    two-thread kernels spend most of their time waiting for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
