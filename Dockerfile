# abgate's container image: the gateway (`abgate serve`, the default) and the worker
# (`abgate worker`), runtime dependencies only (no torch, no test tools), as a non-root user.
#
#   podman build --format docker -t abgate .      (docker build -t abgate .)
#
# --format docker keeps the HEALTHCHECK (podman's default OCI format drops it).
# Build arguments:
#   BASE       an image with python3 >= 3.11 and its venv module (default python:3.11-slim-bookworm;
#              the container test uses a Debian base it builds itself with debootstrap)
#   WHEELHOUSE a folder of wheels inside the build context (e.g. var/wheelhouse, filled by
#              `pip wheel --wheel-dir var/wheelhouse . setuptools`): install from it alone,
#              without an index (offline builds); empty (the default): from PyPI
ARG BASE=docker.io/library/python:3.11-slim-bookworm

FROM ${BASE} AS build
ARG WHEELHOUSE=
# Only what the install reads (.dockerignore keeps the rest of the checkout out).
# The optional wheelhouse: `var*` may match nothing (README.md keeps the COPY valid then).
COPY README.md var* /src/var/
COPY pyproject.toml README.md /src/
# The runtime dependencies first, from pyproject.toml alone (no extras): a layer that a change
# to the sources leaves cached.
RUN python3 -m venv /opt/abgate \
 && python3 -c "import tomllib; print(*tomllib.load(open('/src/pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" > /src/requirements.txt \
 && /opt/abgate/bin/pip install --no-cache-dir --disable-pip-version-check \
      ${WHEELHOUSE:+--no-index --find-links /src/$WHEELHOUSE} -r /src/requirements.txt
COPY gateway /src/gateway
COPY stats /src/stats
COPY sim /src/sim
RUN /opt/abgate/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps \
      ${WHEELHOUSE:+--no-index --find-links /src/$WHEELHOUSE} /src \
 && /opt/abgate/bin/pip uninstall --yes --disable-pip-version-check setuptools pip \
 && /opt/abgate/bin/abgate --version

FROM ${BASE}
ARG UID=10001
LABEL org.opencontainers.image.title="abgate" \
      org.opencontainers.image.description="Online A/B experimentation and traffic-splitting gateway for search ranking models" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0"
RUN groupadd --gid ${UID} abgate \
 && useradd --uid ${UID} --gid ${UID} --home-dir /var/lib/abgate --no-create-home \
      --shell /usr/sbin/nologin abgate \
 && mkdir -p /var/lib/abgate/models /var/lib/abgate/spool \
 && chown -R ${UID}:${UID} /var/lib/abgate
COPY --from=build /opt/abgate /opt/abgate
# The gates' evaluation set and the (empty) routing config that seeds a new store.
COPY configs/experiments.toml /opt/abgate/configs/experiments.toml
COPY configs/eval /opt/abgate/configs/eval
# The spool, the processes' metrics files and the model store live under ABGATE_VAR_DIR;
# mount the models folder on a volume the gateways share (docs/operations.md).
ENV PATH=/opt/abgate/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    ABGATE_HOST=0.0.0.0 \
    ABGATE_PORT=8080 \
    ABGATE_VAR_DIR=/var/lib/abgate \
    ABGATE_MODELS_DIR=/var/lib/abgate/models \
    ABGATE_ROUTING=/opt/abgate/configs/experiments.toml \
    ABGATE_EVAL_FILE=/opt/abgate/configs/eval/storefront-heldout.jsonl \
    ABGATE_EMBEDDED_REDIS=0
USER ${UID}:${UID}
WORKDIR /var/lib/abgate
EXPOSE 8080
# /healthz answers while the process lives (readiness, /readyz, also waits for Redis and the
# production version). The worker's is on its --metrics-port: its service overrides this.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('ABGATE_PORT', '8080') + '/healthz', timeout=2)"]
ENTRYPOINT ["abgate"]
CMD ["serve"]
