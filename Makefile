# locust-finisher: the two commands the README promises, and their parts.
#   make run   - the demo: a load test on a local Kubernetes, finished by locust-finisher
#   make test  - every check and every test (lint, types, layering, unit, processes, cluster)
# Caches live outside the repository (~/.cache/uv, ~/go, ~/.cache/go-build,
# ~/.cache/locust-finisher), so a warm machine skips every download and build.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
# Containers of the local cluster run as non-root users, so the interpreter must live where
# they can read it: Debian's, not one under /root (pyenv).
export UV_PYTHON ?= $(shell command -v /usr/bin/python3.11 || command -v python3.11 || command -v python3)
export UV_LINK_MODE := copy
UV_VERSION := 0.13.9
UV := uv
# Every Debian package the project needs on the host, from its one list (the preflight and
# every check for a tool read the same file): HOST_PACKAGES.
include devcluster/host-packages.mk
# The oldest Kubernetes we support; `make test` runs the end-to-end subset on it too.
OLDEST_KUBERNETES := 1.28
RUN := $(UV) run --locked

.PHONY: run test setup preflight build build-all images images-arm64-check push lint test-side-by-side test-off-node test-unit test-package test-processes test-cluster bench \
	clean-cluster release-manifests

# The preflight comes first: a machine that cannot run the cluster says so in the first minute.
run: setup preflight build
	$(RUN) python -m devcluster.demo

test: setup preflight lint test-unit build-all test-side-by-side

setup:
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --locked --quiet
	@missing=$$(for p in $(HOST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

preflight: setup
	$(RUN) python -m devcluster.preflight

# What the demo runs: the newest Kubernetes, containerd, CoreDNS, etcd, Prometheus and the images.
# helm, cert-manager and actionlint are built by the first test that uses them.
build: setup images
	$(RUN) python -m devcluster.build

# Also the oldest Kubernetes we support, which only the cluster tests run.
build-all: build
	$(RUN) python -m devcluster.build $(OLDEST_KUBERNETES)

# Every image the local node runs, ours from the Dockerfile's two targets, built offline with
# buildah; prints each one's uncompressed size. `make images ARCH=arm64`: only our two images
# and their bases, for arm64, with qemu-user (docs/local-cluster.md). ARCH counts only on the
# command line: in the environment it often names a kernel's architecture.
IMAGES_ARCH := $(if $(filter command line,$(origin ARCH)),$(ARCH),amd64)
images: setup
	$(RUN) python -m devcluster.images --arch $(IMAGES_ARCH)

# Our two images for arm64 (built if missing), then `locust-finisher --version` in each, run
# under qemu-user on this amd64 machine.
images-arm64-check: setup
	$(RUN) python -m devcluster.images --arch arm64 --check

# Until the first release nothing is published: our two images (built as `make images` builds
# them, if missing) pushed with skopeo to REGISTRY/locust-finisher:VERSION and
# REGISTRY/finisher:VERSION, the tag the chart installs. `make push REGISTRY=host[:port]/path`;
# with ARCH=arm64, the arm64 ones under that tag. A registry on loopback is spoken to over
# plain HTTP, as Docker does.
push: setup
	$(if $(REGISTRY),,$(error make push needs REGISTRY=host[:port]/path, e.g. REGISTRY=registry.example.com/platform))
	$(RUN) python -m devcluster.push --arch $(IMAGES_ARCH) $(REGISTRY)

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(RUN) lint-imports
	$(RUN) python -m release.lint_workflows
	$(RUN) python -m release.version check

# Both cores: most unit tests are a CLI or a server in a subprocess.
test-unit: setup
	$(RUN) pytest -m "not processes and not cluster and not package" -n 2

# The sdist and wheel: built, twine-checked, installed and run on Python 3.11-3.13 (venv, uvx,
# pipx, and the finisher image's --no-deps layout); prints each step's wall time.
test-package: setup
	$(RUN) pytest -m package

# Three at a time: each waits on Locust's clock in its own PID and network namespaces.
test-processes: setup
	$(RUN) pytest -m processes -n 3

# The cluster tests mostly wait on Locust's clock on the node; the package and process tests,
# which need no node, run beside them. Each part's output is printed whole when it ends.
test-side-by-side: setup build-all
	$(MAKE) --no-print-directory --output-sync=target -j2 test-cluster test-off-node

test-off-node: test-package test-processes

# The slowest tests are listed at the end: where the stage's time goes.
test-cluster: setup build-all
	$(RUN) pytest -m cluster --durations=12
	LOCUST_FINISHER_KUBERNETES=$(OLDEST_KUBERNETES) $(RUN) pytest -m "cluster and oldest"

bench: setup build
	$(RUN) python -m bench.webhook_bench
	$(RUN) python -m bench.webhook_fuzz --reviews 20000
	$(RUN) python -m bench.receiver_fuzz --bodies 20000
	$(RUN) python -m bench.finisher_bench
	$(RUN) python -m bench.finisher_memory
	$(RUN) python -m bench.controller_bench
	$(RUN) python -m bench.time_to_verdict

# The install manifests a GitHub release attaches (release.yml), rendered from manifests/.
release-manifests: setup
	$(RUN) python -m release.release_manifests dist/release

# Removes what a killed cluster left behind: processes, pods, mounts, cgroups, links, firewall
# chains, and the sysctls the kubelet changed.
clean-cluster: setup
	$(RUN) python -m devcluster.clean
