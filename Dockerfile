# caresync server node. Build: docker build -t caresync .
# Dependencies come from requirements.lock (pinned, hash-checked), so images are
# reproducible; the fleet's chart libraries (the [fleet] extra) are not in the image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CARESYNC_HOST=0.0.0.0 \
    CARESYNC_PORT=8000

WORKDIR /app
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY protocol ./protocol
COPY server ./server
COPY client_sdk ./client_sdk
RUN pip install --no-deps . && useradd --system --uid 10001 caresync
USER caresync

EXPOSE 8000
# Liveness: the process answers. Readiness (/readyz: database, bus, draining) is what the
# balancer and compose's depends_on look at.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/livez', timeout=2).status != 200)"
# SIGTERM drains: sockets get 4000 over CARESYNC_DRAIN_WINDOW seconds (docker stop's
# default 10 s grace is longer than the default 5 s window).
STOPSIGNAL SIGTERM
CMD ["caresync", "serve"]
