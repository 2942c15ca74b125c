"""``trigdeploy`` command line: one verb per pipeline stage, all sharing one argument shape.

    trigdeploy data toptag|pythia|atlas-mini --out FILE [options]   generate one file
    trigdeploy data --config C [--set k=v …] [--force]              generate a config's files
    trigdeploy prepare --config C [--data FILE …] [--run-dir DIR] [--set k=v …]
    trigdeploy train --config C [--data FILE …] [--run-dir DIR] [--set k=v …]
    trigdeploy export --run DIR [--target FILE] [--set k=v …]
    trigdeploy csim --run DIR [--threads N] [--arithmetic auto|fast|vendor]
    trigdeploy bench --run DIR [--out DIR]     reads the run, its csim, synth and scan points
    trigdeploy synth --run DIR                 vendor C synthesis if installed; Yosys on every RTL design
    trigdeploy scan --run DIR [--sweep [BITS …]] [--pareto [BETA …]] [--grid KIND.KEY=V1,V2 …]

The parser turns arguments into typed values and calls library functions; library code never
sees the argparse namespace. User errors print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import signal
import sys
import threading
import typing
import warnings
from collections.abc import Sequence
from pathlib import Path

from trigdeploy import __version__, plugins
from trigdeploy.cli.scan import add_scan_command, cmd_scan, target_options
from trigdeploy.config import load_config
from trigdeploy.errors import TrigdeployError
from trigdeploy.generators import AtlasMiniGenConfig, PythiaGenConfig, ToptagGenConfig
from trigdeploy.io import stop_children
from trigdeploy.schema import CORES_MAX

GENERATORS = {
    "toptag": (ToptagGenConfig, "fast numpy top-vs-QCD jets, Top Quark Tagging reference layout (HDF5)"),
    "pythia": (
        PythiaGenConfig,
        "Pythia8 + FastJet jets: top vs QCD (same layout) or 5 classes in hls4ml's jet layout (needs the [gen] extra)",
    ),
    "atlas-mini": (AtlasMiniGenConfig, "ATLAS Open Data 8 TeV 'mini' tree (ROOT)"),
}

OPTION_HELP = {
    "jets": "number of jets to write",
    "events": "number of events to write",
    "seed": "random seed (same seed and chunk size: same file)",
    "signal_fraction": "fraction of top (signal) jets",
    "ttv": "split tag written to every row: 0 train, 1 test, 2 val",
    "chunk_size": "rows generated and appended at a time (memory ~ one chunk)",
    "n_constituents": "constituent slots per jet (the reference layout has 200)",
    "workers": "worker processes running Pythia",
    "pthat_min": "PhaseSpace:pTHatMin in GeV (lower: less spectrum bias, slower; default: the layout's)",
    "layout": "toptag (top vs QCD, Top Quark Tagging layout) or hls4ml_jets (g, q, W, Z, top; hls4ml's jet dataset)",
    "pt_min": "leading-jet pT minimum in GeV (default: the layout's window)",
    "pt_max": "leading-jet pT maximum in GeV (default: the layout's window)",
}

# Stages whose implementation has not landed yet, and the issue that brings each.
DEFAULT_TARGET = Path("export/targets/default.yaml")


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, batch systems): unwinds like Ctrl-C, so every partial output is removed."""


def _on_sigterm(signum, frame) -> typing.NoReturn:
    stop_children()  # tools running in worker threads (synth's Yosys jobs) stop now, not when they finish
    raise Terminated()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {CORES_MAX}, got {text!r}") from None
    if not 1 <= value <= CORES_MAX:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {CORES_MAX}, got {value}")
    return value


class _Format(logging.Formatter):
    """Progress lines as they are; warnings as ``trigdeploy: WARNING: …``."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        return text if record.levelno < logging.WARNING else f"trigdeploy: {record.levelname}: {text}"


@contextlib.contextmanager
def _logging(quiet: bool, verbose: bool):
    """One stderr handler on the ``trigdeploy`` logger for the duration of a command (stdout keeps the
    command's JSON result only)."""
    root = logging.getLogger("trigdeploy")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Format())
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


class _Parser(argparse.ArgumentParser):
    """argparse with errors in trigdeploy's one-line format, and options only by their whole names: argparse's
    prefix matching would take ``train --run R`` for ``--run-dir R`` (another command's option typed here) and
    ``scan --max-lut 1`` for ``--max-lut-estimate``, silently."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> typing.NoReturn:
        raise TrigdeployError(f"{self.prog}: {message}")


def _add_dataclass_options(parser: argparse.ArgumentParser, cls: type) -> None:
    """One ``--flag`` per field of a generator's parameter dataclass (same names as the YAML keys)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        optional = [a for a in typing.get_args(tp) if a is not type(None)]
        if type(None) in typing.get_args(tp) and len(optional) == 1:  # ``float | None``: the value's type
            tp = optional[0]
        if typing.get_origin(tp) is typing.Literal:
            choices = typing.get_args(tp)
            parser.add_argument(
                f"--{f.name.replace('_', '-')}",
                dest=f.name,
                type=type(choices[0]),
                choices=choices,
                default=f.default,
                help=f"{OPTION_HELP.get(f.name, '')} (default: {f.default})",
            )
        else:
            parser.add_argument(
                f"--{f.name.replace('_', '-')}",
                dest=f.name,
                type=tp,
                default=f.default,
                help=f"{OPTION_HELP.get(f.name, '')} (default: {f.default})",
            )


def _config_options(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--config", required=required, help="run config (YAML) in configs/")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a config key (repeatable); the value is parsed as YAML",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``trigdeploy`` command line: data, prepare, train, export, csim, bench, synth."""
    parser = _Parser(prog="trigdeploy", description="Trigger classifiers from collider data to FPGA firmware.")
    parser.add_argument("--version", action="version", version=f"trigdeploy {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", action="store_true", help="no progress bars, warnings and errors only")
    common.add_argument("-v", "--verbose", action="store_true", help="debug messages too")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)

    data = verbs.add_parser("data", parents=[common], help="generate data files in the public layouts")
    _config_options(data, required=False)
    data.add_argument("--force", action="store_true", help="regenerate files that exist")
    gens = data.add_subparsers(
        dest="generator",
        parser_class=_Parser,
        help="the generator to run (its options: trigdeploy data NAME --help); none: the files of --config's "
        "data.generate section",
    )
    for name, (cls, help_) in GENERATORS.items():
        g = gens.add_parser(name, parents=[common], help=help_, description=help_)
        g.add_argument("--out", required=True, type=Path, help="output file")
        _add_dataclass_options(g, cls)

    prepare = verbs.add_parser(
        "prepare",
        parents=[common],
        help="data stage of a run: label, leak-guarded features, splits, scaling, feature cache",
    )
    train = verbs.add_parser("train", parents=[common], help="train the float MLP, QAT MLP and BDT of a run")
    for p in (prepare, train):
        _config_options(p)
        p.add_argument("--data", nargs="+", metavar="FILE", help="read these files instead of data.files")
        p.add_argument("--run-dir", help="run directory (default: <runs_dir>/<name>)")
    train.add_argument("--resume", action="store_true", help="resume from the last checkpoint")

    _run_commands(verbs, common)
    return parser


def _run_commands(verbs, common: argparse.ArgumentParser) -> None:
    """The commands on an exported run: export, csim, bench, synth."""
    export = verbs.add_parser("export", parents=[common], help="export a run to ONNX, QONNX, hls4ml and conifer")
    export.add_argument("--run", required=True, help="run directory")
    export.add_argument("--target", help="export target file (default: export/targets/default.yaml)")
    export.add_argument(
        "--prebuild-csim",
        action="store_true",
        help="compile csim's builds of the projects (Verilator models, HLS testbenches) while exporting, on the "
        "core the export leaves idle: a csim after it finds them built",
    )
    target_options(export)
    csim = verbs.add_parser("csim", parents=[common], help="C-simulate the exported firmware against the references")
    csim.add_argument("--run", required=True, help="run directory (exported with trigdeploy export)")
    csim.add_argument(
        "--threads", type=_positive_int, help="OpenMP threads for the batched harness (default: all cores)"
    )
    csim.add_argument(
        "--arithmetic",
        choices=("auto", "fast", "vendor"),
        default="auto",
        help="ap_ headers for the whole split: trigdeploy's fast ones, cross-checked against the "
        "vendor's on a sample; the vendor's only; or auto (default): the vendor's where export's "
        "build runs the split in seconds, else fast",
    )
    bench = _bench_command(verbs, common)
    add_scan_command(verbs, common, _positive_int)
    synth = verbs.add_parser(
        "synth",
        parents=[common],
        help="vendor C synthesis (vitis_hls/vivado_hls) when installed; Yosys open synthesis of every RTL design",
    )
    synth.add_argument("--run", required=True, help="run directory (exported with trigdeploy export)")
    synth.add_argument(
        "--design",
        action="append",
        metavar="NAME",
        help="only this RTL design (repeatable; default: every one the export lists)",
    )
    synth.add_argument(
        "--jobs", type=int, default=None, metavar="N", help="designs synthesized at a time (default: one per core)"
    )
    synth.add_argument(
        "--max-lut-estimate",
        type=float,
        default=None,
        metavar="LUT",
        help="skip (with a line) RTL designs alkaid estimates above this, unless named by --design "
        "(default 100000: Yosys takes 2-4 min on a 51k-LUT design, 13-22 min and 5 GB on a 258k-LUT one)",
    )
    for p in (export, csim, bench, synth):
        p.add_argument(
            "--export-root",
            help="exported artifacts go to <root>/<run name> (default: export/ beside "
            "the run's runs/ folder, not the current directory)",
        )
        p.add_argument(
            "--firmware-root",
            help="firmware projects go to <root>/<run name> (default: firmware/ beside the run's runs/ folder)",
        )


def _bench_command(verbs, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``bench`` command."""
    bench = verbs.add_parser(
        "bench",
        parents=[common],
        help="physics, CPU latency, FPGA figures of a run and its scan points (trigdeploy scan), with verdicts",
    )
    bench.add_argument("--run", required=True, help="run directory (exported with trigdeploy export)")
    bench.add_argument("--out", help="results directory (default: benchmarks/results beside the run's runs/ folder)")
    return bench


def _cmd_data(args: argparse.Namespace) -> int:
    from trigdeploy.data.generate import WRITERS, generate_config_data

    progress = not args.quiet
    if args.generator is None:
        if not args.config:
            raise TrigdeployError("trigdeploy data: give a generator (toptag, pythia, atlas-mini) or --config")
        results = generate_config_data(load_config(args.config, args.overrides), args.force, progress)
    else:
        if args.config or args.overrides:
            raise TrigdeployError("trigdeploy data: --config/--set go before the generator name, not with it")
        cls, _ = GENERATORS[args.generator]
        params = cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})
        results = [WRITERS[args.generator.replace("-", "_")](params, args.out, progress)]
    for r in results:
        print(json.dumps(r, sort_keys=True))
    return 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    from trigdeploy import api

    cfg = load_config(args.config, args.overrides, args.data)
    run_dir = cfg.run_dir(args.run_dir)
    result = api.prepare(cfg, run_dir=run_dir, progress=not args.quiet)
    r = result.report
    print(
        json.dumps(
            {
                "run_dir": str(run_dir),
                "features": len(result.features),
                "dropped": len(r["dropped"]),
                "class_counts": r["class_counts"],
                "label_is_function_of_inputs": r["label_is_function_of_inputs"],
                "first_pass": result.build or "cache reused",
            },
            sort_keys=True,
        )
    )
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from trigdeploy import api

    cfg = load_config(args.config, args.overrides, args.data)
    run_dir = cfg.run_dir(args.run_dir)
    run = api.train(cfg, run_dir=run_dir, resume=args.resume, progress=not args.quiet)
    if run is None:  # a non-zero rank under torchrun: rank 0 reports
        return 0
    models = {k: {"auc": m.auc} for k, m in run.metrics.models.items()}
    print(json.dumps({"run_dir": str(run_dir), **models}, sort_keys=True))
    return 0


def _run(args: argparse.Namespace):
    """The run of ``--run`` with its roots (``--export-root``, ``--firmware-root``, bench's ``--out``)."""
    from trigdeploy import api

    return api.load_run(args.run, export_root=args.export_root, firmware_root=args.firmware_root,
                        results_root=getattr(args, "out", None))  # fmt: skip


def _cmd_export(args: argparse.Namespace) -> int:
    from trigdeploy import api

    run = _run(args)
    manifest = api.export(run, args.target or DEFAULT_TARGET, args.target_overrides, prebuild_csim=args.prebuild_csim)
    out = {"export": str(run.layout.export_dir), "models": sorted(manifest.models)}
    print(json.dumps({**out, "not_exported": sorted(manifest.not_exported)}, sort_keys=True))
    return 0


def _cmd_csim(args: argparse.Namespace) -> int:
    from trigdeploy import api

    run = _run(args)
    report = api.csim(run, threads=args.threads, arithmetic=args.arithmetic)
    mismatches = {k: p.n_mismatch for k, p in report.projects.items()}
    print(json.dumps({"csim": str(run.layout.csim_json), "ok": report.ok, "mismatches": mismatches}, sort_keys=True))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from trigdeploy import api

    report = api.bench(_run(args), progress=not args.quiet)
    first = {m: next(iter(by_form.values())) for m, by_form in report.auc.items()}  # each model's trained form
    print(json.dumps({"bench": str(report.json), "auc": first}, sort_keys=True))
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from trigdeploy import api
    from trigdeploy.bench.synthreport import DesignCount

    api.check_synth_options(args.jobs, args.max_lut_estimate, ("--jobs", "--max-lut-estimate"))
    run = _run(args)
    report = api.synth(run, designs=args.design or (), jobs=args.jobs, max_lut_estimate=args.max_lut_estimate)
    yosys = {n: d.lut if isinstance(d, DesignCount) else d.why for n, d in report.designs.items()}
    print(json.dumps({"vendor": sorted(report.vendor) or None, "synth": str(run.layout.synth_json), "yosys": yosys}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 user error, 130 interrupted, 143 terminated).
    A process that trained as a rank of a ``torchrun`` job ends here instead (``end_process``)."""
    from trigdeploy.train.distributed import end_process

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        status = _main(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    end_process(status)
    return status


def _main(argv: Sequence[str] | None) -> int:
    try:
        args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
        plugins.load()  # before any command: a plugin's kinds, forms and project types
        commands = {
            "data": _cmd_data,
            "prepare": _cmd_prepare,
            "train": _cmd_train,
            "export": _cmd_export,
            "csim": _cmd_csim,
            "bench": _cmd_bench,
            "synth": _cmd_synth,
            "scan": lambda a: cmd_scan(a, DEFAULT_TARGET),
        }
        with _logging(args.quiet, args.verbose):
            return commands[args.verb](args)
    except TrigdeployError as exc:
        print(f"trigdeploy: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # unwritable output, full disk, …: the OS's reason and the path
        print(f"trigdeploy: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except Terminated:
        _close_open_hdf5()
        print("trigdeploy: terminated (SIGTERM); partial outputs removed", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        _close_open_hdf5()
        print("trigdeploy: interrupted; partial outputs removed", file=sys.stderr)
        return 130


def _close_open_hdf5() -> None:
    """Close the HDF5 files a signal left open (it can land while PyTables opens or closes one, before the
    ``with`` that would close it owns it): their partial files are removed already, and PyTables would
    otherwise print a warning of its own at exit beside the one line the user gets."""
    tables = sys.modules.get("tables")
    if tables is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tables.file._open_files.close_all()


if __name__ == "__main__":
    sys.exit(main())
