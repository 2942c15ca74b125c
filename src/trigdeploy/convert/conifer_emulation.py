"""conifer's C++ emulation (``conifer.h`` of its cpp backend), compiled with g++ and called through C entry points.

conifer builds its emulation as a pybind11 module (``bridge.cpp``) with ``os.system`` inside the project. trigdeploy
compiles the same ``conifer.h`` with the same typedefs conifer wrote into the project's ``bridge.cpp``, but with three
``extern "C"`` functions in place of the pybind11 module (load the trees from the project's JSON, score a batch of
rows, free): the emulation's arithmetic is conifer's, and the build skips pybind11's templates (it takes about 40 % of
the pybind11 module's compile time) and the call per row. The emulation reads the trees at run time, so its library is the same for
every model: with a cache it is compiled once per content key (compiler, flags, the preprocessed source).
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from trigdeploy import timing
from trigdeploy.cxx import harness
from trigdeploy.cxx.headers import ap_include, json_include
from trigdeploy.errors import TrigdeployError

_MODULE = re.compile(r"PYBIND11_MODULE\((conifer_bridge_\w+)")
_PYBIND_INCLUDE = re.compile(r"^#include <pybind11/[^>]*>\n", re.M)
LIBRARY = "emulation.so"
_C_API = """
extern "C" {
void* td_conifer_load(const char* path) {
  try { return new conifer::BDT<BDTConfig>(std::string(path)); } catch (...) { return nullptr; }
}
void td_conifer_free(void* bdt) { delete static_cast<conifer::BDT<BDTConfig>*>(bdt); }
int td_conifer_decision(const void* bdt, const double* x, long n, long n_in, double* out, long n_out) {
  try {
    const auto* b = static_cast<const conifer::BDT<BDTConfig>*>(bdt);
    for (long r = 0; r < n; ++r) {
      std::vector<double> y = b->_decision_function_double(std::vector<double>(x + r * n_in, x + (r + 1) * n_in));
      if (static_cast<long>(y.size()) != n_out) return 2;
      std::copy(y.begin(), y.end(), out + r * n_out);
    }
    return 0;
  } catch (...) { return 1; }
}
}
"""


def emulation_source(bridge: str, project: Path) -> str:
    """The C++ trigdeploy compiles for ``project``: conifer's ``bridge.cpp`` (its includes and typedefs) up to its
    pybind11 module, which the C entry points replace."""
    head, sep, _ = bridge.partition("namespace py = pybind11;")
    if not sep or _MODULE.search(bridge) is None:
        raise TrigdeployError(f"{project}/bridge.cpp: conifer's C++ writer output changed (expected conifer 1.11)")
    return _PYBIND_INCLUDE.sub("", head) + _C_API


def _command() -> list[str]:
    """The g++ command line of the emulation's library, without its source and output."""
    import conifer

    cpp_include = Path(conifer.__file__).parent / "backends" / "cpp" / "include"
    # -O1, not conifer's -O3: compiled per export cache, and it checks floats against XGBoost on every test row,
    # with no -ffast-math at either level
    flags = ["-O1", "-shared", "-std=c++14", "-fPIC"]
    return ["g++", *flags, f"-I{ap_include()}", f"-I{json_include()}", f"-I{cpp_include}"]


def _key(cmd: list[str], text: str) -> str | None:
    """Content key of the build: compiler, flags and the preprocessed source (every header it reads); None if it
    does not preprocess (the compile then fails with the compiler's own message)."""
    pre = subprocess.run(
        [cmd[0], "-E", "-P", *[c for c in cmd[1:] if c.startswith(("-I", "-std"))], "-x", "c++", "-"],
        input=text,
        capture_output=True,
        text=True,
    )
    if pre.returncode != 0:
        return None
    h = hashlib.sha256(
        "\0".join([harness.compiler_id(cmd[0]), *[c for c in cmd if not c.startswith("-I")], pre.stdout]).encode()
    )
    return h.hexdigest()[:16]


class Emulation:
    """conifer's C++ emulation of one project's trees, loaded from a built library: ``decision_function(x)`` scores
    every row of ``x`` (float64) into ``(n, n_out)`` (one column for a binary ensemble, K otherwise)."""

    def __init__(self, library: Path, trees_json: Path, n_out: int):
        lib = ctypes.CDLL(str(library))
        lib.td_conifer_load.restype, lib.td_conifer_load.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
        lib.td_conifer_free.restype, lib.td_conifer_free.argtypes = None, [ctypes.c_void_p]
        lib.td_conifer_decision.restype = ctypes.c_int
        lib.td_conifer_decision.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long, ctypes.c_long]
        lib.td_conifer_decision.argtypes += [ctypes.c_void_p, ctypes.c_long]
        self._lib, self.n_out, self.trees_json = lib, int(n_out), Path(trees_json)
        self._bdt = lib.td_conifer_load(str(trees_json).encode())
        if not self._bdt:
            raise TrigdeployError(f"{trees_json}: conifer's C++ emulation could not read the trees")
        self.n_features = int(json.loads(self.trees_json.read_text())["n_features"])  # read by conifer just now

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """The emulation's scores of every row of ``x``: ``(n, n_out)``."""
        x = np.ascontiguousarray(x, np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:  # conifer indexes a row by feature, unchecked
            raise TrigdeployError(
                f"{self.trees_json}: the emulation takes rows of {self.n_features} features, not shape {x.shape}"
            )
        out = np.empty((len(x), self.n_out), np.float64)
        status = self._lib.td_conifer_decision(
            self._bdt, x.ctypes.data, len(x), x.shape[1], out.ctypes.data, self.n_out
        )
        if status != 0:
            what = "returned another number of scores per row" if status == 2 else "failed"
            raise TrigdeployError(f"{self.trees_json}: conifer's C++ emulation {what} (expected {self.n_out})")
        return out

    def __del__(self):
        if getattr(self, "_bdt", None):
            self._lib.td_conifer_free(self._bdt)
            self._bdt = None


def build(project: Path, trees_json: Path, n_out: int, log: list[str], cache: Path | None = None) -> Emulation:
    """Compile conifer's C++ emulation of ``project`` (its ``bridge.cpp`` and ``conifer.h``) with g++ and load it
    with the trees of ``trees_json``. The compiler output is kept in ``log`` and a failure is one ``ToolFailed``
    naming the project. With a ``cache`` the library is compiled once per content key into it (and the project's
    module is named by that key: a deterministic name instead of conifer's time of day); without one, in a
    temporary folder."""
    from trigdeploy.io import build_lock, partial_name, publish_build

    project = Path(project).resolve()
    bridge = (project / "bridge.cpp").read_text()
    text, cmd = emulation_source(bridge, project), _command()
    key = _key(cmd, text) if cache is not None else None
    if key is None:
        with tempfile.TemporaryDirectory(prefix="td-conifer-cpp-") as tmp:
            _compile(cmd, text, Path(tmp), log, project)
            return Emulation(Path(tmp) / LIBRARY, trees_json, n_out)  # loaded: the folder may go
    (project / "bridge.cpp").write_text(_MODULE.sub(f"PYBIND11_MODULE(conifer_bridge_{key}", bridge))
    where = Path(cache) / f"conifer-cpp-{key}"
    with build_lock(where):
        if (where / LIBRARY).is_file():
            timing.add(f"compile {project.name} (conifer C++ emulation)", 0.0, True)
        else:
            staging = partial_name(where)
            _compile(cmd, text, staging, log, project)
            publish_build(staging, where, LIBRARY)
    return Emulation(where / LIBRARY, trees_json, n_out)


def _compile(cmd: list[str], text: str, folder: Path, log: list[str], project: Path) -> None:
    """g++ of ``text`` into ``folder/emulation.so`` (the folder removed if the compile fails), timed."""
    from trigdeploy.convert._tools import run_tool

    t0 = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "emulation.cpp").write_text(text)
    try:
        run_tool([*cmd, "emulation.cpp", "-o", LIBRARY], folder, log, "g++ (conifer C++ emulation)", project)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    timing.add(f"compile {project.name} (conifer C++ emulation)", time.perf_counter() - t0, False)
