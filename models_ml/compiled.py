"""LightGBM models compiled to machine code (lleaves) for nightly scoring.

Scoring a million users walks every tree of a model for every user; LightGBM's interpreter does that in
about 13 ns per tree and row on this project's machines, code compiled from the model's trees in 3-4 ns. A
model is compiled once, into an object file beside its text in the version directory (`compiled/`), and
loaded from there by every later scoring. The file's name carries a hash of the model text, the compiler's
versions and the target, so a changed model or an upgraded compiler compiles again rather than loading code
built for something else. The code is built for the generic CPU of the machine's architecture, not for the
machine's own: a version directory copied to another machine of that architecture stays loadable.

The compiled model walks the same trees on the same double-precision values as LightGBM and applies the same
objective (sigmoid for `binary` and `cross_entropy`); only the order in which tree outputs are added differs,
so scores agree with `Booster.predict` to about 1e-13 (tests hold them to 1e-10).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from importlib.metadata import version as package_version
from pathlib import Path

import numpy as np

COMPILED_DIR = "compiled"
# Without inlining LLVM compiles a model of 500 trees in about 5 s instead of 30 s, for 25% slower code.
COMPILE_OPTIONS = {"finline": False, "fcodemodel": "large", "target_cpu": "generic", "target_cpu_features": ""}


class CompiledModel:
    """One LightGBM model text, compiled (or loaded from its compiled file) for `predict`."""

    def __init__(self, model_file: Path, num_threads: int = 1):
        import lleaves

        self.model_file = Path(model_file)
        self.num_threads = max(int(num_threads or os.cpu_count() or 1), 1)
        self.cache_file = compile_model(self.model_file)
        self._model = lleaves.Model(model_file=str(self.model_file))
        self._model.compile(cache=str(self.cache_file), **COMPILE_OPTIONS)

    def num_feature(self) -> int:
        return self._model.num_feature()

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions for the rows of model matrix `x` (float64 C-ordered is read in place, others are copied)."""
        x = np.ascontiguousarray(x, dtype="float64")
        if x.ndim != 2 or x.shape[1] != self.num_feature():
            raise ValueError(f"{self.model_file.name} reads {self.num_feature()} features, the matrix has shape "
                             f"{x.shape}")
        if not len(x):
            return np.zeros(0)
        return self._model.predict(x, n_jobs=min(self.num_threads, len(x)))


def compiled_file(model_file: Path) -> Path:
    """Where the compiled code of `model_file` is kept: named by what it was compiled from and with."""
    import llvmlite.binding as llvm

    h = hashlib.sha256(Path(model_file).read_bytes())
    for part in (package_version("lleaves"), package_version("llvmlite"), ".".join(map(str, llvm.llvm_version_info)),
                 llvm.get_process_triple(), repr(sorted(COMPILE_OPTIONS.items()))):
        h.update(b"\0" + part.encode())
    return Path(model_file).parent / COMPILED_DIR / f"{Path(model_file).stem}-{h.hexdigest()[:16]}.o"


def compile_model(model_file: Path) -> Path:
    """The compiled file of `model_file`, compiled now if there is none yet.

    Compiled into a file beside it, then renamed in: a reader never sees a partial file, and two processes
    compiling at once both leave a whole one.
    """
    import lleaves

    cache_file = compiled_file(model_file)
    if cache_file.exists():
        return cache_file
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    fd, aside = tempfile.mkstemp(prefix=f".{cache_file.name}.", dir=cache_file.parent)
    os.close(fd)
    os.unlink(aside)  # lleaves writes its cache file only where none exists
    try:
        lleaves.Model(model_file=str(model_file)).compile(cache=aside, **COMPILE_OPTIONS)
        os.replace(aside, cache_file)
    finally:
        if os.path.exists(aside):
            os.unlink(aside)
    return cache_file


def compile_models(version_dir: Path) -> list[Path]:
    """Compile the LightGBM model texts that nightly scoring reads (`model*.txt`) of a version directory."""
    return [compile_model(model_file) for model_file in sorted(Path(version_dir).glob("model*.txt"))]
