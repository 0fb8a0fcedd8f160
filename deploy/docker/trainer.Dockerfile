# syntax=docker/dockerfile:1
#
# The trainer image (SPEC §13): the `train` extra (torch, xgboost, full MLflow) for the CLIs that
# train, promote and sync the serving cache, and for the MLflow tracking server itself. Runs as an
# unprivileged user; the CronJobs judge it by exit code, so it has no HEALTHCHECK.
#
# Build from the repository root (scripts/build_push_deploy.sh does this):
#   docker build -f deploy/docker/trainer.Dockerfile --build-arg GIT_REVISION=$(git rev-parse HEAD) .

# Stage 1: build the package and its dependencies into a virtualenv that is copied as a whole.
FROM python:3.11.13-slim-bookworm AS build

# Must equal the torch pin of pyproject.toml's `train` extra (tests/deploy checks it).
ARG TORCH_VERSION=2.13.0
# PyPI's Linux torch wheel pulls in the multi-GB CUDA stack; the CPU build is all training needs.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH

WORKDIR /build
# torch first and from the CPU index alone; the project's `torch==X` pin then finds it satisfied
# (`X+cpu` matches `==X`) and never asks PyPI for it.
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"

COPY pyproject.toml README.md ./
COPY src ./src
# "./[extra]" rather than ".[extra]": the same for pip, and hadolint sees a local path (no DL3013).
RUN pip install --no-cache-dir "./[train]"

# Stage 2: the runtime — the base image and the virtualenv (the hyperparameter configs are package
# data inside it; TRAINING_CONFIG_PATH may name another file, e.g. one mounted from a ConfigMap).
FROM python:3.11.13-slim-bookworm AS runtime

RUN groupadd --system --gid 10001 rps \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/rps --create-home \
        --shell /usr/sbin/nologin rps \
    && install -d -o 10001 -g 10001 /data

COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATA_PATH=/data \
    MLFLOW_DISABLE_TELEMETRY=true \
    GIT_PYTHON_REFRESH=quiet

WORKDIR /app
USER 10001:10001

# Batch jobs and the MLflow server (which has its own Kubernetes probes) both run from this image.
HEALTHCHECK NONE

ARG GIT_REVISION=unknown
ENV GIT_REVISION=${GIT_REVISION}
LABEL org.opencontainers.image.title="rps-trainer" \
      org.opencontainers.image.description="RPS MLOps training, promotion and MLflow server" \
      org.opencontainers.image.revision="${GIT_REVISION}"

CMD ["rps", "train-scheduled"]
