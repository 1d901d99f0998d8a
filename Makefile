# Everything a user does. `make demo` and `make test` set up the environment themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO := demo
INPUT ?=
OUTPUT ?=
ARGS ?=
MODEL ?= inception_v3
RUN ?= runs/$(MODEL)
WORKERS ?= $(shell nproc)

SPLIT ?= train
SHEET ?= $(SPLIT)-sheet.png

.PHONY: help setup test test-fast test-dali lint demo demo-sheet fake convert verify show train train-cluster evaluate bench bench-scale bench-train clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev,aws,dask,gcp]'
	touch $@

setup: $(STAMP) ## Create .venv and install the project (done by every other target)

test: $(STAMP) ## Run the whole test suite
	$(PY) -m ruff check imagenet_convert pipelines tests bench
	$(PY) -m ruff format --check imagenet_convert pipelines tests bench
	$(PY) -m pytest -q

test-fast: $(STAMP) ## Only the in-process tests (under a minute): not those marked slow (CLI, Beam, TensorFlow graphs)
	$(PY) -m pytest -q -m "not slow"

test-dali: $(STAMP) ## Install the 'dali' extra (about 1 GB) and read every record with DALI, CPU only
	$(PY) -m pip install -q -c constraints.txt -e '.[dev,aws,dali]'
	$(PY) -m pytest -q tests/test_readers.py -k dali

lint: $(STAMP) ## ruff: lint and formatting
	$(PY) -m ruff check imagenet_convert pipelines tests bench
	$(PY) -m ruff format --check imagenet_convert pipelines tests bench

demo: $(STAMP) ## Generate a miniature ImageNet, convert it, train, evaluate, predict
	$(PY) -m imagenet_convert demo --workdir $(DEMO)

fake: $(STAMP) ## Generate a miniature ILSVRC2012 download: make fake OUTPUT=dir ARGS='--classes 10'
	$(PY) -m imagenet_convert fake --output $(OUTPUT) $(ARGS)

convert: $(STAMP) ## Convert: make convert INPUT=/imagenet OUTPUT=/data/imagenet-tfrecord [ARGS=...]
	$(PY) -m imagenet_convert run --input $(INPUT) --output $(OUTPUT) $(ARGS)

train: $(STAMP) ## Train a Slim model: make train OUTPUT=/data/imagenet-tfrecord MODEL=resnet_v1_50 RUN=runs/r50 ARGS='--labels_offset 1'
	$(PY) -m imagenet_convert train --dataset_dir $(OUTPUT) --model_name $(MODEL) --train_dir $(RUN) $(ARGS)

train-cluster: $(STAMP) ## The demo, trained by 1 ps + 2 synchronous workers on loopback ports (docs/cluster.md)
	$(PY) -m imagenet_convert demo --workdir $(DEMO)-cluster --cluster 2

evaluate: $(STAMP) ## Evaluate a run: make evaluate OUTPUT=/data/imagenet-tfrecord MODEL=resnet_v1_50 RUN=runs/r50 ARGS='--labels_offset 1'
	$(PY) -m imagenet_convert evaluate --dataset_dir $(OUTPUT) --model_name $(MODEL) --checkpoint_path $(RUN) $(ARGS)

verify: $(STAMP) ## Check a converted folder: make verify OUTPUT=/data/imagenet-tfrecord
	$(PY) -m imagenet_convert verify $(OUTPUT) $(ARGS)

show: $(STAMP) ## Contact sheet of a converted split: make show OUTPUT=/data/imagenet-tfrecord [SPLIT=validation] [ARGS='--class n01440764']
	$(PY) -m imagenet_convert show $(OUTPUT) --split $(SPLIT) --output $(SHEET) $(ARGS)

demo-sheet: $(STAMP) ## Regenerate docs/demo-sheet.png from the demo's miniature (generate + convert, no training)
	$(PY) -m imagenet_convert demo --sheet docs/demo-sheet.png --workdir $(DEMO)

bench: $(STAMP) ## Conversion vs read/tar -x, warm and cold -> bench-results/bench.json (~15 min; ARGS=--repeat 2)
	$(PY) -m bench --workdir bench-data --results bench-results $(ARGS)

bench-scale: $(STAMP) ## Full cardinality (1.33M tiny images): index, plan, memory -> bench-results/bench-scale.json
	$(PY) -m bench --scale --workdir bench-data --results bench-results $(ARGS)

bench-train: $(STAMP) ## Training speed and memory of Slim models on this CPU (VGG-416 included: ~1 h) -> docs/performance.md
	$(PY) -m bench.training --workdir bench-data --results bench-results $(ARGS)

clean: ## Remove the environment, demo and benchmark data
	rm -rf $(VENV) $(DEMO) $(DEMO)-cluster bench-data bench-results *.egg-info
