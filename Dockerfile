# One image for every role (worker, migrations, topics, the agent API); the command picks the role.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
# The whole source tree, less what .dockerignore lists: every package pyproject.toml's packages.find names is
# in it, so no command meets a module missing (tests/unit/test_image.py builds this file set and imports it).
COPY . .
RUN pip install . && useradd --system --uid 10001 billing && mkdir -p /var/lib/billing && chown billing /var/lib/billing
USER billing
ENV STATE_DIR=/var/lib/billing WORKER_WEB_HOST=0.0.0.0
EXPOSE 6066
CMD ["billing", "worker", "--index", "0"]
