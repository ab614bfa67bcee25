"""Out of memory is a MemoryError that says what could not be allocated and how large
(issue 13 item 11), not a bare std::bad_alloc.

A child process caps its address space a little above what it already uses, then asks the
exact solver for K = 8191 taps: its K x K Gram matrix (8191^2 doubles = 512 MiB) cannot be
allocated, while the budget check (2 GiB) lets it through.
"""

import os
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent("""
    import resource, numpy as np, convgrad
    K = 8191
    x = np.random.default_rng(1).standard_normal(2 * K)
    status = open("/proc/self/status").read().split("VmSize:")[1]
    used = int(status.split()[0]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (used + (300 << 20), resource.RLIM_INFINITY))
    try:
        convgrad.fit(x, x, kernel_size=K)
    except MemoryError as e:
        print("MemoryError:", e)
""")


def test_out_of_memory_names_the_matrix_and_its_size():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, OMP_NUM_THREADS="1")).stdout
    assert out.startswith("MemoryError: exact solver: out of memory allocating the 8191 x 8191 matrix"), out
    assert "(512 MiB)" in out
