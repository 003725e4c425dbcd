# interop -- the two commands a new user needs:  make run  |  make test
# (make bench runs the benchmarks; make build only builds build/interop)
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build run test test-asan test-clang bench clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j$(JOBS)

# Builds, generates a demo population into ./var, loads it and serves the API on 127.0.0.1:8080.
run: build
	@scripts/run-demo.sh

# The whole test suite, under AddressSanitizer and UndefinedBehaviorSanitizer, then a
# warnings-as-errors build with clang.
test: test-asan test-clang

test-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIOP_SANITIZE=ON -DIOP_BENCH=OFF -DIOP_WERROR=ON >/dev/null
	@cmake --build build-asan -j$(JOBS)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j$(JOBS)

test-clang: deps
	@CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release -DIOP_WERROR=ON >/dev/null
	@cmake --build build-clang -j$(JOBS) >/dev/null && echo "clang -Wall -Wextra -Werror build: ok"

# Benchmarks print their figures and the ratio to each anchor.  IOP_BENCH_SCALE=small
# runs them on reduced sizes for a quick look.
bench: build
	@IOP_BENCH_DEPS=1 scripts/install-deps.sh
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DIOP_BENCH=ON >/dev/null
	@cmake --build build -j$(JOBS)
	@scripts/run-bench.sh

clean:
	rm -rf build build-asan build-clang
