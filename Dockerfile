# One image for every role (worker, migrations, topics, later the agent API); the command picks the role.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY streams ./streams
COPY ops ./ops
RUN pip install . && useradd --system --uid 10001 billing && mkdir -p /var/lib/billing && chown billing /var/lib/billing
USER billing
ENV STATE_DIR=/var/lib/billing WORKER_WEB_HOST=0.0.0.0
EXPOSE 6066
CMD ["billing", "worker", "--index", "0"]
