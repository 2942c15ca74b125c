# trigdeploy: each stage target is one `trigdeploy` CLI call; override CONFIG=, RUN=, DATA=
# (and for export-hls TARGET=, an export target file, and TARGET_SET="key=value …", keys of it: export --set).
# The first target that needs Python creates .venv and installs the package into it.

PYTHON ?= python3
VENV ?= .venv
EXTRAS ?= dev,gen,rtl
CONFIG ?= configs/toptag.yaml
RUN ?= runs/$(basename $(notdir $(CONFIG)))
DATA ?=
TARGET_SET ?=
PYTEST_ARGS ?=

TD := $(VENV)/bin/trigdeploy
STAMP := $(VENV)/.installed-$(EXTRAS)

SWEEP ?= 3 4 6 8
PARETO ?= 1e-6 2e-6 5e-6 1e-5 2e-5
# jets5's front: above 5e-6 its validation AUC collapses while the cost prunes, and the epoch rule keeps the
# unpruned first epoch (BENCHMARKS.md): make jets5 JETS5_PARETO="1e-6 2e-6 5e-6 1e-5 2e-5" scans them too
JETS5_PARETO ?= 1e-6 2e-6 5e-6
# and a narrower resource-aware MLP (16-16) trained from scratch at two β (layer widths as grid points; BENCHMARKS.md:
# at β = 5e-6 it is 10× cheaper than the 6-bit QAT MLP within 0.003 AUC of the float MLP, at the window's edge)
JETS5_GRID ?= hgq.hidden=[16,16] hgq.init=scratch hgq.epochs=120 hgq.lr=0.003 hgq.beta=2e-6,5e-6
# the BDT trained with its thresholds on coarser input grids (train.bdt.input_frac), each exported as logic:
# cheap trees by design, on the resource plot beside the run's models (any kind.key=v1,v2 works: GRID="a b"),
# and a narrower resource-aware MLP trained from scratch (16-16; a kind's keys: their product)
GRID ?= bdt.input_frac=2,4 hgq.hidden=[16,16] hgq.init=scratch hgq.epochs=80 hgq.lr=0.003 hgq.beta=2e-6
NPROC ?= 2
DESIGNS ?=
SCAN_MAX_LUT ?= 20000

.PHONY: help install hdl-tools demo jets5 jets5-100k toptag-l1-32 sets test test-slow test-all lint docs data prepare train train-ddp export-hls csim scan bench synth clean

help:
	@echo "make demo        set up, generate the default data and run every stage built so far"
	@echo "make sets        the demo's constituent-level taggers (configs/toptag_l1.yaml): train, export, csim, synth (make demo runs it)"
	@echo "make jets5       the five-class demo (g, q, W, Z, top; hls4ml's jet layout): data, train, export, csim, synth (the BDT as logic), the resource-aware front (scan), bench"
	@echo "make jets5-100k  by hand, not in CI: jets5 on 100,000 jets, its MLPs and a 32-particle Deep Sets folded 16 times beside them"
	@echo "make toptag-l1-32  by hand, not in CI, after make demo: Deep Sets on 32 particles' L1 words folded 16 times, benched beside the demo's models"
	@echo "make test        set up and run the test suite on $(NPROC) workers (make test-slow: the long checks; make test-all: both at once, as CI runs them)"
	@echo "make lint        ruff (lint + import order, configured in pyproject.toml)"
	@echo "make docs        the documentation site (docs/site/): config and CLI references generated from the code, the tutorial notebook executed, warnings as errors"
	@echo "make data        generate the data files of CONFIG ($(CONFIG))"
	@echo "make prepare     data stage of CONFIG: label, leak guard, splits, scaling, feature cache"
	@echo "make train       prepare the data and train every model of CONFIG into RUN"
	@echo "make train-ddp   the same with the MLPs on torch.distributed: NPROC=$(NPROC) processes (torchrun, gloo/nccl)"
	@echo "make export-hls  export RUN ($(RUN)): ONNX, QONNX, hls4ml projects (QAT bit-exact, float PTQ), conifer projects and the BDT as logic (BDT); csim's builds of them compiled meanwhile (--prebuild-csim)"
	@echo "make csim        C-simulate every firmware project of RUN on its whole test split (csim.json)"
	@echo "make scan        the design scan of RUN, each point a run in RUN/scan/ (trained, exported, simulated, Yosys-counted up to SCAN_MAX_LUT=$(SCAN_MAX_LUT) by alkaid's estimate; cached): the QAT sweep (SWEEP=\"$(SWEEP)\"), the resource-aware front (PARETO=\"$(PARETO)\") and grids of a kind's keys (GRID=\"$(GRID)\")"
	@echo "make bench       physics, CPU latency, FPGA figures and budget verdicts of RUN and its scan points (reads; trains nothing)"
	@echo "make synth       Yosys open synthesis of RUN's RTL designs (DESIGNS=\"a b\": only those; synth.json); vendor C synthesis if installed"
	@echo "make hdl-tools   GHDL and Yosys from Debian (VHDL BDT simulation, synthesis); a line and no install without apt/root"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

install: $(STAMP)

# the documentation site: its own extra (MkDocs, mkdocstrings, mkdocs-jupyter) on top of the install; the
# config and CLI references generated from the code, the results' plots copied in, the tutorial notebook
# executed while the site builds (mkdocs-jupyter), every warning an error (--strict)
DOCS_STAMP := $(VENV)/.installed-docs
$(DOCS_STAMP): $(STAMP)
	$(VENV)/bin/python -m pip install --quiet -e ".[$(EXTRAS),docs]"
	touch $@

docs: $(DOCS_STAMP)
	rm -rf docs/src/assets/results && mkdir -p docs/src/assets/results && cp benchmarks/results/*.png docs/src/assets/results/
	$(VENV)/bin/python -m trigdeploy.cli.reference docs/src/reference
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict -f docs/mkdocs.yml
	@echo "docs: docs/site/index.html"

# GHDL is on no Python registry, and the WASI Yosys of the [rtl] extra is capped at 4 GB of memory:
# Debian's ghdl (with ghdl-llvm, its compiling backend: ~2x the mcode interpreter's events/s) and yosys, when
# this machine can install them; otherwise one line, and csim/synth skip (or fall back to the WASI Yosys) with
# their own line. Debian's libjemalloc2 too: Yosys and Verilator run on it (hdl/tools.py: the same outputs, 1.4-1.9x faster).
HDL_PACKAGES := ghdl ghdl-llvm yosys
HDL_LIBS := libjemalloc.so.2=libjemalloc2
hdl-tools:
	@missing=""; for t in $(HDL_PACKAGES); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	for l in $(HDL_LIBS); do /sbin/ldconfig -p 2>/dev/null | grep -q "$${l%%=*}" || missing="$$missing $${l#*=}"; done; \
	if [ -z "$$missing" ]; then echo "hdl-tools: $$(ghdl --version | head -1); $$(yosys -V)"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  (apt-get install -y -q $$missing >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q $$missing >/dev/null)) \
	  && echo "hdl-tools: installed$$missing" \
	  || echo "hdl-tools: apt-get install$$missing failed; csim and synth skip what needs them"; \
	else echo "hdl-tools:$$missing not installed (Debian packages; apt-get as root); csim and synth skip what needs them"; fi

# the constituent-level taggers benched beside the demo's models (configs/toptag.yaml's bench.beside): Deep Sets
# on the 16 leading particles' L1 words, trained on the same file and split, exported, simulated and counted
SETS_CONFIG ?= configs/toptag_l1.yaml
sets: $(STAMP)
	$(MAKE) train export-hls csim synth CONFIG=$(SETS_CONFIG) RUN=runs/$(basename $(notdir $(SETS_CONFIG))) DESIGNS=

demo: hdl-tools data train export-hls csim synth scan sets bench
	@echo "demo: data, models ($(RUN)/metrics.json), export/ and firmware/ projects, $(RUN)/csim.json, $(RUN)/synth.json, benchmarks/results/"

# five classes end to end on configs/jets5.yaml (Pythia8 jets in hls4ml's jet layout): the resource-aware front, no sweep;
# synth (one Yosys run) beside the scan (five points on two workers): each alone leaves a core idle
# then the constituent-level taggers benched beside its models (configs/jets5.yaml's bench.beside): Deep Sets on the
# jets' 16 leading particles, trained on the same file and split, exported folded 8 times, simulated and counted
JETS5 := CONFIG=configs/jets5.yaml SWEEP= PARETO="$(JETS5_PARETO)" GRID="$(JETS5_GRID)" DESIGNS=bdt_rtl
JETS5_SETS := CONFIG=configs/jets5_sets.yaml RUN=runs/jets5_sets TARGET_SET=sets_rtl.fold=8 DESIGNS=
jets5: hdl-tools
	$(MAKE) data train export-hls csim $(JETS5)
	$(MAKE) -j2 -O synth scan $(JETS5)
	$(MAKE) train export-hls csim synth $(JETS5_SETS)
	$(MAKE) bench $(JETS5)

# by hand, not in CI (about half an hour on 2 cores): jets5 on 100,000 jets, its 16-feature MLPs (configs/jets5_100k.yaml)
# and Deep Sets on the 32 leading particles folded 16 times (configs/jets5_sets32.yaml, the default target's sets_rtl.fold),
# trained on the same file and split, exported, simulated, counted and benched beside them (BENCHMARKS.md)
JETS5_SETS32 := CONFIG=configs/jets5_sets32.yaml RUN=runs/jets5_sets32 TARGET_SET=sets_rtl.fold=16 DESIGNS=
jets5-100k: hdl-tools
	$(MAKE) data train export-hls csim synth CONFIG=configs/jets5_100k.yaml
	$(MAKE) train export-hls csim synth $(JETS5_SETS32)
	$(MAKE) bench CONFIG=configs/jets5_100k.yaml

# by hand, not in CI (10 minutes on 2 cores, 5 of them Yosys), after make demo: the demo's Deep Sets on the 32
# leading particles' L1 words (configs/toptag_l1_32.yaml, the input computation counted), folded 16 times, trained on
# the demo's file and split, exported, simulated, counted (its QAT design by name: alkaid's estimate is above synth's
# default limit) and benched beside the demo's jet-feature models and its 16-particle Deep Sets (BENCHMARKS.md)
TOPTAG_L1_32 := CONFIG=configs/toptag_l1_32.yaml RUN=runs/toptag_l1_32 TARGET_SET=sets_rtl.fold=16 DESIGNS=qdeepsets_rtl
toptag-l1-32: hdl-tools
	$(MAKE) train export-hls csim synth bench $(TOPTAG_L1_32)

# the suite on NPROC workers (pytest-xdist), a test file's tests on one worker, so that its module fixtures are
# built once (a session fixture: once per worker that uses it); TEST_WORKERS=0 runs it in this one process
TEST_WORKERS ?= $(NPROC)
XDIST = -n $(TEST_WORKERS) --dist loadfile
test: $(STAMP)
	$(VENV)/bin/python -m pytest $(XDIST) $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

test-slow: $(STAMP)
	$(VENV)/bin/python -m pytest -m slow $(XDIST) $(PYTEST_ARGS)

# both suites at once on the same workers, as CI runs them (the slow checks fill the gaps the default suite leaves)
test-all: $(STAMP)
	$(VENV)/bin/python -m pytest -m "not device" $(XDIST) $(PYTEST_ARGS)

data: $(STAMP)
	$(TD) data --config $(CONFIG)

prepare: $(STAMP)
	$(TD) prepare --config $(CONFIG) $(if $(DATA),--data $(DATA))

train: $(STAMP)
	$(TD) train --config $(CONFIG) $(if $(DATA),--data $(DATA))

train-ddp: $(STAMP)
	$(VENV)/bin/torchrun --standalone --nproc-per-node $(NPROC) -m trigdeploy train --config $(CONFIG) $(if $(DATA),--data $(DATA))

export-hls: $(STAMP)
	$(TD) export --run $(RUN) --prebuild-csim $(if $(TARGET),--target $(TARGET)) $(foreach s,$(TARGET_SET),--set '$(s)')

csim: $(STAMP)
	$(TD) csim --run $(RUN)

scan: $(STAMP)
	$(if $(SWEEP)$(PARETO)$(GRID),$(TD) scan --run $(RUN) $(if $(SWEEP),--sweep $(SWEEP)) $(if $(PARETO),--pareto $(PARETO)) $(foreach g,$(GRID),--grid '$(g)') --max-lut-estimate $(SCAN_MAX_LUT),@echo "scan: no SWEEP, PARETO or GRID points for $(RUN)")

bench: $(STAMP)
	$(TD) bench --run $(RUN)

synth: $(STAMP)
	$(TD) synth --run $(RUN) $(foreach d,$(DESIGNS),--design $(d))

clean:
	rm -rf $(VENV) .pytest_cache docs/site
