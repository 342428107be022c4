# The two commands of the README: `make demo` and `make test`. Both set up what is missing first.
SHELL := /bin/bash
ORT_LIB := $(CURDIR)/.venv/libonnxruntime.so
CARGO_ENV := RASTRUM_ORT_LIB=$(ORT_LIB)
RELEASE := $(or $(CARGO_TARGET_DIR),target)/release

.PHONY: setup build demo test bench clean

setup:
	@scripts/setup.sh

# The CLI and librastrum find ONNX Runtime next to themselves.
build: setup
	cargo build --release --bins --lib
	ln -sf $(ORT_LIB) $(RELEASE)/libonnxruntime.so

demo: build
	@scripts/demo.sh

test: setup
	$(CARGO_ENV) cargo test --release -- --test-threads=2

bench: build
	$(CARGO_ENV) cargo bench --bench overhead

clean:
	cargo clean
	rm -rf out
