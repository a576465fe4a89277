# Container image of the exporter (and of the built-in simulator, for demos).
#
#   docker build -t thingspace-exporter .
#   docker run --rm -p 29811:29811 thingspace-exporter --demo
#
# PYTHON_IMAGE: any image with python3 and its venv module; the default is the official slim
# image. Offline builds: put wheels in wheelhouse/ (`pip wheel --wheel-dir wheelhouse .
# 'setuptools>=77' wheel`) and pass --build-arg PIP_NO_INDEX=1 so pip uses nothing else.
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
LABEL org.opencontainers.image.title="thingspace-exporter-builder"
# A build ARG is in the environment of RUN: pip reads PIP_NO_INDEX from there. Unset by default.
ARG PIP_NO_INDEX
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
# The context holds only what .dockerignore lets through: the package, its metadata, wheelhouse/.
WORKDIR /src
# Runtime dependencies only: pip, setuptools and wheel leave the environment once it is made,
# and so do the test suites some packages ship.
COPY . .
RUN set -eu; \
    if [ -d wheelhouse ]; then export PIP_FIND_LINKS=/src/wheelhouse; fi; \
    python3 -m venv /opt/thingspace; \
    /opt/thingspace/bin/python -m pip install --no-warn-script-location /src; \
    /opt/thingspace/bin/python -m pip uninstall --yes --quiet pip setuptools wheel; \
    find /opt/thingspace -depth -type d -name tests -exec rm -rf {} +; \
    /opt/thingspace/bin/thingspace-exporter --version

FROM ${PYTHON_IMAGE}
# Keep VERSION equal to thingspace_exporter.__version__ (a test checks it). SOURCE and REVISION:
# --build-arg SOURCE=$(git remote get-url origin) --build-arg REVISION=$(git rev-parse HEAD).
ARG VERSION=0.1.0
ARG SOURCE=""
ARG REVISION=""
LABEL org.opencontainers.image.title="thingspace-exporter" \
      org.opencontainers.image.description="Prometheus exporter for Verizon ThingSpace IoT fleets" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /opt/thingspace /opt/thingspace
# Nothing is written at run time: bytecode was compiled at install, logs go to stderr.
ENV PATH=/opt/thingspace/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# THINGSPACE_STATE_DIR's usual place: a named volume mounted here starts out writable by the user.
RUN mkdir -p /var/lib/thingspace-exporter && chown 65532:65532 /var/lib/thingspace-exporter
# Any unprivileged id works (e.g. Kubernetes' runAsUser); this one owns only the state directory.
USER 65532:65532
EXPOSE 29811
# The exporter stops within 2 s on SIGTERM, after logging out of the M2M session.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/opt/thingspace/bin/python", "-m", "thingspace_exporter.web.healthcheck"]
# Flags follow the image name: `docker run IMAGE --once`. The simulator:
# `docker run --entrypoint thingspace-simulator IMAGE --host 0.0.0.0`.
ENTRYPOINT ["/opt/thingspace/bin/thingspace-exporter"]
