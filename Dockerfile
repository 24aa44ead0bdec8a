# The Client Care application image: worker, codec server, migrations, starter and auditor.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
# The locked dependencies first, each file checked against its hash (and cached as a layer of
# its own); then the project without resolving anything again.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY workflows ./workflows
COPY activities ./activities
COPY projections ./projections
COPY commands ./commands
COPY infra ./infra
COPY audit ./audit
COPY reports ./reports
COPY simulation ./simulation
COPY migrations ./migrations
COPY config ./config
COPY alembic.ini worker.py starter.py auditor.py ./
# The bytecode caches, written now: PYTHONDONTWRITEBYTECODE keeps the running image from writing
# them, and without them the workflow sandbox compiles a workflow's module from source for every
# workflow it starts (bench/RESULTS.md, client import).
RUN pip install --no-deps . && python -m compileall -q . && useradd --system --uid 10001 clientcare
USER clientcare
CMD ["python", "worker.py"]
