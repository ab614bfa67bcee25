"""Train a small multi-channel convolutional model twice, side by side: once with
convgrad.torch.Conv1d, once with torch.nn.Conv1d, from the same seed.

The model maps 2 input channels to 1 output through 8 hidden channels: a 'same' layer with
K = 5, a grouped (groups = 2) dilated (d = 2) layer with an even K = 4, a causal layer and a
1 x 1 mixing layer, with tanh between them. The target is a fixed random "teacher" network
of the same form (nn.Conv1d). Both students start from the same seed, so convgrad's Conv1d
draws nn.Conv1d's initial weights exactly; Adam trains both on the same batches. Forward and
backward of the convgrad model are convgrad's (the flipped weights, the padding mapped onto
its tap ranges); the rest (tanh, Adam) is torch's.

Run:  PYTHONPATH=build/python /usr/bin/python3 examples/train_conv1d.py   (a few seconds)
Exit status 0 when the two loss curves agree to rounding (float64: 1e-9 relative at every
step) and training lowered the loss at least tenfold; 1 otherwise.
"""

import sys

import torch

import convgrad.torch as cg


def model(Conv1d):
    """The network with the given Conv1d class (torch.nn.Conv1d or convgrad.torch.Conv1d)."""
    return torch.nn.Sequential(
        Conv1d(2, 8, 5, padding="same", dtype=torch.float64), torch.nn.Tanh(),
        Conv1d(8, 8, 4, padding="same", dilation=2, groups=2, dtype=torch.float64), torch.nn.Tanh(),
        Conv1d(8, 8, 3, padding=2, dtype=torch.float64), torch.nn.Tanh(),
        Conv1d(8, 1, 1, dtype=torch.float64))


def causal_trim(y, n):
    """The padding=2 layer adds two samples at the end; keep the first n (a causal layer)."""
    return y[..., :n]


def main():
    B, N, steps = 16, 128, 150
    torch.manual_seed(123)
    teacher = model(torch.nn.Conv1d)
    x = torch.randn(B, 2, N, dtype=torch.float64)
    with torch.no_grad():
        y = causal_trim(teacher(x), N)

    students = {}
    for name, Conv1d in (("convgrad", cg.Conv1d), ("torch", torch.nn.Conv1d)):
        torch.manual_seed(0)  # the same seed: the same initial weights
        net = model(Conv1d)
        students[name] = (net, torch.optim.Adam(net.parameters(), lr=0.01))

    print(f"training 2 -> 8 -> 8 -> 8 -> 1 channel models on {B} signals of {N} samples, Adam, {steps} steps")
    worst, first, last = 0.0, None, None
    for step in range(1, steps + 1):
        losses = {}
        for name, (net, opt) in students.items():
            opt.zero_grad()
            loss = 0.5 * ((causal_trim(net(x), N) - y) ** 2).mean()
            loss.backward()
            opt.step()
            losses[name] = loss.item()
        rel = abs(losses["convgrad"] - losses["torch"]) / abs(losses["torch"])
        worst = max(worst, rel)
        first = first if first is not None else losses["torch"]
        last = losses["torch"]
        if step == 1 or step % 25 == 0:
            print(f"  step {step:4d}  loss convgrad {losses['convgrad']:.15e}  torch {losses['torch']:.15e}"
                  f"  relative difference {rel:.1e}")
    print(f"largest relative difference of the losses {worst:.3e}")
    print(f"loss fell from {first:.6e} to {last:.6e} ({first / last:.1f}x)")
    return 0 if worst <= 1e-9 and first / last >= 10 else 1


if __name__ == "__main__":
    sys.exit(main())
