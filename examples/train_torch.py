"""Recover a known filter by training convgrad's ConvSame layer with a PyTorch optimiser.

Data: a batch of white-noise signals x filtered by a known 9-tap filter h_true (taps
m = -4..4), so y = h_true * x exactly. The layer starts from torch's Conv1d-style random
initialisation and Adam minimises the mean squared error; forward and backward are
convgrad's (conv, grad_kernel, grad_input), the optimiser is torch's.

Run:  PYTHONPATH=build/python /usr/bin/python3 examples/train_torch.py   (a second or two;
      or .venv/bin/python after `make install-python`)
Exit status 0 when the filter is recovered to 1e-6 relative error, 1 otherwise.
"""

import sys

import torch

from convgrad.torch import ConvSame, conv_same


def main():
    torch.manual_seed(0)
    B, N, K = 16, 256, 9
    # A smooth low-pass-like target filter (a Hann window times a sinc), taps m = -4..4.
    m = torch.arange(-(K // 2), K // 2 + 1, dtype=torch.float64)
    h_true = torch.sinc(m / 2) * torch.cos(torch.pi * m / (K + 1)) ** 2
    x = torch.randn(B, N, dtype=torch.float64)
    with torch.no_grad():
        y = conv_same(x, h_true)

    layer = ConvSame(K, dtype=torch.float64)
    opt = torch.optim.Adam(layer.parameters(), lr=0.05)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.993)
    print(f"training ConvSame({K}) on {B} signals of {N} samples with Adam")
    steps = 400
    for step in range(1, steps + 1):
        opt.zero_grad()
        loss = 0.5 * ((layer(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == 1:
            err = float((layer.h - h_true).norm() / h_true.norm())
            print(f"  step {step:4d}  loss {loss.item():.3e}  |h - h_true| / |h_true| {err:.3e}")

    err = float((layer.h.detach() - h_true).norm() / h_true.norm())
    print("h_true   :", " ".join(f"{v:+.6f}" for v in h_true.tolist()))
    print("h learned:", " ".join(f"{v:+.6f}" for v in layer.h.detach().tolist()))
    print(f"final relative error {err:.3e}")
    return 0 if err < 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main())
