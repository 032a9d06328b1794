# Thin wrapper around scripts/ and meson; see README.md.
#
#   make deps    install what the build needs (Debian packages)
#   make         build everything: the QEMU fork and our programs
#   make check   run every test; last line "N passed, N failed"
#   make fuzz    each libFuzzer target for FUZZ_SECONDS (60), as a table
#   make soak    the chaos suite for SOAK_ROUNDS (17) rounds of its 6
#                faults (102), with the counts per fault kind; then the
#                control plane's faults (3 etcd, 3 orchestrators, 16
#                launchers) for SOAK_CLUSTER_ROUNDS (10) rounds of 5,
#                and placements a second on SQLite and etcd (1, 3 members)
#   make demo    the main job, with embedded defaults
#   make bench   benchmarks, printed as tables
#   make density 256 model sessions on one server, 1,000 VMs on 16 (tables)

BUILD    ?= build
DM_CACHE ?= /var/cache/dm-build
export DM_CACHE

.PHONY: all deps qemu ours fuzz-build check fuzz soak demo bench density \
	clean distclean

all: qemu ours

deps:
	@scripts/deps.sh

qemu: deps
	@scripts/build-qemu.sh $(BUILD)

ours: deps
	@scripts/build-ours.sh $(BUILD)

# The libFuzzer targets: a clang build of their own (BUILD/fuzz).
fuzz-build: deps
	@scripts/build-fuzz.sh $(BUILD)

check: all fuzz-build
	@scripts/run-tests.sh $(BUILD)

fuzz: fuzz-build
	@scripts/run-fuzz.sh $(BUILD)

# Chaos, long: tests/chaos/chaos-test.sh, one fault of each kind a round.
SOAK_ROUNDS ?= 17
SOAK_CLUSTER_ROUNDS ?= 10
soak: all
	@tests/chaos/chaos-test.sh $(BUILD) $(SOAK_ROUNDS)
	@tests/scale/cluster-test.sh $(BUILD) 14 4 $(SOAK_CLUSTER_ROUNDS)
	@bench/placements.py $(BUILD)

demo: all
	@scripts/demo.sh $(BUILD)

bench: all
	@bench/run-bench.sh $(BUILD)

# No QEMU: models and a stand-in client (tests/scale/).
density: ours
	@bench/run-density.sh $(BUILD)

clean:
	rm -rf $(BUILD)

# Also drop the reusable QEMU build, the downloads and ccache.
distclean: clean
	rm -rf $(DM_CACHE)
