#!/usr/bin/env python3
"""Writes the seed corpora tests/fuzz/<target>/seed-* (docs/fuzzing.md): small valid files
and near-valid ones (one field wrong), a few hundred bytes each, so that the fuzzer starts
inside every format rather than having to discover its magic numbers. Run it again after
changing a seed here; inputs the fuzzer found (tests/fuzz/<target>/crash-*, ...) are kept.

Usage: /usr/bin/python3 tests/fuzz/make_seeds.py
"""
import json
import pathlib
import struct

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
X = [0.5, -1.0, 0.25, 2.0, -0.125, 1.5, 0.0, -3.0]


def npy_bytes(dtype="<f8", shape=(len(X),), fortran=False, version=(1, 0), data=None):
    """A .npy file written field by field, so that any field can be made wrong."""
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (dtype, fortran, repr(tuple(shape)))
    head_len_size = 2 if version == (1, 0) else 4
    total = 6 + 2 + head_len_size + len(header) + 1
    header += " " * (-total % 64) + "\n"
    length = struct.pack("<H" if head_len_size == 2 else "<I", len(header))
    if data is None:
        data = np.asarray(X, dtype=dtype).tobytes()
    return b"\x93NUMPY" + bytes(version) + length + header.encode("latin1") + data


def riff_wav(fmt_tag, channels, rate, bits, frames, data=None, declared=None, extensible=None):
    """A RIFF/WAVE file: 'fmt ' and 'data' chunks, optionally a WAVE_FORMAT_EXTENSIBLE tail."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits)
    if extensible is not None:  # cbSize, valid bits, channel mask, subformat GUID
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", extensible) + \
            b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    if data is None:
        data = bytes(frames * block)
    size = len(data) if declared is None else declared
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", 4 + len(body) - 4) + body


def float_wav(values, rate=8000, channels=1):
    data = np.asarray(values, dtype="<f4").tobytes()
    return riff_wav(3, channels, rate, 32, len(values) // channels, data=data)


def pcm16_wav(values, rate=8000, channels=1):
    data = (np.asarray(values) * 8192).astype("<i2").tobytes()
    return riff_wav(1, channels, rate, 16, len(values) // channels, data=data)


def aiff(values, rate=8000):
    """A 16-bit mono AIFF: the rate as an 80-bit extended float."""
    data = (np.asarray(values) * 8192).astype(">i2").tobytes()
    exponent, mantissa = 16383 + 12, rate << (63 - 12)  # 8000 = 0x1F40, 13 bits
    comm = struct.pack(">hIh", 1, len(values), 16) + struct.pack(">HQ", exponent, mantissa)
    ssnd = struct.pack(">II", 0, 0) + data
    body = b"AIFF" + b"COMM" + struct.pack(">I", len(comm)) + comm + b"SSND" + struct.pack(">I", len(ssnd)) + ssnd
    return b"FORM" + struct.pack(">I", len(body)) + body


def au(values, rate=8000):
    data = (np.asarray(values) * 8192).astype(">i2").tobytes()
    return b".snd" + struct.pack(">IIIII", 24, len(data), 3, rate, 1) + data


def text_lines(values):
    return "".join("%r\n" % v for v in values).encode()


def tune_record(**change):
    r = {"dtype": "float64", "n": 1000, "lo": -3, "hi": 3, "threads": 2, "target": "AVX3",
         "hardware_threads": 2, "choice": "direct", "model_choice": "direct",
         "direct_s": 1.5e-05, "fft_s": 4.0e-05, "source": "measured"}
    r.update(change)
    return r


def seeds():
    taps_doc = {"lo": -1, "hi": 1, "K": 3, "h": [0.25, 0.5, 0.25]}
    return {
        "npy": {
            "f8": npy_bytes(),
            "f4": npy_bytes("<f4"),
            "column": npy_bytes(shape=(len(X), 1)),
            "v2": npy_bytes(version=(2, 0)),
            "v3": npy_bytes(version=(3, 0)),
            "fortran-column": npy_bytes(shape=(len(X), 1), fortran=True),
            "big-endian": npy_bytes(">f8"),
            "int32": npy_bytes("<i4"),
            "short-data": npy_bytes(data=np.asarray(X[:-1], "<f8").tobytes()),
            "nan": npy_bytes(data=np.asarray([1.0, float("nan")], "<f8").tobytes(), shape=(2,)),
            "empty": npy_bytes(shape=(0,), data=b""),
            "matrix": npy_bytes(shape=(2, 4)),
        },
        "text": {
            "lines": text_lines(X),
            "csv-row": (",".join(map(repr, X)) + "\n").encode(),
            "spaces-tabs": b"0.5 -1\t0.25  2e0\n",
            "comments-crlf": b"# a signal\r\n1.5\r\n# more\r\n-2.25e-3\r\n+4\r\n",
            "subnormal": b"4.9e-324\n1e-310\n-0.0\n",
            "overflow": b"1e308\n1e309\n",
            "nan": b"1\nnan\n",
            "table": b"1,2\n3,4\n",
            "table-header": b"\"a\", \"b\"\r\n# rows\n1, 2\r\n\n3, nan\n5, 6 # last\n",
            "table-ragged": b"a b c\n1 2 3\n4 5\n",
            "one-line": b"1, 2, 3\n",
            "empty-lines": b"\n\n1\n\n",
            "bad-token": b"1\n2x\n",
        },
        "wav": {
            "float-mono": float_wav(X),
            "pcm16-mono": pcm16_wav([v / 4 for v in X]),
            "pcm16-stereo": pcm16_wav([v / 4 for v in X], channels=2),
            "pcm24-extensible": riff_wav(0xFFFE, 1, 8000, 24, 4, extensible=1),
            "mpeg-extensible": riff_wav(0xFFFE, 1, 8000, 16, 4, extensible=0x55),
            "zero-rate": riff_wav(1, 1, 0, 16, 4),
            "truncated-data": riff_wav(1, 1, 8000, 16, 4, declared=4000),
            "float-nan": float_wav([1.0, float("nan")]),
            "aiff": aiff([v / 4 for v in X]),
            "au": au([v / 4 for v in X]),
        },
        "taps": {
            "json": json.dumps(taps_doc).encode(),
            "json-array": b"[1, -2.5, 0.125]",
            "json-no-lo": b'{"h": [1, 2, 3]}',
            "json-bad-hi": json.dumps(dict(taps_doc, hi=5)).encode(),
            "json-big-lo": b'{"lo": 18446744073709551615, "h": [1]}',
            "csv-header": b"# convgrad taps m = 0..2 (lo = 0)\n0.25\n0.5\n0.25\n",
            "csv-huge-lo": b"# convgrad taps m = 0..2 (lo = 99999999999999999999)\n1\n",
            "csv-plain": b"0.25\n0.5\n0.25\n",
            "npy": npy_bytes(),
        },
        "tune_cache": {
            "valid": json.dumps({"version": 1, "records": [tune_record(), tune_record(
                dtype="float32", n=4096, lo=0, hi=63, choice="fft", direct_s=None,
                source="model: direct predicted > 1 s per step")]}, indent=1).encode(),
            "version-2": b'{"version": 2, "records": []}',
            "bad-record": json.dumps({"version": 1, "records": [tune_record(choice="jacobian"),
                                                                tune_record(n=-1)]}).encode(),
            "missing-field": json.dumps({"version": 1, "records": [{"dtype": "float64"}]}).encode(),
            "not-object": b"[1, 2]",
            "empty": b"",
        },
        "cli": {
            "grad": b"grad\n--x\nx.csv\n--y\ny.csv\n--taps\n1\n--json\n",
            "grad-h-outputs": b"grad\n--x\nx.npy\n--y\ny.npy\n--h\nh.json\n--out-dh\ndh.npy\n--out-dx\ndx.csv\n",
            "grad-float32-fft": b"grad\n--x\nx.wav\n--y\ny.wav\n--kernel-size\n4\n--lo\n0\n--dtype\nfloat32\n--method\nfft\n",
            "check-files": b"check\n--x\nx.csv\n--y\ny.csv\n--h\nh.csv\n--json\n",
            "check-random": b"check\n--n\n12\n--taps\n2\n--seed\n7\n--no-fd\n",
            "explain": b"explain\n--n\n5\n--taps\n1\n",
            "fit-exact": b"fit\n--x\nx.csv\n--y\ny.csv\n--taps\n1\n--solver\nexact\n--out\nh.json\n--summary\ns.json\n",
            "fit-adam": b"fit\n--x\nx.npy\n--y\ny.npy\n--causal\n3\n--solver\nadam\n--max-iter\n20\n--history\nhist.csv\n--report\nr.html\n--out\nlearned.npy\n",
            "fit-pairs": b"fit\n--x\nx.csv\n--y\ny.csv\n--x\nx.npy\n--y\ny.npy\n--lo\n-1\n--hi\n1\n--batch\n1\n--max-iter\n5\n--validate\nx.wav\ny.wav\n--true-h\nh.csv\n--out\nlearned.csv\n",
            "apply": b"apply\n--h\nh.json\n--x\nx.csv\n--out\nout.wav\n--sample-rate\n8\n--wav-format\npcm24\n",
            "apply-npy-lo": b"apply\n--h\nh.npy\n--x\nx.wav\n--out\nout.npy\n--lo\n-1\n--quiet\n",
            "nul-separated": b"grad\0--x\0x.csv\0--y\0y.csv\0--taps\0" + b"0\0--out-dh\0\0",
            "tune-parse-only": b"tune\n--n\n100000\n--causal\n4096\n--json\n",
            "help": b"fit\n--help\n",
        },
    }


def main():
    for target, files in seeds().items():
        folder = HERE / target
        folder.mkdir(exist_ok=True)
        for old in folder.glob("seed-*"):
            old.unlink()
        for name, data in files.items():
            (folder / ("seed-" + name)).write_bytes(data)
        print("%-10s %2d seeds, %5d bytes" % (target, len(files), sum(map(len, files.values()))))


if __name__ == "__main__":
    main()
