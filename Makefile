# The two commands: `make run` and `make test`. Everything else is set up on the way.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8501

.PHONY: install run test index chromium lint format bench bench-cold bench-bytes bench-quality bench-peer test-onnx train-scorer train-reader clean

install: $(STAMP)

# torch==2.13.0 first: it is the CPU build on this machine's disk; a bare `torch` pulls a CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test,train,ray,api]'
	touch $(STAMP)

index: install
	$(BIN)/qa-app index corpus/

run: index
	$(BIN)/qa-app serve --port $(PORT)

chromium:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium chromium-driver)

test: install chromium
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) embeddings/*.sqlite* embeddings/*.faiss

bench-quality: install
	$(BIN)/python -m benchmarks.quality

# The answer scorer from ../shared/data (SQuAD): ~16 min to build the feature cache on 2 cores, ~3 min to train.
# Writes qa_app/models/answer_scorer.{npz,json}; `make test` never trains.
SQUAD ?= ../shared/data
train-scorer: install
	$(BIN)/pip install --quiet -e '.[train]'
	$(BIN)/python -m training.build_dataset --data $(SQUAD)
	$(BIN)/python -m training.train_scorer

# The answer reader (a cross-encoder over the scorer's top sentences), after train-scorer's cache: ~60 min on
# 2 busy cores with one torch thread (THREADS=2 on a quiet machine). Writes qa_app/models/answer_reader/.
THREADS ?= 1
train-reader: install
	$(BIN)/python -m training.train_reader --threads $(THREADS)

bench: install
	$(BIN)/python benchmarks/perf.py

# Cold `qa-app ask` (and the Streamlit first answer) split by stage, with and without the answer reader;
# BASELINE=REV measures REV beside the working tree. Then the index's bytes per article on the news set.
BASELINE ?=
bench-cold: install
	$(BIN)/python benchmarks/cold_start.py $(if $(BASELINE),--baseline $(BASELINE))
	$(BIN)/python benchmarks/cold_start.py --no-ui --no-reader --out benchmarks/results/cold_start_scorer_only.json \
		$(if $(BASELINE),--baseline $(BASELINE))

bench-bytes: install
	$(BIN)/python benchmarks/index_bytes.py

# LlamaIndex beside us (benchmarks/peer.py) in its own venv, so the framework never enters .venv.
bench-peer:
	test -x .venv-peer/bin/python || $(PYTHON) -m venv .venv-peer
	.venv-peer/bin/pip install --quiet --upgrade pip
	.venv-peer/bin/pip install --quiet torch==2.13.0
	.venv-peer/bin/pip install --quiet -e '.[peer]'
	.venv-peer/bin/python benchmarks/peer.py

# The ONNX tests alone (also part of `make test`): the int8 backend, the question model, the backend setting.
test-onnx: install
	$(BIN)/pytest tests/test_onnx_int8.py tests/test_query_encoder.py tests/test_embedder_backend.py
