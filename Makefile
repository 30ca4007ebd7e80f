# The two Quick-start commands (`make demo`, `make test`) each do the set-up they need first.
PY := .venv/bin/python
.PHONY: env demo test test-all clean-env

env:
	bash tools/setup_env.sh

demo: env
	$(PY) tools/demo.py

# The suite runs in TEST_WORKERS processes (pytest-xdist; tests are handed out one at a time, so the
# long ones spread), each with one torch thread: on 2 cores two single-threaded workers beat one
# worker with two threads, since much of a test is Python (subprocess start-up, config parsing).
TEST_WORKERS ?= 2
TEST_ARGS := -q -n $(TEST_WORKERS) --dist worksteal

test: env
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest $(TEST_ARGS)

test-all: env
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest $(TEST_ARGS) -m ""

clean-env:
	rm -rf .venv
