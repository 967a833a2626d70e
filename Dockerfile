# The two images of a release, as build targets of one file:
#   --target app       ghcr.io/locust-finisher/locust-finisher  webhook, controller and CLI
#   --target finisher  ghcr.io/locust-finisher/finisher         the container injected into every
#                                                               managed master pod
# The finisher needs only the standard library, so its image is a bare Debian Python with our
# wheel installed without dependencies: every test pod pulls it, and it stays under 60 MB.
#
#   docker build --target app -t ghcr.io/locust-finisher/locust-finisher:0.2.0 .
#   docker build --target finisher -t ghcr.io/locust-finisher/finisher:0.2.0 .
#
# Plain Dockerfile syntax (RUN --mount is understood by buildah too), so that `make images`
# builds both offline with buildah: devcluster/images.py passes local stand-ins for the bases,
# made from Debian packages, through the build arguments below.

# Debian 12's Python 3.11 in both, so the venv and the wheel run on the interpreter they were
# built with. Digests as published when pinned; bump them with the tag.
ARG BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b
ARG FINISHER_BASE_IMAGE=gcr.io/distroless/python3-debian12:nonroot@sha256:7d1042ce588ab97019fe95c24ffca7bc5a82ccdac572511d5e09bda4435c89c5
ARG UV_VERSION=0.13.9
ARG VERSION=0.2.0
ARG REVISION=unknown

FROM ${BASE_IMAGE} AS builder
ARG UV_VERSION
# pip and uv trust the system bundle, so a build behind a TLS-inspecting proxy works when the
# proxy's CA is mounted over it.
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt UV_NATIVE_TLS=1 \
    UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=0 UV_PYTHON=python3.11
RUN python3 -m venv /opt/uv \
 && /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
WORKDIR /app
# Dependencies first: this layer is reused until uv.lock changes. Absolute targets, as
# buildah rejects relative ones.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=/app/uv.lock \
    --mount=type=bind,source=pyproject.toml,target=/app/pyproject.toml \
    /opt/uv/bin/uv sync --locked --no-install-project --no-dev
COPY pyproject.toml uv.lock README.md LICENSE ./
COPY app ./app
RUN --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv sync --locked --no-dev --no-editable
# The finisher's tree: our wheel alone, compiled, and a launcher that runs it isolated
# (-I: no PYTHON* variables, no user site) on Debian's interpreter, where both bases keep it.
RUN --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv build --wheel --out-dir /tmp/wheel \
 && /opt/uv/bin/uv pip install --no-deps --target /opt/locust-finisher /tmp/wheel/*.whl \
 && rm -rf /opt/locust-finisher/bin \
 && python3 -m compileall -q /opt/locust-finisher \
 && mkdir -p /opt/locust-finisher/bin \
 && printf '%s\n' '#!/usr/bin/python3.11 -I' 'import sys' \
      'sys.path.insert(0, "/opt/locust-finisher")' \
      'from app.cli.main import main' 'sys.exit(main())' \
      > /opt/locust-finisher/bin/locust-finisher \
 && chmod 0755 /opt/locust-finisher/bin/locust-finisher

FROM ${FINISHER_BASE_IMAGE} AS finisher
ARG VERSION
ARG REVISION
COPY --from=builder /opt/locust-finisher /opt/locust-finisher
ENV PATH=/opt/locust-finisher/bin:/usr/local/bin:/usr/bin:/bin PYTHONUNBUFFERED=1
LABEL org.opencontainers.image.title="locust-finisher-finisher" \
      org.opencontainers.image.description="The in-pod finisher of locust-finisher: ends a Locust master pod's exporter once the test is over and its final numbers are scraped" \
      org.opencontainers.image.source="https://github.com/locust-finisher/locust-finisher" \
      org.opencontainers.image.url="https://github.com/locust-finisher/locust-finisher" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# Numeric, so kubelet can verify runAsNonRoot. Nothing is written at run time: the root
# filesystem may be read-only.
USER 65532:65532
ENTRYPOINT ["locust-finisher"]
CMD ["finish"]

# Last, so that a plain `docker build .` gives the webhook/controller/CLI image.
FROM ${BASE_IMAGE} AS app
ARG VERSION
ARG REVISION
COPY --from=builder /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:$PATH" PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
LABEL org.opencontainers.image.title="locust-finisher" \
      org.opencontainers.image.description="locust-finisher: the admission webhook, the controller and the CLI" \
      org.opencontainers.image.source="https://github.com/locust-finisher/locust-finisher" \
      org.opencontainers.image.url="https://github.com/locust-finisher/locust-finisher" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["locust-finisher"]
CMD ["--help"]
