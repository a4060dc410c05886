# The storemon image: workers, API and replay are the same package with another command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY storemon ./storemon
COPY streams ./streams
COPY api ./api
COPY replay ./replay
RUN pip install --no-cache-dir .
ENV STOREMON_DATA_DIR=/data/worker \
    STOREMON_REPORTS_DIR=/data/reports
ENTRYPOINT ["storemon"]
