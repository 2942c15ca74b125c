"""QONNX → hls4ml project (Vitis or Vivado backend, ``io_parallel``), written, compiled and checked.

hls4ml writes the project; its firmware C++ is compiled and run by trigdeploy's batched harness
(``cxx.harness``, the vendor ``ap_`` headers: what hls4ml's own ``compile``/``predict`` compute),
into the build cache that ``csim`` then finds: the check and the C simulation share one build.

Recipe that makes the C simulation bit-exact to ``qonnx.core.onnx_exec`` (measured on this project's models): the
Brevitas model uses power-of-two quantizers and quantized biases; hls4ml's config comes from
``config_from_onnx_model(granularity="name")`` with result/accumulator precisions left ``auto``;
the input port is the QAT input quantizer's own fixed-point type and is fed inputs already on
that grid. hls4ml 1.3.0's "Failed to propagate quantization bias down Add node" warning is
harmless (removed upstream later); any other propagation warning rejects the conversion.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from trigdeploy.convert._tools import captured
from trigdeploy.convert.to_qonnx import InputQuantizer
from trigdeploy.errors import TrigdeployError
from trigdeploy.fixed import Precisions
from trigdeploy.targets import HLS4MLTarget

HARMLESS_WARNINGS = ("Failed to propagate quantization bias down Add node",)
PROJECT_NAME = "myproject"


def _build(
    frontend: str,
    model,
    cfg: dict,
    target: HLS4MLTarget,
    backend: str,
    out_dir: Path,
    testbench: tuple[np.ndarray, np.ndarray] | None,
):
    """Convert with hls4ml's ``frontend`` ("onnx" or "pytorch") and write the project with ``tb_data``."""
    import hls4ml

    cfg["Model"]["ReuseFactor"] = target.ReuseFactor
    cfg["Model"]["Strategy"] = target.Strategy
    for section in ("LayerName", "LayerType"):  # hls4ml's per-layer defaults (1) would override the model's
        for layer in cfg.get(section, {}).values():
            if "ReuseFactor" in layer:
                layer["ReuseFactor"] = target.ReuseFactor
    with tempfile.TemporaryDirectory() as tb_dir:
        tb_in = tb_out = None
        if testbench is not None:
            tb_in, tb_out = str(Path(tb_dir) / "input.npy"), str(Path(tb_dir) / "output.npy")
            np.save(tb_in, testbench[0].astype(np.float64))
            np.save(tb_out, testbench[1].astype(np.float64))
        converter = {
            "onnx": hls4ml.converters.convert_from_onnx_model,
            "pytorch": hls4ml.converters.convert_from_pytorch_model,
        }[frontend]
        hm = converter(
            model,
            output_dir=str(out_dir),
            project_name=PROJECT_NAME,
            backend=backend,
            hls_config=cfg,
            part=target.Part,
            clock_period=target.ClockPeriod,
            io_type=target.IOType,
            input_data_tb=tb_in,
            output_data_tb=tb_out,
        )
        hm.write()
        _check_reuse(hm, target.ReuseFactor)  # after the backend's passes, which replace an invalid factor
    return hm


def _check_reuse(hm, reuse: int) -> None:
    """Every layer uses the target's reuse factor, or the export stops: hls4ml replaces a factor that does
    not divide a layer's multiplications by a valid one, and the manifest and bench would describe a
    design that does not exist."""
    for layer in hm.get_layers():
        used = layer.get_attr("reuse_factor")
        if used is not None and used != reuse:
            raise TrigdeployError(
                f"hls4ml.ReuseFactor {reuse} is not valid for layer {layer.name} (hls4ml would use "
                f"{used}); choose a factor every layer accepts"
            )


def convert(
    m,
    target: HLS4MLTarget,
    backend: str,
    out_dir: Path,
    quantizer: InputQuantizer,
    testbench: tuple[np.ndarray, np.ndarray] | None,
    log: list[str],
):
    """Write and compile the hls4ml project of QONNX model ``m`` in ``out_dir``; returns the model."""
    import hls4ml

    with captured(log, f"hls4ml {backend} → {out_dir}") as caught:
        cfg = hls4ml.utils.config.config_from_onnx_model(m, granularity="name", backend=backend)
        cfg["LayerName"][m.graph.input[0].name]["Precision"]["result"] = quantizer.hls_type
        hm = _build("onnx", m, cfg, target, backend, Path(out_dir), testbench)
    bad = [
        str(w.message)
        for w in caught
        if "propagat" in str(w.message).lower() and not any(h in str(w.message) for h in HARMLESS_WARNINGS)
    ]
    if bad:
        raise TrigdeployError(f"hls4ml {backend}: quantization did not convert cleanly: {bad[0]}")
    return hm


def check(hm, x_grid: np.ndarray, reference: np.ndarray, cache: Path) -> dict:
    """C simulation (``predict``) of every row of ``x_grid`` against the reference outputs."""
    from trigdeploy.logits import compare

    return compare(predict(hm, x_grid, cache), reference)


def _output_text(n_outputs: int) -> str:
    if n_outputs == 1:
        return "one logit (signal when above the threshold chosen in the run's `metrics.json`)."
    return (
        f"{n_outputs} logits, one per class in the order of the run's `metrics.json` `classes`; no softmax "
        "in the firmware (a trigger compares a logit, or a difference of two, with a threshold)."
    )


def write_readme(
    out_dir: Path,
    backend: str,
    target: HLS4MLTarget,
    model_name: str,
    n_inputs: int,
    input_text: str,
    check_text: str,
    n_outputs: int = 1,
) -> None:
    """The project's README: target, ports, how it was checked and how to build it with the vendor tool."""
    tool = "vitis_hls" if backend == "Vitis" else "vivado_hls"
    text = f"""# {model_name}: hls4ml {backend} project (generated by trigdeploy; do not edit by hand)

* Part `{target.Part}`, clock period {target.ClockPeriod} ns, `{target.IOType}`, reuse factor
  {target.ReuseFactor}, strategy {target.Strategy}.
* Input: {n_inputs} features, standardised with `preprocess.json` (in the run's export directory),
  {input_text}
* Output: {_output_text(n_outputs)}
* {check_text}

Run the C simulation and synthesis with the vendor tool:

    {tool} -f build_prj.tcl "csim=1 synth=1 cosim=0 export=0"

Change the design through the trigdeploy run config or export target and export again.
"""
    (out_dir / "README.md").write_text(text)


def convert_ptq(
    model,
    n_inputs: int,
    choice: Precisions,
    target: HLS4MLTarget,
    backend: str,
    out_dir: Path,
    testbench: tuple[np.ndarray, np.ndarray] | None,
    log: list[str],
):
    """Write and compile the hls4ml project of a PyTorch Linear/ReLU MLP at the precisions of ``choice``."""
    import hls4ml

    with captured(log, f"hls4ml PTQ {backend} → {out_dir}"):
        cfg = hls4ml.utils.config.config_from_pytorch_model(
            model, input_shape=(n_inputs,), granularity="name", backend=backend
        )
        return _build("pytorch", model, hls_config(cfg, choice), target, backend, Path(out_dir), testbench)


def layer_precisions(choice: Precisions) -> dict[str, dict[str, str]]:
    """A precision record under hls4ml's layer names for a PyTorch ``nn.Sequential`` (``input_1`` for the
    port, ``_<i>`` for layer ``i``), each type in hls4ml's spelling: what its ``LayerName`` config takes."""
    return {"input_1": {"result": choice.port.hls4ml}, **{f"_{p.index}": p.as_dict() for p in choice.layers}}


def hls_config(base: dict, choice: Precisions) -> dict:
    """``base`` (from ``config_from_pytorch_model``) with the record's precisions filled in."""
    for name, entry in layer_precisions(choice).items():
        prec = base["LayerName"][name]["Precision"]
        for key, value in entry.items():
            if key in prec:
                prec[key] = value
    return base


def predict(hm, x: np.ndarray, cache: Path) -> np.ndarray:
    """C simulation of every row of ``x`` by the project's firmware against the vendor ``ap_`` headers (the
    batched harness, built in or found in the build cache ``cache``): logits ``(n,)`` or ``(n, K)``."""
    from trigdeploy.cxx import harness
    from trigdeploy.logits import as_logits

    h, _ = harness.load(Path(hm.config.get_output_dir()), cache, arithmetic="vendor")
    return as_logits(h.run(x), len(x))
