# The two Quick-start commands (`make demo`, `make test`) each do the set-up they need first.
PY := .venv/bin/python
.PHONY: env demo test test-all clean-env

env:
	bash tools/setup_env.sh

demo: env
	$(PY) tools/demo.py

test: env
	$(PY) -m pytest -q

test-all: env
	$(PY) -m pytest -q -m ""

clean-env:
	rm -rf .venv
