"""Cancel an echo block by block with convgrad.adaptive, reading the WAV files as a stream.

    python3 examples/echo_cancel.py [--x far.wav --y mic.wav] [--out e.wav] [--algo nlms|fdaf|rls]

x is the far-end signal played into the room, y the microphone (its echo plus whatever else
the room holds). The filter learns the echo path h while the blocks stream past; the output
e = y - yhat = -r is the microphone with the echo removed. Without --x/--y the script makes
its own scenario: noise-like far-end speech through a decaying 256-tap room response.

WAV files are 16-bit PCM here (Python's wave module reads them in blocks without loading the
file); `convgrad adapt` does the same from the command line for any WAV.
Exits 0 when the echo return loss enhancement (ERLE) of the last second is at least 20 dB.
"""

import argparse
import os
import sys
import tempfile
import wave

import numpy as np

import convgrad.adaptive


def blocks(path, n):
    """The samples of a mono 16-bit WAV file, n at a time, as float64 in [-1, 1)."""
    with wave.open(path, "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise SystemExit(f"{path}: expected mono 16-bit PCM")
        while True:
            frames = w.readframes(n)
            if not frames:
                return
            yield np.frombuffer(frames, dtype="<i2").astype(np.float64) / 32768.0


def rate_of(path):
    with wave.open(path, "rb") as w:
        return w.getframerate()


def write_wav(path, samples, rate):
    pcm = np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def make_scenario(directory, rate=16000, seconds=6.0, taps=256, seed=7):
    """far.wav and mic.wav: far-end noise shaped like speech (bursts), its echo, a little noise."""
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    envelope = np.repeat(rng.uniform(0.2, 1.0, n // 800 + 1), 800)[:n]
    far = 0.25 * envelope * rng.standard_normal(n)
    room = rng.standard_normal(taps) * np.exp(-np.arange(taps) / 40.0)
    room *= 0.5 / np.linalg.norm(room)
    mic = np.convolve(far, room)[:n] + 1e-4 * rng.standard_normal(n)
    x_path, y_path = os.path.join(directory, "far.wav"), os.path.join(directory, "mic.wav")
    write_wav(x_path, far, rate)
    write_wav(y_path, mic, rate)
    return x_path, y_path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--x", help="far-end WAV (mono 16-bit)")
    ap.add_argument("--y", help="microphone WAV (mono 16-bit)")
    ap.add_argument("--out", help="write the echo-cancelled signal here")
    ap.add_argument("--algo", default="nlms", choices=["nlms", "fdaf", "rls"])
    ap.add_argument("--taps", type=int, default=256)
    ap.add_argument("--block", type=int, default=1024, help="samples per block read")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        x_path, y_path = (args.x, args.y) if args.x else make_scenario(tmp, taps=args.taps)
        rate = rate_of(x_path)
        if rate_of(y_path) != rate:
            raise SystemExit("the two files have different sample rates")
        f = {"nlms": lambda: convgrad.adaptive.NLMS(taps=args.taps, mu=0.5),
             "fdaf": lambda: convgrad.adaptive.FDAF(taps=args.taps, mu=0.5),
             "rls": lambda: convgrad.adaptive.RLS(taps=args.taps, lam=0.9999)}[args.algo]()
        out, erle = [], []
        yy = ee = 0.0
        seen = 0
        for xb, yb in zip(blocks(x_path, args.block), blocks(y_path, args.block)):
            _, r = f.process(xb, yb)
            e = -r  # y - yhat
            out.append(e)
            yy += float(yb @ yb)
            ee += float(e @ e)
            seen += xb.size
            if seen >= rate:  # one ERLE figure per second
                erle.append(10 * np.log10(yy / ee))
                yy = ee = 0.0
                seen = 0
        if args.out:
            write_wav(args.out, np.concatenate(out), rate)
    for second, value in enumerate(erle, 1):
        print(f"second {second}: ERLE {value:.1f} dB")
    print(f"{args.algo}, {f.K} taps, {f.samples} samples: ERLE of the last second {erle[-1]:.1f} dB")
    return 0 if erle[-1] >= 20 else 1


if __name__ == "__main__":
    sys.exit(main())
