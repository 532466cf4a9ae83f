# The workshop image: the workshop cloud and JupyterLab with the labs, the same
# install as the README's first command. docker-compose.yml runs it twice
# (the cloud on 4566, JupyterLab on 8888).
FROM python:3.11-slim

# git: the CodeCommit labs push real git repositories.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /workshop
# Dependencies first (a layer that changes only with pyproject.toml).
COPY pyproject.toml README.md ./
RUN mkdir -p workshop checker labkit \
    && touch workshop/__init__.py checker/__init__.py labkit/__init__.py \
    && pip install --no-cache-dir -e . \
    && rm -rf workshop checker labkit
COPY . .
RUN pip install --no-cache-dir --no-deps -e .

ENV WORKSHOP_HOME=/workshop \
    WORKSHOP_DATA_DIR=/data \
    PYTHONUNBUFFERED=1
EXPOSE 4566 8888
# By default one container runs both (like `workshop up` on a laptop).
CMD ["python", "-m", "workshop", "up", "--host", "0.0.0.0", "--no-browser"]
