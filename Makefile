# machine-efa-webhook: the two set-up commands are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
VENV := .venv
PYTHON := $(VENV)/bin/python3
# Pinned: the embedded snapshot and the tests' expectations come from this moto's data.
MOTO := moto[server]==5.2.1
BIN := target/release/machine-efa-webhook
LISTEN ?= 127.0.0.1:9443
CERTS := certs

.PHONY: run test lint unit build snapshot certs clean

## run: build, make dev certs under certs/ when missing, serve https://127.0.0.1:9443 from the embedded table
run: build $(CERTS)/tls.crt
	@echo
	@echo "Serving https://$(LISTEN) (Ctrl-C stops). Try, from another terminal in this directory:"
	@echo
	@echo "  curl --cacert $(CERTS)/ca.crt -H 'Content-Type: application/json' --data @tests/fixtures/machineset-create-efa-m5.json https://$(LISTEN)/validate"
	@echo
	exec $(BIN) serve --listen $(LISTEN) --tls-cert $(CERTS)/tls.crt --tls-key $(CERTS)/tls.key --capabilities embedded

build:
	$(CARGO) build --release --locked

$(CERTS)/tls.crt: | build
	$(BIN) certs --out $(CERTS) --dns localhost --ip 127.0.0.1 >/dev/null

## certs: (re)make the dev CA and serving certificate under certs/
certs: build
	$(BIN) certs --out $(CERTS) --dns localhost --ip 127.0.0.1 --force

## test: formatting, lints, and every test (starts the moto EC2 emulator itself)
test: lint unit

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

unit: $(VENV)/.installed
	$(PYTHON) tests/moto/check_paged_moto.py
	PYTHON=$(PYTHON) tests/moto/with_moto.sh $(CARGO) test --locked --all-targets

$(VENV)/.installed:
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet '$(MOTO)'
	touch $@

## snapshot: regenerate the embedded capability table (data/capabilities.json) from moto
snapshot: build $(VENV)/.installed
	PYTHON=$(PYTHON) tests/moto/with_moto.sh bash -c 'AWS_ENDPOINT_URL=$$MOTO_ENDPOINT $(BIN) snapshot --regions all --out data/capabilities.json --source "$$($(PYTHON) -c "import moto; print(\"moto\", moto.__version__)") (EC2 emulator answering from its bundled copy of AWS instance-type and offering data)"'

clean:
	$(CARGO) clean
	rm -rf $(VENV)
