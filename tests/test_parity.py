"""Every registered kernel against its torch twin and against the recorded golden arrays."""


def test_parity(parity_case):
    parity_case.check()


def test_golden(golden_case):
    golden_case.check()
