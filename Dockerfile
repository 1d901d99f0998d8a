# The SDK worker image for remote runners: Beam's own Python SDK image with this project installed the
# way `make` installs it (pinned by constraints.txt). Use it as
#   Dataflow:      --sdk_container_image REGISTRY/imagenet-convert:TAG
#   Flink, Spark:  --environment_type DOCKER --environment_config REGISTRY/imagenet-convert:TAG
#                  or, one per worker node, `docker run IMAGE --worker_pool` with --environment_type EXTERNAL
#   Dask:          scheduler and worker pods with the command `dask scheduler` / `dask worker --nthreads 1`
# Build it with the Beam and Python versions of the launcher's environment (they must match):
#   docker build -t REGISTRY/imagenet-convert:TAG .
ARG BEAM_VERSION=2.77.0
ARG PYTHON_VERSION=3.11
FROM apache/beam_python${PYTHON_VERSION}_sdk:${BEAM_VERSION}

WORKDIR /opt/imagenet-convert
COPY pyproject.toml constraints.txt README.md ./
COPY imagenet_convert ./imagenet_convert
COPY pipelines ./pipelines
RUN pip install --no-cache-dir -c constraints.txt ".[aws,dask]" \
    && python -c "import imagenet_convert.stages, imagenet_convert.s3"

# The base image's ENTRYPOINT (/opt/apache/beam/boot) stays: it is what runners start.
