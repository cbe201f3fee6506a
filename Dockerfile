# syntax=docker/dockerfile:1
# The amtriage image; the Helm chart's default is ghcr.io/amtriage/amtriage:<appVersion>.
#
#   docker build -t ghcr.io/amtriage/amtriage:0.1.0 .
#   docker run --rm -p 9095:9095 ghcr.io/amtriage/amtriage:0.1.0
#   docker run --rm -v "$PWD/my.yaml:/etc/amtriage/amtriage.yaml:ro" ghcr.io/amtriage/amtriage:0.1.0
#
# Two stages: the builder turns the project and its dependencies into wheels; the final image
# installs those wheels only (no compiler, no build step, no source tree) and runs as user 10001.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY receiver/ receiver/
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="amtriage" \
      org.opencontainers.image.description="Alertmanager webhook receiver that classifies alerts and forwards them annotated" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid 10001 amtriage \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin amtriage
# The wheels are bind-mounted from the builder, so they never land in a layer of this image.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels amtriage
WORKDIR /app
# The default config and the classifier rules (the config's classifier.rules_file is
# config/classifier.yaml, relative to /app); the chart mounts its own config over
# /etc/amtriage and keeps the outbox in /var/lib/amtriage.
COPY config/ config/
COPY config/amtriage.yaml /etc/amtriage/amtriage.yaml
RUN mkdir -p /app/data /var/lib/amtriage \
    && chown 10001:10001 /app/data /var/lib/amtriage
USER 10001:10001
EXPOSE 9095
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9095/healthz', timeout=4)"]
ENTRYPOINT ["python", "-m", "receiver"]
CMD ["serve", "--config", "/etc/amtriage/amtriage.yaml"]
