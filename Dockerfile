# One image for every role: `retrievd serve`, `serve --no-workers`, `worker`, `index rebuild`.
FROM python:3.11-slim
ENV SCARF_NO_ANALYTICS=true DO_NOT_TRACK=true HF_HUB_OFFLINE=1 PIP_NO_CACHE_DIR=1 \
    RETRIEVD_MODELS_DIR=/opt/retrievd/models RETRIEVD_DATA_DIR=/data RETRIEVD_BLOBS_DIR=/blobs
RUN apt-get update && apt-get install -y --no-install-recommends libmagic1 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . \
    && retrievd models pull
# Not root; /data (SQLite, embedded index) and /blobs (shared by replicas) are volumes it owns.
RUN useradd --system --uid 1000 retrievd && mkdir -p /data /blobs && chown retrievd /data /blobs
USER retrievd
EXPOSE 8000
CMD ["retrievd", "serve", "--host", "0.0.0.0", "--port", "8000"]
