FROM python:3.11-slim
ENV SCARF_NO_ANALYTICS=true DO_NOT_TRACK=true HF_HUB_OFFLINE=1 PIP_NO_CACHE_DIR=1
RUN apt-get update && apt-get install -y --no-install-recommends libmagic1 poppler-utils && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu "torch==2.13.0" && pip install . \
    && retrievd models pull
EXPOSE 8000
CMD ["retrievd", "serve", "--host", "0.0.0.0", "--port", "8000"]
