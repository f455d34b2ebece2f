# machine-efa-webhook: the two set-up commands are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
VENV := .venv
PYTHON := $(VENV)/bin/python3
# Pinned: the embedded snapshot and the tests' expectations come from this moto's data.
MOTO := moto[server]==5.2.5
# Pinned: the Kubernetes JSON schemas tests/manifests/check_manifests.py validates against.
KUBERNETES_VALIDATE := kubernetes-validate==1.37.0
BIN := target/release/machine-efa-webhook
LISTEN ?= 127.0.0.1:9443
METRICS_LISTEN ?= 127.0.0.1:8080
CERTS := certs

.PHONY: run test lint unit build snapshot certs clean bench bench-quick bench-tools apiserver

## run: build, make dev certs under certs/ when missing, serve https://127.0.0.1:9443 from the embedded table
run: build $(CERTS)/tls.crt
	@echo
	@echo "Serving https://$(LISTEN) (Ctrl-C stops). Try, from another terminal in this directory:"
	@echo
	@echo "  curl --cacert $(CERTS)/ca.crt -H 'Content-Type: application/json' --data @tests/fixtures/machineset-create-efa-m5.json https://$(LISTEN)/validate"
	@echo
	exec $(BIN) serve --listen $(LISTEN) --metrics-listen $(METRICS_LISTEN) --tls-cert $(CERTS)/tls.crt --tls-key $(CERTS)/tls.key --capabilities embedded

build:
	$(CARGO) build --release --locked

$(CERTS)/tls.crt: | build
	$(BIN) certs --out $(CERTS) --dns localhost --ip 127.0.0.1 >/dev/null

## certs: (re)make the dev CA and serving certificate under certs/
certs: build
	$(BIN) certs --out $(CERTS) --dns localhost --ip 127.0.0.1 --force

## test: formatting, lints, every test (starts the moto EC2 emulator itself; the tests start etcd and kube-apiserver), and the manifests check
test: lint unit manifests-check

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

unit: $(VENV)/.installed apiserver
	$(PYTHON) tests/moto/check_paged_moto.py
	PYTHON=$(PYTHON) tests/moto/with_moto.sh $(CARGO) test --locked --all-targets

# The tests' real Kubernetes: etcd, kube-apiserver and kubectl built from the Go module
# proxy by tests/apiserver (Kubernetes v1.36, etcd 3.6). A cold build took about 3
# minutes on the 2-core machine, downloads included; Go's build cache makes a rebuild
# seconds, and make skips it while the binaries are newer than the module's files.
APISERVER_DIR := target/apiserver
APISERVER_SRC := $(wildcard tests/apiserver/go.mod tests/apiserver/go.sum tests/apiserver/cmd/*/*.go)
GO ?= go

## apiserver: build the tests' etcd, kube-apiserver and kubectl into target/apiserver/
apiserver: $(APISERVER_DIR)/.built

$(APISERVER_DIR)/.built: $(APISERVER_SRC)
	@command -v $(GO) >/dev/null || { echo "apiserver: Go 1.26 is needed to build the tests' kube-apiserver" >&2; exit 1; }
	mkdir -p $(APISERVER_DIR)
	cd tests/apiserver && GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" $(GO) build -o $(CURDIR)/$(APISERVER_DIR)/ ./cmd/etcd ./cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
	touch $@

$(VENV)/.installed:
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet '$(MOTO)' '$(KUBERNETES_VALIDATE)' pyyaml
	touch $@

## snapshot: regenerate the embedded capability table (data/capabilities.json) from moto
snapshot: build $(VENV)/.installed
	PYTHON=$(PYTHON) tests/moto/with_moto.sh bash -c 'AWS_ENDPOINT_URL=$$MOTO_ENDPOINT $(BIN) snapshot --regions all --out data/capabilities.json --source "$$($(PYTHON) -c "import moto; print(\"moto\", moto.__version__)") (EC2 emulator answering from its bundled copy of AWS instance-type and offering data)"'

clean:
	$(CARGO) clean
	rm -rf $(VENV)

.PHONY: dev-overlay manifests-check

DEV_WEBHOOKS ?= manifests/overlays/dev/webhooks.yaml

## dev-overlay: write manifests/overlays/dev/webhooks.yaml (webhooks calling https://127.0.0.1:9443) with the caBundle of $(CERTS)/ca.crt
dev-overlay:
	@test -f $(CERTS)/ca.crt || { echo "dev-overlay: $(CERTS)/ca.crt is missing: run make run or make certs first" >&2; exit 1; }
	sed 's|@CA_BUNDLE@|'"$$(base64 -w0 < $(CERTS)/ca.crt)"'|' manifests/overlays/dev/webhooks.yaml.in > $(DEV_WEBHOOKS).tmp
	mv $(DEV_WEBHOOKS).tmp $(DEV_WEBHOOKS)
	@echo "wrote $(DEV_WEBHOOKS); apply with: kubectl apply -k $(dir $(DEV_WEBHOOKS))"

## manifests-check: build every kustomize overlay, validate it against the Kubernetes schemas, assert its safety properties
manifests-check: $(VENV)/.installed apiserver
	@$(PYTHON) -c 'import kubernetes_validate, yaml' 2>/dev/null || $(PYTHON) -m pip install --quiet '$(KUBERNETES_VALIDATE)' pyyaml
	KUBECTL=$${KUBECTL:-$(CURDIR)/$(APISERVER_DIR)/kubectl} $(PYTHON) tests/manifests/check_manifests.py

## bench: the criterion core benches and the HTTPS load bench against the ceiling server, and whether the performance floor holds; writes BENCHMARKS.md (about 8 minutes; never part of make test)
bench: bench-tools
	$(CARGO) build --release --locked --bin machine-efa-webhook --example ceiling
	$(CARGO) bench --locked --bench core
	python3 bench/run.py
	python3 bench/report.py > BENCHMARKS.md.tmp && mv BENCHMARKS.md.tmp BENCHMARKS.md
	@echo "wrote BENCHMARKS.md"

## bench-quick: the same, short (about a minute and a half once built), for checking a change; prints the floor's verdict, writes nothing tracked
bench-quick: bench-tools
	$(CARGO) build --release --locked --bin machine-efa-webhook --example ceiling
	$(CARGO) bench --locked --bench core -- --warm-up-time 0.5 --measurement-time 1
	python3 bench/run.py --quick

# h2load, the load generator: Debian's nghttp2-client.
bench-tools:
	@command -v h2load >/dev/null || { echo "h2load not found: installing Debian's nghttp2-client"; apt-get update -qq && apt-get install -y -qq nghttp2-client; }
