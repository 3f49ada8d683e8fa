# Two commands on a fresh machine: `make plan` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STACK  ?= dev

.PHONY: plan test install clean schema args

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# Re-installs when the project's own files that define the install change.
$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

plan: install
	$(BIN)/ai-clusters plan --stack $(STACK)

test: install
	$(BIN)/python -m pytest

# Refresh the checked-in schema of the component package after a change to the components' args or outputs.
schema: install
	$(BIN)/ai-clusters schema --output tests/data/schema.json

# Regenerate the component package's option args from the pydantic option models (one source for both).
args: install
	$(BIN)/python -m ai_clusters.tooling.args_codegen

clean:
	rm -rf $(VENV) build *.egg-info
