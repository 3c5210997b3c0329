"""The Time: line's clock: a process's own start, not its shell's when the shell exec'd it."""

import subprocess
import sys

import pytest

PRINT_CLOCK = ("import zoo.process_clock as c, time; time.sleep(0.5); "
               "print(c.seconds_since_process_start())")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_an_exec_from_a_shell_that_ran_for_seconds_is_not_counted():
    # `exec` keeps the shell's process, started 6 s before Python: the clock must not count them.
    shell = f"sleep 6; exec {sys.executable} -c '{PRINT_CLOCK}'"
    seconds = float(subprocess.run(["bash", "-c", shell], capture_output=True, text=True,
                                   check=True).stdout)
    assert 0.5 <= seconds < 5.5, seconds


def test_a_plain_process_counts_from_its_start():
    seconds = float(subprocess.run([sys.executable, "-c", PRINT_CLOCK], capture_output=True,
                                   text=True, check=True).stdout)
    assert 0.5 <= seconds < 5.5, seconds
