"""The numerical platform record that every metrics file carries."""

import torch

from neuralode_repro.runtime import apply_threads, describe


def test_describe_records_what_decides_the_last_bits():
    rt = describe()
    assert set(rt) >= {"torch", "cpu", "capability", "blas", "threads", "env", "fingerprint"}
    assert rt["torch"] == torch.__version__ and rt["threads"] == torch.get_num_threads()
    assert describe()["fingerprint"] == rt["fingerprint"]  # a pure function of the platform
    # always recorded, cpu too: the report's memory prose and mnist_memory's summary read it
    assert rt["device"] == "cpu" and describe(torch.device("cpu"))["device"] == "cpu"


def test_apply_threads_pins_or_leaves_the_default():
    before = torch.get_num_threads()
    try:
        apply_threads(1)
        assert describe()["threads"] == 1
        apply_threads(None)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
