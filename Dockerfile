# One image for every piece: `locust-finisher webhook | finish | controller | ...`.
# Build: docker build -t ghcr.io/locust-finisher/locust-finisher:0.1.0 .

# The bases are arguments so that devcluster/images.py can build this offline with buildah,
# from local stand-ins for the two public images.
ARG BUILDER_IMAGE=ghcr.io/astral-sh/uv:python3.11-bookworm-slim
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BUILDER_IMAGE} AS builder
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=0
WORKDIR /app
# Dependencies first: this layer is reused until uv.lock changes. Absolute targets, as
# buildah rejects relative ones.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=/app/uv.lock \
    --mount=type=bind,source=pyproject.toml,target=/app/pyproject.toml \
    uv sync --locked --no-install-project --no-dev
COPY pyproject.toml uv.lock README.md ./
COPY app ./app
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable

# The same base as the builder, so the venv's interpreter path is valid.
FROM ${BASE_IMAGE}
COPY --from=builder /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:$PATH" PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# Numeric, so kubelet can verify runAsNonRoot; the injected finisher runs as this user too.
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["locust-finisher"]
CMD ["--help"]
