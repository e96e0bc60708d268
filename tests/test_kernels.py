"""The library's C operators: how they are built, cached and loaded, and what happens where they cannot be."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from affect_lib import kernels

needs_kernel = pytest.mark.skipif(
    not kernels.available(), reason="no C++ compiler: the operators are not built"
)


def _stderr_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_the_cache_key_names_the_cpu_the_compiler_and_the_sources(monkeypatch, tmp_path):
    key = kernels.cache_key("x86_64 | AMD EPYC | sse2 avx2", "/usr/bin/c++ c++ (GCC) 12.2.0")
    assert key == kernels.cache_key("x86_64 | AMD EPYC | sse2 avx2", "/usr/bin/c++ c++ (GCC) 12.2.0")
    assert key != kernels.cache_key(
        "x86_64 | Intel Xeon | sse2 avx2 avx512f", "/usr/bin/c++ c++ (GCC) 12.2.0"
    )
    assert key != kernels.cache_key("x86_64 | AMD EPYC | sse2 avx2", "/usr/bin/c++ c++ (GCC) 13.1.0")
    assert key != kernels.cache_key("x86_64 | AMD EPYC | sse2 avx2", "/usr/bin/clang++ clang version 17.0.6")
    sources = kernels.SOURCES
    for i, source in enumerate(sources):  # an edit of any source, even one byte, names another build
        edited = tmp_path / source.name
        edited.write_bytes(source.read_bytes() + b"\n")
        monkeypatch.setattr(kernels, "SOURCES", (*sources[:i], edited, *sources[i + 1 :]))
        assert key != kernels.cache_key("x86_64 | AMD EPYC | sse2 avx2", "/usr/bin/c++ c++ (GCC) 12.2.0")
    monkeypatch.setattr(kernels, "SOURCES", sources)
    assert key != kernels.cache_key("x86_64 | AMD EPYC | sse2 avx2", "/usr/bin/c++ c++ (GCC) 12.2.0", ())
    assert __import__("platform").machine() in kernels.cpu_identity()


def test_a_compile_error_is_shown_once_with_the_compilers_first_error(monkeypatch, capsys, tmp_path):
    compiler = shutil.which("c++")
    if compiler is None:
        pytest.skip("no c++ compiler")
    broken = tmp_path / "broken.cpp"
    broken.write_text("int ok = 1;\nint main( {\n")
    monkeypatch.setattr(kernels, "_loaded", [])
    monkeypatch.setattr(kernels, "_said", [])
    monkeypatch.setenv(kernels.UNAVAILABLE_ENV, "")  # no parent process has spoken; restored after
    monkeypatch.setattr(kernels, "SOURCES", (broken,))
    monkeypatch.setenv("AFFECT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CXX", raising=False)
    capsys.readouterr()
    assert not kernels.available() and not kernels.available()
    (line,) = _stderr_lines(capsys)
    assert f"{compiler} could not build or load it: " in line and "broken.cpp:2:" in line and "error:" in line
    log = Path(line.split("full output in ")[1].split(")")[0].rstrip(";"))
    assert log.is_file() and "int main( {" in log.read_text()


@needs_kernel
def test_a_compiler_without_openmp_builds_the_per_call_thread_form_with_the_same_bits(tmp_path):
    """Apple's clang has no -fopenmp: the build falls back to threads started per call, silently, same numbers;
    a second process does not try the failed OpenMP build again."""
    cxx = shutil.which("c++")
    wrapper = tmp_path / "bin" / "c++"
    wrapper.parent.mkdir()
    calls = tmp_path / "openmp_calls"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'for a in "$@"; do [ "$a" = -fopenmp ] && {{ echo . >> {calls}; '
        'echo "c++: error: unsupported option -fopenmp" >&2; exit 1; }; done\n'
        f'exec {cxx} "$@"\n'
    )
    wrapper.chmod(0o755)
    script = (
        "import sys, torch\n"
        "from affect_lib import kernels\n"
        "assert kernels.available() and kernels.build_flags() == ('-pthread',)\n"
        "g = torch.Generator().manual_seed(5)\n"
        "q, k, v, dout = (torch.randn(6, t, 5, generator=g) for t in (9, 9, 9, 9))\n"
        "out, lse = torch.ops.affect.attention_forward(q, k, v, 0, 0, 0.4, 2**30, 1.3, 3, 4)\n"
        "grads = torch.ops.affect.attention_backward(q, k, v, out, lse, dout, 0, 0, 0.4, 2**30, 1.3, 3, 4)\n"
        "y = torch.ops.affect.hash_dropout(q, 2, 2**30, 1.3, 3, 4)\n"
        "torch.save([q, k, v, dout, out, lse, *grads, y], sys.argv[1])\n"
    )
    env = {**os.environ, "CXX": str(wrapper), "AFFECT_CACHE_DIR": str(tmp_path / "cache")}
    env.pop(kernels.UNAVAILABLE_ENV, None)
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "out.pt")], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    folders = sorted((tmp_path / "cache" / "kernels").iterdir())
    assert len(folders) == 2 and sum((f / "error.log").is_file() for f in folders) == 1
    assert "-fopenmp" in next(f / "error.log" for f in folders if (f / "error.log").is_file()).read_text()
    tried = calls.read_text()
    again = subprocess.run([sys.executable, "-c", script, str(tmp_path / "again.pt")], env=env, text=True)
    assert again.returncode == 0 and calls.read_text() == tried
    q, k, v, dout, out, lse, dq, dk, dv, y = torch.load(tmp_path / "out.pt")
    here_out, here_lse = torch.ops.affect.attention_forward(q, k, v, 0, 0, 0.4, 2**30, 1.3, 3, 4)
    here = torch.ops.affect.attention_backward(q, k, v, here_out, here_lse, dout, 0, 0, 0.4, 2**30, 1.3, 3, 4)
    assert torch.equal(here_out, out) and torch.equal(here_lse, lse)
    assert all(torch.equal(a, b) for a, b in zip(here, (dq, dk, dv), strict=True))
    assert torch.equal(torch.ops.affect.hash_dropout(q, 2, 2**30, 1.3, 3, 4), y)


@needs_kernel
def test_a_compiler_with_openmp_builds_on_pytorchs_thread_pool():
    """The fallback is silent, so a broken OpenMP build would go unnoticed but for this: GCC has OpenMP."""
    if "clang" in kernels.compiler_identity()[1].lower():
        pytest.skip("clang: OpenMP may be missing")
    assert kernels.build_flags() == ("-fopenmp",)
    maps = Path("/proc/self/maps")
    if (
        maps.is_file()
    ):  # the extension's libgomp.so.1 is torch's own (wheels bundle renamed copies of their own)
        runtimes = {ln.split()[-1] for ln in maps.read_text().splitlines() if ln.endswith("/libgomp.so.1")}
        assert runtimes == {str(Path(torch.__file__).parent / "lib" / "libgomp.so.1")}, runtimes


def test_a_library_that_does_not_load_is_reported_once(monkeypatch, capsys, tmp_path):
    from torch.utils import cpp_extension

    if shutil.which("c++") is None:
        pytest.skip("no c++ compiler")

    def load(name, *args, **kwargs):
        raise OSError(f"{name}.so: invalid ELF header")

    monkeypatch.setattr(kernels, "_loaded", [])
    monkeypatch.setattr(kernels, "_said", [])
    monkeypatch.setenv(kernels.UNAVAILABLE_ENV, "")  # no parent process has spoken; restored after
    monkeypatch.setattr(cpp_extension, "load", load)
    monkeypatch.setenv("AFFECT_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("CXX", raising=False)
    capsys.readouterr()
    assert kernels.library() is None and kernels.library() is None
    (line,) = _stderr_lines(capsys)
    assert "could not build or load it: affect_operators_" in line and "invalid ELF header" in line


def test_an_unwritable_cache_is_reported_once_not_raised(monkeypatch, capsys, tmp_path):
    if shutil.which("c++") is None:
        pytest.skip("no c++ compiler")
    blocker = tmp_path / "a file"
    blocker.write_text("")  # a cache root below a file: mkdir fails as on a read-only disk
    monkeypatch.setattr(kernels, "_loaded", [])
    monkeypatch.setattr(kernels, "_said", [])
    monkeypatch.setenv(kernels.UNAVAILABLE_ENV, "")  # no parent process has spoken; restored after
    monkeypatch.setenv("AFFECT_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.delenv("CXX", raising=False)
    capsys.readouterr()
    assert kernels.library() is None and kernels.library() is None
    (line,) = _stderr_lines(capsys)
    assert "no writable cache folder" in line and "AFFECT_CACHE_DIR" in line
