"""Build: the modules that run per packet are compiled by Cython from their source.

There is one source of truth per module: Cython turns each ``.py`` file of the listed
packages into a C extension at install time (``pip install``, with the machine's C
compiler), which drops the interpreter's per-bytecode cost, with the C types a ``.pxd``
beside it declares; the kernels that loop over bytes are ``.pyx`` files, C-typed Cython
that exists only compiled. Metadata lives in pyproject.toml; only the extensions are
declared here, because a static table cannot run ``cythonize``.
"""

import compileall
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# Per-packet and per-byte code: capture records, frame dissection, the stages, the audit.
COMPILED = ("capture", "proto", "anon", "stages", "audit")
EXTRA = ("pipeline.py", "record.py")


def compiled_sources() -> list[str]:
    package = Path("pktmask_nb")
    sources = [p for d in COMPILED for p in sorted((package / d).rglob("*.py*")) if p.suffix in (".py", ".pyx")]
    sources = [p for p in sources if p.name != "__init__.py"]
    return [str(p) for p in sources + [package / name for name in EXTRA]]


def extensions() -> list[Extension]:
    # -O2 without debug info: the kernels loop over bytes; -g and -O3 cost build time, not speed
    # (it is calls into the interpreter, not loops the optimizer could improve).
    return [
        Extension(source.rsplit(".", 1)[0].replace("/", "."), [source], extra_compile_args=["-O2", "-g0"])
        for source in compiled_sources()
    ]


class BuildExt(build_ext):
    """Also byte-compile the pure-Python modules of an editable install (a wheel's are by pip):
    with PYTHONDONTWRITEBYTECODE no run would write them, and every run would compile them."""

    def run(self):
        super().run()
        if self.inplace or getattr(self, "editable_mode", False):
            compileall.compile_dir("pktmask_nb", quiet=1)


setup(
    cmdclass={"build_ext": BuildExt},
    ext_modules=cythonize(
        extensions(),
        # Annotations are documentation here, not C types: `int` may hold a NumPy integer.
        compiler_directives={"language_level": 3, "annotation_typing": False},
        build_dir="build/cython",  # the generated C stays out of the package and its wheel
        nthreads=2,
        quiet=True,
    ),
    options={"build_ext": {"parallel": 2}},
)
