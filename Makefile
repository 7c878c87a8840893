# The README's commands: `make run`, `make test`, `make bench`, `make bench-guest`. Each installs what it needs first.
JOBS ?= $(shell nproc)
BUILD ?= build
FUZZ_BUILD ?= build-fuzz

.PHONY: all build run test bench bench-guest fuzz-build clean

all: build

build:
	@tools/deps.sh build
	cmake -S . -B $(BUILD) -DTARGE_FUZZ_BUILD_DIR=$(CURDIR)/$(FUZZ_BUILD) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# With an RDMA device, the same config plus iSER and SRP portals on its addresses (tools/run-config.sh).
run: build
	@mkdir -p var
	@tools/run-config.sh config/default.conf > $(BUILD)/run.conf
	@if cmp -s config/default.conf $(BUILD)/run.conf; then conf=config/default.conf; \
	else conf=$(BUILD)/run.conf; echo "RDMA device found: serving $$conf (iSER and SRP portals added)"; fi; \
	echo "$(BUILD)/targed -c $$conf"; exec $(BUILD)/targed -c $$conf

fuzz-build:
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DTARGE_FUZZ=ON >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

test:
	@tools/deps.sh test
	$(MAKE) --no-print-directory fuzz-build build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# BENCH_GUEST=1: after the loopback comparison, the guest one (bench-guest) as well.
bench:
	@tools/deps.sh bench
	$(MAKE) --no-print-directory build
	bench/run.sh
	@if [ "$(BENCH_GUEST)" = 1 ]; then BUILD=$(BUILD) bench/guest.sh; fi

# targed against LIO through the Linux initiators (iscsi_tcp, iSER, SRP) in one QEMU guest boot.
bench-guest:
	@tools/deps.sh test
	$(MAKE) --no-print-directory build
	BUILD=$(BUILD) bench/guest.sh

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)
