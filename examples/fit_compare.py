"""Fit a filter two ways and compare: the exact least-squares solution and gradient descent.

Data: P recordings (x_p, y_p) with y_p = h_true * x_p + noise, so the best filter is the
least-squares one, not h_true. The inputs are coloured (white noise through a one-pole
low-pass), which makes X^T X ill-conditioned enough that gradient descent needs a few
hundred steps where the exact solve needs one. The objective is

    F(h) = sum_p 1/2 || X_p h - y_p ||^2,      dF/dh = sum_p grad_kernel(x_p, r_p)

with X_p the N x K design matrix of the 'same' model (convgrad.jacobians returns it as
dyhat/dh). Three routes to the minimiser:

1. convgrad.fit(pairs, kernel_size=K, solver="exact") -- the normal equations, solved by the
   library (and, for comparison, the library's own solver="gd");
2. numpy.linalg.lstsq on the stacked design matrices -- an independent oracle;
3. plain gradient descent, h <- h - dF/dh / lambda_max, every gradient from
   convgrad.loss_and_grad; lambda_max = ||X||_2^2 is the largest eigenvalue of X^T X, so
   the step is the largest one that never increases F on this quadratic.

Run:  PYTHONPATH=build/python /usr/bin/python3 examples/fit_compare.py   (well under a second;
      or .venv/bin/python after `make install-python`)
Exit status 0 when gradient descent (and the exact fit) agree with lstsq to 1e-8 relative.
"""

import sys

import numpy as np

import convgrad


def main():
    rng = np.random.default_rng(0)
    P, N, K = 4, 400, 7
    h_true = np.array([0.1, -0.3, 0.8, 1.0, 0.5, -0.2, 0.05])
    pairs = []
    for _ in range(P):
        w = rng.standard_normal(N)
        x = np.empty(N)
        x[0] = w[0]
        for n in range(1, N):  # x[n] = 0.7 x[n-1] + w[n]
            x[n] = 0.7 * x[n - 1] + w[n]
        y = convgrad.conv(x, h_true) + 0.05 * rng.standard_normal(N)
        pairs.append((x, y))

    # The oracle: least squares on the stacked design matrices X_p (N x K each).
    X = np.vstack([convgrad.jacobians(x, y, np.zeros(K))[1] for x, y in pairs])
    Y = np.concatenate([y for _, y in pairs])
    h_lstsq = np.linalg.lstsq(X, Y, rcond=None)[0]
    print("lstsq (numpy, design matrix):", np.array2string(h_lstsq, precision=6))

    ok = True
    if hasattr(convgrad, "fit"):
        exact = convgrad.fit(pairs, kernel_size=K, solver="exact")
        err = np.linalg.norm(exact.h - h_lstsq) / np.linalg.norm(h_lstsq)
        print("fit(solver='exact')         :", np.array2string(exact.h, precision=6))
        print(f"  exact vs lstsq: relative difference {err:.2e}")
        ok &= err < 1e-8
        lib_gd = convgrad.fit(pairs, kernel_size=K, solver="gd")
        err = np.linalg.norm(lib_gd.h - h_lstsq) / np.linalg.norm(h_lstsq)
        print(f"fit(solver='gd'): {lib_gd.iterations} iterations, {lib_gd.stop_reason}")
        print(f"  library gd vs lstsq: relative difference {err:.2e}")
    else:
        print("convgrad.fit is not in this build; comparing gradient descent with lstsq only")

    # Gradient descent with every gradient from convgrad.loss_and_grad.
    lambda_max = np.linalg.norm(X, 2) ** 2
    h = np.zeros(K)
    g0 = None
    for it in range(1, 2001):
        F, g = 0.0, np.zeros(K)
        for x, y in pairs:
            loss, dh = convgrad.loss_and_grad(x, y, h)
            F += loss
            g += dh
        g0 = np.linalg.norm(g) if g0 is None else g0
        if it == 1 or it % 50 == 0:
            print(f"  gd iteration {it:4d}  F {F:.10e}  |dF/dh| {np.linalg.norm(g):.3e}")
        if np.linalg.norm(g) <= 1e-12 * g0:
            break
        h = h - g / lambda_max
    err = np.linalg.norm(h - h_lstsq) / np.linalg.norm(h_lstsq)
    print(f"gradient descent ({it} iterations):", np.array2string(h, precision=6))
    print(f"  gd vs lstsq: relative difference {err:.2e}")
    print(f"  distance of the least-squares filter from h_true (the noise): "
          f"{np.linalg.norm(h_lstsq - h_true) / np.linalg.norm(h_true):.2e}")
    ok &= err < 1e-8
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
