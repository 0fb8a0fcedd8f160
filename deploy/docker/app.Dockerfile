# syntax=docker/dockerfile:1
#
# The web app image (SPEC §13): the `serve` extra only, so neither torch nor xgboost is in it;
# models are served from ONNX. Runs as an unprivileged user and works on a read-only root file
# system once /tmp (and DATA_PATH, for SQLite) are writable mounts.
#
# Build from the repository root (scripts/build_push_deploy.sh does this):
#   docker build -f deploy/docker/app.Dockerfile --build-arg GIT_REVISION=$(git rev-parse HEAD) .

# Stage 1: build the package and its dependencies into a virtualenv that is copied as a whole.
FROM python:3.11.13-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH

WORKDIR /build
RUN python -m venv /opt/venv

COPY pyproject.toml README.md ./
COPY src ./src
# "./[extra]" rather than ".[extra]": the same for pip, and hadolint sees a local path (no DL3013).
RUN pip install --no-cache-dir "./[serve]"

# Stage 2: the runtime — the base image plus the virtualenv, no build context and no compilers.
FROM python:3.11.13-slim-bookworm AS runtime

RUN groupadd --system --gid 10001 rps \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/rps --create-home \
        --shell /usr/sbin/nologin rps \
    && install -d -o 10001 -g 10001 /data

COPY --from=build /opt/venv /opt/venv

# GIT_PYTHON_REFRESH: mlflow-skinny imports GitPython, which warns loudly when there is no git
# binary; the image has none on purpose.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATA_PATH=/data \
    MLFLOW_DISABLE_TELEMETRY=true \
    GIT_PYTHON_REFRESH=quiet

WORKDIR /home/rps
USER 10001:10001
EXPOSE 8000

# Liveness only: /ready (models loaded) is for Kubernetes' readiness probe, not for restarts.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

# Last, so a new revision rebuilds only this layer.
ARG GIT_REVISION=unknown
ENV GIT_REVISION=${GIT_REVISION}
LABEL org.opencontainers.image.title="rps-app" \
      org.opencontainers.image.description="RPS MLOps web app: game API, UI and model serving" \
      org.opencontainers.image.revision="${GIT_REVISION}"

CMD ["rps", "serve", "--host", "0.0.0.0", "--port", "8000"]
