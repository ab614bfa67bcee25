"""Make `import convgrad` work in this interpreter: write convgrad.pth into site-packages.

Usage: /usr/bin/python3 python/install_pth.py <build>/python

A .pth file holds one directory that Python adds to sys.path at start-up, so the package
built in <build>/python/convgrad is importable from any directory without PYTHONPATH. The
file is replaced atomically (written beside, then renamed). Where site-packages is not
writable, nothing is written and the equivalent PYTHONPATH line is printed instead; that is
not an error, so the build never fails for it.
"""

import os
import site
import sys
import tempfile


def main(argv):
    if len(argv) != 2:
        print("usage: install_pth.py <build>/python", file=sys.stderr)
        return 2
    package_dir = os.path.abspath(argv[1])
    site_dir = site.getsitepackages()[0]
    target = os.path.join(site_dir, "convgrad.pth")
    tmp = None
    try:
        os.makedirs(site_dir, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=site_dir, prefix=".convgrad.pth.")
        with os.fdopen(fd, "w") as f:
            f.write(package_dir + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as e:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        print(f"python: cannot write {target} ({e.strerror}); to import convgrad run:\n"
              f"  export PYTHONPATH={package_dir}", file=sys.stderr)
        return 0
    print(f"python: {sys.executable} imports convgrad from {package_dir} (via {target})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
