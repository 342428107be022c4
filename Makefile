# The two commands of the README: `make demo` and `make test`. Both set up what is missing first.
SHELL := /bin/bash
ORT_LIB := $(CURDIR)/.venv/libonnxruntime.so
CARGO_ENV := RASTRUM_ORT_LIB=$(ORT_LIB)
TARGET := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
RELEASE := $(TARGET)/release
STAGE := $(TARGET)/stage
PREFIX ?= /usr/local

.PHONY: plugin-repo wheel test-wheel test-qgis-chroots setup setup-test build-cli build demo test bench-detect test-architecture test-dask bench-dask bench-host test-bench test-fuzz fuzz test-examples test-rust test-c test-python test-qgis test-train build-train plugin-zip install stage header bench bench-train bench-gpu clean check-fresh

# What the demo needs (GDAL, ONNX Runtime's venv, the model); setup-test adds what the tests do.
setup:
	@scripts/setup.sh

setup-test:
	@scripts/setup.sh --test

# The CLI alone, which is all the demo runs; it finds ONNX Runtime next to itself.
build-cli: setup
	cargo build --release --bin rastrum
	ln -sf $(ORT_LIB) $(RELEASE)/libonnxruntime.so

# The CLI and librastrum find ONNX Runtime next to themselves.
# Also gdal_rastrum.so, GDAL's RASTRUM driver (target/release/libgdal_rastrum.so).
build: setup-test
	cargo build --release --bins --lib
	cargo build --release -p gdal_rastrum
	ln -sf $(ORT_LIB) $(RELEASE)/libonnxruntime.so

demo: build-cli
	@scripts/demo.sh

# Rust tests (including the check that include/rastrum.h is what cbindgen generates), then the
# C/C++ hosts against a staged install, the Python binding, the QGIS plugin in a real QGIS, and
# the trainer on libtorch, the five workflows of examples/ at their CI size, and the peers bench at
# a small size (its comparisons agree).
test: test-architecture test-rust test-c test-python test-wheel test-dask test-qgis test-qgis-chroots test-train test-examples test-bench test-fuzz

# The module rules of ARCHITECTURE.md: no import circle, no file over 600 lines or function over
# 100, unsafe only in src/ffi/ and src/raster/gdal.rs.
test-architecture:
	python3 scripts/check_architecture.py

# gdal_plugin's tests load the built driver (a cdylib, which `cargo test` does not build): build first.
test-rust: build
	$(CARGO_ENV) cargo test --release -- --test-threads=2
	$(CARGO_ENV) cargo test --release -p gdal_rastrum -- --test-threads=2

install: build
	scripts/install.sh $(PREFIX) $(RELEASE)

stage: build
	rm -rf $(STAGE)
	scripts/install.sh $(STAGE) $(RELEASE)
	cargo run --release --quiet --example make_models -- $(TARGET)/test-models

# A fresh CMake build tree every run (a cached variable must not hide a missing definition), and a
# variable used before it is set fails the configure.
test-c: stage
	rm -rf $(TARGET)/ctest
	cmake -S tests/c -B $(TARGET)/ctest --warn-uninitialized -Werror=dev -DCMAKE_PREFIX_PATH=$(STAGE) -DRASTRUM_PREFIX=$(STAGE) \
	  -DRASTRUM_SOURCE_DIR=$(CURDIR) -DRASTRUM_CLI=$(STAGE)/bin/rastrum -DRASTRUM_TEST_MODELS=$(TARGET)/test-models
	cmake --build $(TARGET)/ctest -j 2
	ctest --test-dir $(TARGET)/ctest --output-on-failure

test-python: stage
	scripts/fetch-detectors.sh
	RASTRUM_LIBRARY=$(STAGE)/lib/librastrum.so.2 RASTRUM_ORT_LIB=$(STAGE)/lib/libonnxruntime.so PYTHONPATH=$(CURDIR)/qgis_plugin \
	  RASTRUM_TEST_MODELS=$(TARGET)/test-models RASTRUM_CLI=$(STAGE)/bin/rastrum \
	  PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/python

# rastrum.dask on a real LocalCluster of worker processes (.venv-dask: pinned dask, distributed).
DASK_ENV = RASTRUM_LIBRARY=$(STAGE)/lib/librastrum.so.2 RASTRUM_ORT_LIB=$(STAGE)/lib/libonnxruntime.so PYTHONPATH=$(CURDIR)/qgis_plugin \
  PYTHONDONTWRITEBYTECODE=1
test-dask: stage
	$(DASK_ENV) .venv-dask/bin/python -m pytest -q -p no:cacheprovider tests/dask

# Speed-up of 1, 2 and 4 local Dask workers on one raster (bench/scale_out.py, one run).
bench-dask: stage
	$(DASK_ENV) .venv-dask/bin/python bench/scale_out.py

# ONNX Runtime's CUDA throughput against `rastrum run --device cuda` on the same tiles, batch 1-64
# Detection's peak memory and speed against the number of objects, up to 10^6 (BENCHMARKS.md).
bench-detect: build
	bench/peers/venv.sh
	/usr/bin/python3 bench/detections.py $(RELEASE)/rastrum --write --geodeep .venv-bench/bin/python

# (bench/gpu.sh: says "no CUDA device" and stops on a machine without one).
bench-gpu: build
	bench/gpu.sh

# The C API's plan, reader and stitcher driven by a host loop, against the engine (one run).
bench-host: stage
	$(DASK_ENV) /usr/bin/python3 bench/host_inference.py

# The wheel for GDAL scripts: the `rastrum` package, a portable librastrum (binds to the GDAL of
# osgeo, rasterio or pyogrio) and ONNX Runtime, in $(TARGET)/wheels.
wheel: build
	rm -f $(TARGET)/wheels/rastrum-*.whl
	python3 scripts/wheel.py $(TARGET)/wheels $(RELEASE) $(ORT_LIB)

# The wheel in a fresh venv with only numpy and rasterio's wheel (its own GDAL 3.10): pip's cache
# keeps the downloads.
test-wheel: wheel stage
	RASTRUM_WHEEL=$$(ls $(TARGET)/wheels/rastrum-*.whl) RASTRUM_CLI=$(STAGE)/bin/rastrum PYTHONDONTWRITEBYTECODE=1 \
	  /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/wheel

# The installable QGIS plugin: the provider plus librastrum and ONNX Runtime (CPU).
plugin-zip: build
	scripts/plugin_zip.sh $(TARGET)/rastrum-qgis-plugin.zip $(RELEASE)

# The custom QGIS plugin repository (plugins.qgis.org takes no compiled binaries): plugins.xml
# for the zip, to publish beside it at PLUGIN_BASE_URL (docs/qgis.md, "Install").
PLUGIN_BASE_URL ?= file://$(TARGET)
plugin-repo: plugin-zip
	python3 scripts/plugin_repository.py $(TARGET)/rastrum-qgis-plugin.zip $(PLUGIN_BASE_URL) $(TARGET)/plugins.xml

# tests/c/run_model.c is the C API's way into the model corpus (tests/qgis/test_corpus.py).
test-qgis: plugin-zip stage
	cc -std=c99 -Wall -Wextra -Werror -I $(STAGE)/include tests/c/run_model.c -L $(STAGE)/lib -lrastrum \
	  -Wl,-rpath,$(STAGE)/lib -o $(TARGET)/run_model
	RASTRUM_LIBRARY=$(RELEASE)/librastrum.so RASTRUM_ORT_LIB=$(ORT_LIB) RASTRUM_CLI=$(RELEASE)/rastrum \
	  RASTRUM_C_RUN=$(TARGET)/run_model \
	  RASTRUM_PLUGIN_ZIP=$(TARGET)/rastrum-qgis-plugin.zip RASTRUM_GDAL_PLUGIN=$(RELEASE)/libgdal_rastrum.so \
	  QT_QPA_PLATFORM=offscreen PYTHONDONTWRITEBYTECODE=1 RASTRUM_SCREENSHOTS=$(TARGET)/screenshots \
	  /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/qgis

# The same plugin zip in other QGIS and GDAL versions, each in a Debian chroot built once into
# ~/.cache (outside the clone): QGIS 3.40 / GDAL 3.10 (Debian 13) and QGIS 3.44 / GDAL 3.13
# (sid); its segmentation equals `rastrum run`'s bytes here.
test-qgis-chroots: plugin-zip stage
	scripts/debian_chroot.sh trixie $(HOME)/.cache/rastrum-trixie
	tests/qgis_chroot/qgis_in_chroot.sh $(HOME)/.cache/rastrum-trixie $(TARGET)/rastrum-qgis-plugin.zip \
	  $(STAGE)/bin/rastrum 3.40 3.10
	scripts/debian_chroot.sh sid $(HOME)/.cache/rastrum-sid
	tests/qgis_chroot/qgis_in_chroot.sh $(HOME)/.cache/rastrum-sid $(TARGET)/rastrum-qgis-plugin.zip \
	  $(STAGE)/bin/rastrum 3.44 3.13

# The trainer builds against the libtorch of PyTorch's wheel (tch's LIBTORCH_USE_PYTORCH).
TRAIN_ENV = LIBTORCH_USE_PYTORCH=1 PATH=$(CURDIR)/.venv-train/bin:$$PATH \
  LD_LIBRARY_PATH=$$(echo $(CURDIR)/.venv-train/lib/python3*/site-packages/torch/lib) $(CARGO_ENV)

# target/release/rastrum-train (libtorch's folder is recorded as its rpath).
build-train: setup
	@scripts/setup-train.sh
	$(TRAIN_ENV) cargo build --release -p rastrum-train

test-train: setup
	@scripts/setup-train.sh
	# One test thread: the tests seed tch's global generator and must not interleave.
	$(TRAIN_ENV) cargo test --release -p rastrum-train -- --test-threads=1

# The five workflows of examples/, each at its reduced CI size, checked against its bars.json.
EXAMPLES := population eurosat so2sat landcover_unet superres
test-examples: build build-train
	set -e; for e in $(EXAMPLES); do RASTRUM_SKIP_BUILD=1 examples/$$e/run.sh --ci; done

# Rewrites include/rastrum.h from src/ffi with the pinned cbindgen.
header:
	RASTRUM_UPDATE_HEADER=1 cargo test --release --test header

# Fuzzing (cargo-fuzz, libFuzzer, AddressSanitizer) of the card parser, option validation and the
# tiling planner, from the committed seeds. cargo-fuzz passes nightly flags: RUSTC_BOOTSTRAP=1
# lets the stable toolchain take them. test-fuzz is the bounded smoke run of `make test`;
# `make fuzz FUZZ_SECONDS=600` runs longer.
FUZZ_TARGETS := card options plan
FUZZ_SECONDS ?= 15
fuzz test-fuzz:
	@command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz@0.13.2
	set -e; for t in $(FUZZ_TARGETS); do mkdir -p fuzz/corpus/$$t; \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run -O $$t fuzz/corpus/$$t fuzz/seeds/$$t -- -max_total_time=$(FUZZ_SECONDS); done

# Rastrum against its peers in one run; rewrites BENCHMARKS.md's generated section and the plots.
bench: build
	bench/peers/run

# The same harness at small sizes: the comparisons agree (no speed judged, BENCHMARKS.md untouched).
test-bench: build
	bench/peers/run --quick
	/usr/bin/python3 bench/detections.py $(RELEASE)/rastrum --sizes 500,4000

# Train-step time of rastrum-train (tch) against the same architectures in PyTorch eager, as a
# ratio measured in one run (bench/train_step.rs, bench/train_step.py).
bench-train: setup
	@scripts/setup-train.sh
	$(TRAIN_ENV) cargo bench -p rastrum-train --bench train_step

# The README's two commands from a fresh clone with an empty HOME and target dir (scripts/check-fresh.sh).
check-fresh:
	scripts/check-fresh.sh

clean:
	cargo clean
	rm -rf out
