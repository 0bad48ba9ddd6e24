# leadsync as a service. Build: docker build -t leadsync .
# Mount your settings at /etc/leadsync/config.toml (start from /etc/leadsync/config.example.toml; rule
# files next to it in /etc/leadsync/mappings, this repository's by default) and pass secrets as
# LEADSYNC__SECTION__KEY variables or *_file paths. See docs/operations.md.
# tests/e2e/test_dockerfile.py performs these same steps in a clean virtual environment: keep them in step.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --system --create-home --uid 10001 --home-dir /home/leadsync leadsync

WORKDIR /opt/leadsync
COPY pyproject.toml README.md ./
COPY src ./src
COPY mappings /etc/leadsync/mappings
COPY config.example.toml /etc/leadsync/config.example.toml
RUN pip install .

USER leadsync
WORKDIR /home/leadsync
EXPOSE 8321

HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-m", "leadsync.daemon.healthcheck", "--config", "/etc/leadsync/config.toml"]

CMD ["leadsync", "run", "--config", "/etc/leadsync/config.toml"]
