"""`cmake --install` puts a usable library into a prefix (issue 9, item 8).

One install into a temporary prefix; then, using only that prefix:
  - every public header, libconvgrad.a, libconvgrad.so, the command, the CMake package and
    convgrad.pc are there;
  - examples/cpp_consumer (find_package(convgrad)) configures, builds and runs its training
    step on DESIGN.md's worked example, against the shared and the static library;
  - a program built with `pkg-config --cflags --libs convgrad` alone compiles, links and
    runs, and a translation unit including every installed header compiles (no installed
    header reaches for one that is not installed).
"""

import os
import pathlib

import pytest

from conftest import ROOT, project_version, run

CONSUMER = ROOT / "examples" / "cpp_consumer"
WORKED_EXAMPLE = "L = 641, dh = [214, 262, 190]"


@pytest.fixture(scope="module")
def prefix(build_dir, tmp_path_factory):
    prefix = tmp_path_factory.mktemp("prefix")
    run("cmake", "--install", build_dir, "--prefix", prefix)
    return prefix


def libdir(prefix):
    """lib/ or, where GNUInstallDirs chose it, lib/<multiarch>/: the one holding the package."""
    found = sorted(prefix.glob("lib*/**/cmake/convgrad/convgradConfig.cmake"))
    assert found, f"no lib*/cmake/convgrad/convgradConfig.cmake under {prefix}"
    return found[0].parents[2]


def test_install_puts_every_part_into_the_prefix(prefix):
    lib = libdir(prefix)
    # every header of include/convgrad, and version.hpp, generated from project(VERSION)
    headers = sorted([p.name for p in (ROOT / "include" / "convgrad").glob("*.hpp")] + ["version.hpp"])
    installed = sorted(p.name for p in (prefix / "include" / "convgrad").glob("*.hpp"))
    assert installed == headers
    for part in ["libconvgrad.a", "libconvgrad.so", "cmake/convgrad/convgradConfigVersion.cmake",
                 "cmake/convgrad/convgradTargets.cmake", "pkgconfig/convgrad.pc"]:
        assert (lib / part).is_file(), f"{part} not installed in {lib}"
    # The installed command runs (its help lists the subcommands).
    out = run(prefix / "bin" / "convgrad", "--help")
    assert "grad" in out and "fit" in out
    assert run(prefix / "bin" / "convgrad", "--version").strip() == f"convgrad {project_version()}"
    assert f'#define CONVGRAD_VERSION "{project_version()}"' in (prefix / "include/convgrad/version.hpp").read_text()


def test_install_puts_the_man_page_and_the_completions_where_they_are_found(prefix):
    """Generated from the command's parser by the build (cli/CMakeLists.txt): the man page
    renders, and the completions are the build's (tests/python/test_cli_conventions.py checks
    that they list every subcommand and option)."""
    share = prefix / "share"
    page = share / "man" / "man1" / "convgrad.1"
    bash = share / "bash-completion" / "completions" / "convgrad"
    zsh = share / "zsh" / "site-functions" / "_convgrad"
    for f in [page, bash, zsh]:
        assert f.is_file(), f"{f} not installed"
    rendered = run("man", "-l", page, env={**os.environ, "MANPAGER": "cat", "MANWIDTH": "80"})
    assert "EXIT STATUS" in rendered and f"convgrad {project_version()}" in rendered
    assert "complete -o filenames -o bashdefault -F _convgrad convgrad" in bash.read_text()
    assert zsh.read_text().startswith("#compdef convgrad")
    # man finds the page through the prefix's share/man, as it would under /usr/local.
    found = run("man", "-w", "convgrad", env={**os.environ, "MANPATH": str(share / "man")})
    assert pathlib.Path(found.strip()) == page


@pytest.mark.parametrize("static", [False, True], ids=["shared", "static"])
def test_cmake_consumer_finds_the_package_and_trains(prefix, tmp_path, static, compile_env):
    build = tmp_path / "consumer"
    # Only the prefix: no package registry, so a build tree or another install cannot stand in.
    run("cmake", "-S", CONSUMER, "-B", build, "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_PREFIX_PATH={prefix}",
        "-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF", f"-DCONSUMER_STATIC={'ON' if static else 'OFF'}", env=compile_env)
    cache = (build / "CMakeCache.txt").read_text()
    assert f"convgrad_DIR:PATH={libdir(prefix)}/cmake/convgrad" in cache
    run("cmake", "--build", build, env=compile_env)
    out = run(build / "train_step")
    assert WORKED_EXAMPLE in out
    # convgrad::convgrad is the shared library, convgrad::convgrad_static the static one.
    needed = run("readelf", "-d", build / "train_step")
    assert ("libconvgrad.so" in needed) == (not static)


def test_pkg_config_builds_a_program(prefix, tmp_path, compile_env):
    env = dict(compile_env)
    env["PKG_CONFIG_PATH"] = str(libdir(prefix) / "pkgconfig")
    assert run("pkg-config", "--modversion", "convgrad", env=env).strip() == project_version()
    flags = run("pkg-config", "--cflags", "--libs", "convgrad", env=env).split()
    # Every installed header in one translation unit, compiled with the flags pkg-config gives.
    all_headers = tmp_path / "all_headers.cpp"
    all_headers.write_text("".join(f'#include "convgrad/{p.name}"\n'
                                   for p in sorted((prefix / "include" / "convgrad").glob("*.hpp"))))
    program = tmp_path / "train_step"
    run(env["CXX"], "-std=c++20", CONSUMER / "train_step.cpp", all_headers, *flags, f"-Wl,-rpath,{libdir(prefix)}",
        "-o", program, env=env)
    assert WORKED_EXAMPLE in run(program)
