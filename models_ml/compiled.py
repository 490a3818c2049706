"""LightGBM models compiled to machine code for nightly scoring.

Scoring a million users walks every tree of a model for every user; LightGBM's interpreter does that in
about 13 ns per tree and row on this project's machines, code compiled from the model's trees in about 4 ns.
lleaves generates and optimises the LLVM IR of a model's trees; LLVM emits it as an object file, kept beside
the model text in the version directory (`compiled/`) and linked into every later scoring process. The file's
name carries a hash of the model text, the compiler's versions and the compile options, so a changed model or
an upgraded compiler compiles again rather than loading code built for something else. The code is built for
the generic CPU of the machine's architecture, not for the machine's own: a version directory copied to
another machine of that architecture stays loadable.

The compiled model walks the same trees on the same double-precision values as LightGBM and applies the same
objective (sigmoid for `binary` and `cross_entropy`); only the order in which tree outputs are added differs,
so predictions agree with `Booster.predict` to about 1e-15 (tests hold them to 1e-10).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import lightgbm as lgb

COMPILED_DIR = "compiled"
ROOT_FUNCTION = "forest_root"
# Without inlining LLVM compiles a model of 500 trees in about 5 s instead of 30 s, for 25% slower code.
# Relocation model "static" with the "large" code model makes every reference to code or constants a 64-bit
# absolute address (R_X86_64_64): LLVM's in-process loader then places the code and its constants wherever
# memory is free. Position-independent code ("pic", lleaves' default) reaches them through GOT-relative
# offsets, which that loader resolves wrongly once a big process has put them more than 4 GB apart: the
# code then jumps to an address off by 2^32.
COMPILE_OPTIONS = {"finline": False, "fblocksize": 34, "cpu": "generic", "features": "", "reloc": "static",
                   "codemodel": "large"}
_SCRATCH: list[tempfile.TemporaryDirectory] = []  # compile_booster's directory, removed when the process ends
_ENTRY = ctypes.CFUNCTYPE(None, ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_double),
                          ctypes.c_int32, ctypes.c_int32)  # (rows, out, first row, end row); drops the GIL


class CompiledModel:
    """One LightGBM model text, compiled (or loaded from its compiled file) for `predict`."""

    def __init__(self, model_file: Path, num_threads: int = 1):
        from lleaves.data_processing import extract_model_global_features

        self.model_file = Path(model_file)
        self.num_threads = max(int(num_threads or os.cpu_count() or 1), 1)
        shape = extract_model_global_features(str(self.model_file))
        if shape["n_class"] != 1:
            raise ValueError(f"{self.model_file.name}: only single-output models are compiled")
        self._n_feature = int(shape["n_feature"])
        self.cache_file = compile_model(self.model_file)
        # the engine owns the loaded code: kept as long as the function that points into it
        self._engine = _load(self.cache_file.read_bytes())
        self._entry = _ENTRY(self._engine.get_function_address(ROOT_FUNCTION))

    def num_feature(self) -> int:
        return self._n_feature

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions for the rows of model matrix `x` (float64 C-ordered is read in place, others are copied)."""
        x = np.ascontiguousarray(x, dtype="float64")
        if x.ndim != 2 or x.shape[1] != self._n_feature:
            raise ValueError(f"{self.model_file.name} reads {self._n_feature} features, the matrix has shape "
                             f"{x.shape}")
        if len(x) >= 2**31 - 1:
            raise ValueError(f"{self.model_file.name}: score fewer than 2^31 rows at a time")
        out = np.zeros(len(x))
        data = x.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        result = out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        bounds = np.linspace(0, len(x), min(self.num_threads, max(len(x), 1)) + 1).astype(int)
        if len(bounds) == 2:
            self._entry(data, result, int(bounds[0]), int(bounds[1]))
        else:
            with ThreadPoolExecutor(len(bounds) - 1) as pool:
                list(pool.map(lambda lo, hi: self._entry(data, result, int(lo), int(hi)), bounds[:-1], bounds[1:]))
        return out


def _target_machine():
    import llvmlite.binding as llvm

    llvm.initialize()
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_triple(llvm.get_process_triple())
    return target.create_target_machine(cpu=COMPILE_OPTIONS["cpu"], features=COMPILE_OPTIONS["features"],
                                        reloc=COMPILE_OPTIONS["reloc"], codemodel=COMPILE_OPTIONS["codemodel"])


def _object_code(model_file: Path) -> bytes:
    """The model's trees as an object file: lleaves generates and optimises the LLVM IR, LLVM emits it."""
    from lleaves.compiler import compile_to_module

    module = compile_to_module(str(model_file), fblocksize=COMPILE_OPTIONS["fblocksize"],
                               finline=COMPILE_OPTIONS["finline"], raw_score=False, froot_func_name=ROOT_FUNCTION,
                               use_fp64=True)
    machine = _target_machine()
    module.data_layout = str(machine.target_data)
    return machine.emit_object(module)


def _load(code: bytes):
    """An execution engine holding the object file `code`, linked in this process."""
    import llvmlite.binding as llvm

    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), _target_machine())
    engine.add_object_file(llvm.ObjectFileRef.from_data(code))
    engine.finalize_object()
    return engine


def compiled_file(model_file: Path) -> Path:
    """Where the compiled code of `model_file` is kept: named by what it was compiled from and with."""
    import llvmlite.binding as llvm

    h = hashlib.sha256(Path(model_file).read_bytes())
    for part in (package_version("lleaves"), package_version("llvmlite"), ".".join(map(str, llvm.llvm_version_info)),
                 llvm.get_process_triple(), repr(sorted(COMPILE_OPTIONS.items()))):
        h.update(b"\0" + part.encode())
    return Path(model_file).parent / COMPILED_DIR / f"{Path(model_file).stem}-{h.hexdigest()[:16]}.o"


def compile_model(model_file: Path) -> Path:
    """The compiled file of `model_file`, compiled now if there is none yet (or copied, when this process
    compiled the same text with `compile_booster`).

    Written beside it, then renamed in: a reader never sees a partial file, and two processes compiling at
    once both leave a whole one.
    """

    cache_file = compiled_file(model_file)
    if cache_file.exists():
        return cache_file
    scratch = _scratch_file(Path(model_file).read_bytes(), Path(model_file).name) if _SCRATCH else None
    earlier = compiled_file(scratch) if scratch is not None and scratch.exists() else None
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    fd, aside = tempfile.mkstemp(prefix=f".{cache_file.name}.", dir=cache_file.parent)
    os.close(fd)
    try:
        if earlier is not None and earlier.exists():
            shutil.copyfile(earlier, aside)
        else:
            Path(aside).write_bytes(_object_code(Path(model_file)))
        os.replace(aside, cache_file)
    finally:
        if os.path.exists(aside):
            os.unlink(aside)
    return cache_file


def compile_booster(booster: lgb.Booster, file_name: str, num_threads: int = 1) -> CompiledModel:
    """A booster being trained, compiled as its version file `file_name` will be, for the trainer's own
    predictions (validation, calibration). The code is kept in a scratch directory for the rest of the process,
    and registering the version copies it instead of compiling the same text again."""
    text = booster.model_to_string().encode("utf-8")
    model_file = _scratch_file(text, file_name)
    if not model_file.exists():
        model_file.parent.mkdir(parents=True, exist_ok=True)
        model_file.write_bytes(text)
    return CompiledModel(model_file, num_threads)


def _scratch_file(text: bytes, file_name: str) -> Path:
    """Where `compile_booster` keeps a model text named `file_name` (by the text's hash)."""
    if not _SCRATCH:
        _SCRATCH.append(tempfile.TemporaryDirectory(prefix="vasmart-compiled-"))
    return Path(_SCRATCH[0].name) / hashlib.sha256(text).hexdigest()[:24] / file_name


def compile_models(version_dir: Path) -> list[Path]:
    """Compile the LightGBM model texts that nightly scoring reads (`model*.txt`) of a version directory."""
    return [compile_model(model_file) for model_file in sorted(Path(version_dir).glob("model*.txt"))]
