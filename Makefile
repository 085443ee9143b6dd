# The two set-up commands of the README: `make demo` and `make test`. Both install the Debian packages that are
# missing (nothing when all are present), configure and build into build/ (Release), then train the default
# example or run the whole test suite. `make bench` compares against PyTorch; it is never part of `make test`.
BUILD      ?= build
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

DEB_PACKAGES := cmake make g++ pkg-config git libcli11-dev libyaml-cpp-dev nlohmann-json3-dev libeigen3-dev \
                libhdf5-dev libfmt-dev doctest-dev zlib1g-dev libssl-dev python3 \
                libonnx-dev libprotobuf-dev protobuf-compiler curl \
                libcurl4-openssl-dev libarchive-dev \
                docker-registry skopeo umoci podman runc uidmap apache2-utils python3-jwt python3-cryptography jq \
                python3-sklearn dataset-fashion-mnist clang-format
BENCH_PACKAGES := python3-torch python3-sklearn python3-numpy python3-h5py libopenblas0-openmp time wrk

.PHONY: demo test bench soak deps bench-deps test-deps build configure clean gpu-bundle fuzz fuzz-build fuzz-deps \
        test-sanitize

demo: build
	./$(BUILD)/dlctl train configs/housing.yaml

test: build test-deps
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build bench-deps
	bench/run.sh $(BUILD)/dlctl $(BENCH_ARGS)

# The unit and CLI tests again under AddressSanitizer (with LeakSanitizer) and UBSan, gcc, in build-asan/ (no CUDA
# plugin, no -march=native); any report fails the test (halt_on_error). -O1: compiling the engine with the
# sanitizers costs more than running the tests. Only what those tests run is built (not the grad, slow and cuda
# tests). `.ci/run` runs it after `make test`.
SANITIZE_BUILD ?= build-asan
# Left out, to stay in CI's time: the three CLI tests that mostly train (every config, the ONNX comparisons, the
# image models: 8, 5 and over 10 minutes under ASan here); their kernels run under ASan in the unit tests.
SANITIZE_TESTS ?= -L 'unit|cli' -LE 'slow|cuda' -E '^cli_test_(configs_smoke|export_onnx|image_models)$$'
export ASAN_OPTIONS  ?= halt_on_error=1:detect_leaks=1
export UBSAN_OPTIONS ?= halt_on_error=1:print_stacktrace=1
test-sanitize: deps test-deps
	cmake -S . -B $(SANITIZE_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
	      -DDLCTL_SANITIZE=ON -DDLCTL_CUDA=OFF -DDLCTL_NATIVE=OFF $(CMAKE_ARGS)
	cmake --build $(SANITIZE_BUILD) -j $(JOBS) --target dlctl h5same fuzz_replay \
	    $(patsubst tests/unit/%.cpp,%,$(wildcard tests/unit/test_*.cpp))
	cd $(SANITIZE_BUILD) && ctest --output-on-failure -j $(JOBS) $(SANITIZE_TESTS)

# libFuzzer targets (fuzz/README.md), built with clang in build-fuzz/ and run one after the other for
# FUZZ_SECONDS each (FUZZ_TARGETS: a subset); findings under build-fuzz/findings/<target>/. Never part of
# `make test`, which replays the seed corpora and saved findings instead (fuzz_replay_* tests).
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= $(patsubst fuzz/fuzz_%.cpp,%,$(wildcard fuzz/fuzz_*.cpp))
FUZZ_PACKAGES := clang libclang-rt-14-dev
fuzz-deps:
	$(call install_missing,$(FUZZ_PACKAGES))

fuzz-build: deps fuzz-deps
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -DDLCTL_FUZZ=ON -DDLCTL_CUDA=OFF -DDLCTL_NATIVE=OFF \
	    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" $(CMAKE_ARGS)
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_all

fuzz: fuzz-build
	fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Not part of `make test`: dlctl serve under wrk for SOAK_SECONDS (600) with new versions, label changes and
# slowloris bursts; figures in RELIABILITY.md.
soak: build bench-deps
	bench/soak.sh $(BUILD)/dlctl

# apt-get only for what is missing; non-interactive; `apt-get update` first.
define install_missing
	@missing=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call install_missing,$(DEB_PACKAGES))

# The other tools the export tests prove our files in (PyPI, as Debian's python3-onnx is too old): onnx and
# onnxruntime for model.onnx, tensorflow-cpu for model.h5.
PIP_TEST_PACKAGES := onnx onnxruntime tensorflow-cpu
test-deps:
	@python3 -c 'import onnx, onnxruntime, tensorflow' 2>/dev/null || python3 -m pip install -q $(PIP_TEST_PACKAGES)

bench-deps:
	$(call install_missing,$(BENCH_PACKAGES))

configure: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# The folder bench/gpu.sh runs on a GPU machine (README: "The GPU"): built apart in build-gpu/ without
# -march=native, since the GPU machine's CPU may lack this one's instructions, and without package/push, whose
# libarchive would bring 30 MB of ICU data into a folder that must stay under 64 MiB.
gpu-bundle: deps
	cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DDLCTL_NATIVE=OFF -DDLCTL_CUDA=ON -DDLCTL_OCI=OFF
	cmake --build build-gpu -j $(JOBS) --target dlctl dlctl_cuda test_cuda_ops test_cuda_training
	bench/gpu/make_bundle.sh build-gpu gpu-bundle

clean:
	rm -rf $(BUILD) build-gpu gpu-bundle $(SANITIZE_BUILD) $(FUZZ_BUILD)
