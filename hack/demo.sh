#!/usr/bin/env bash
# `make demo`: shows on a local, throwaway control plane what the webhook does.
#
#   1. builds secure-defaults and the demo client (hack/demo/), and — once,
#      cached outside the repository by hack/e2e-bins.sh — kube-apiserver and
#      etcd (the first build takes several minutes)
#   2. starts etcd and kube-apiserver on loopback (hack/control-plane.sh)
#   3. makes a throwaway CA and serving certificate with openssl and starts
#      `secure-defaults serve` with it
#   4. registers the webhook, creates a namespace that opts in and enforces
#      Pod Security "restricted", creates the pods of examples/deployment.yaml
#      there and prints what the webhook added; then shows the same pod
#      rejected in a restricted namespace without the opt-in label
#   5. stops everything, also on failure or Ctrl-C
#
# Needs Go, openssl and curl. Set SECURE_DEFAULTS_DEMO_KEEP=1 to keep the
# working directory (logs, kubeconfig, certificates) afterwards.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"

step() { printf '==> %s\n' "$*"; }
die() {
	echo "demo: $*" >&2
	exit 1
}

for tool in go openssl curl; do
	command -v "${tool}" >/dev/null || die "${tool} is required"
done

start_time=${SECONDS}
work="$(mktemp -d "${TMPDIR:-/tmp}/secure-defaults-demo.XXXXXX")"
export SECURE_DEFAULTS_CP_DIR="${work}/cp"
webhook_pid=""

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n "${webhook_pid}" ]] && kill -0 "${webhook_pid}" 2>/dev/null; then
		kill -TERM "${webhook_pid}" 2>/dev/null || true
		wait "${webhook_pid}" 2>/dev/null || true
	fi
	if [[ -d "${SECURE_DEFAULTS_CP_DIR}" ]]; then
		hack/control-plane.sh stop >/dev/null 2>&1 || true
	fi
	if ((rc == 130 || rc == 143)); then
		echo "demo: interrupted; everything it started is stopped" >&2
		rm -rf "${work}"
	elif ((rc != 0)); then
		local f
		for f in "${work}/webhook.log" "${SECURE_DEFAULTS_CP_DIR}/kube-apiserver.log"; do
			if [[ -s "${f}" ]]; then
				echo "--- last lines of ${f}:" >&2
				tail -n 15 "${f}" >&2
			fi
		done
		echo "demo: FAILED; logs kept in ${work}" >&2
	elif [[ -n "${SECURE_DEFAULTS_DEMO_KEEP:-}" ]]; then
		echo "working directory kept: ${work}"
	else
		rm -rf "${work}"
	fi
	exit "${rc}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck source=hack/lib.sh
source "${root}/hack/lib.sh"

step "building secure-defaults and the demo client"
go build -o "${work}/secure-defaults" ./cmd/secure-defaults
go build -o "${work}/demo" ./hack/demo

step "kube-apiserver and etcd v1.37.2 (built once into a cache; the first time takes several minutes)"
SECURE_DEFAULTS_E2E_BINS="${SECURE_DEFAULTS_E2E_BINS:-$(hack/e2e-bins.sh)}"
export SECURE_DEFAULTS_E2E_BINS

step "starting etcd and kube-apiserver on loopback"
hack/control-plane.sh start 2>"${work}/control-plane.log" || {
	cat "${work}/control-plane.log" >&2
	exit 1
}

step "starting the webhook with a fresh certificate"
cat >"${work}/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
EOF
(
	cd "${work}"
	openssl req -x509 -new -config openssl.cnf -extensions ca -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -days 1 -subj "/CN=secure-defaults demo CA" -keyout ca.key -out ca.crt
	openssl req -new -config openssl.cnf -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -subj "/CN=127.0.0.1" -keyout tls.key -out tls.csr
	openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 \
		-extfile openssl.cnf -extensions server -out tls.crt
) >"${work}/openssl.log" 2>&1 || {
	cat "${work}/openssl.log" >&2
	die "making the certificate failed"
}

port="$(free_port)"
metrics_port="$(free_port)"
while [[ "${metrics_port}" == "${port}" ]]; do metrics_port="$(free_port)"; done
"${work}/secure-defaults" serve \
	--listen="127.0.0.1:${port}" \
	--metrics-listen="127.0.0.1:${metrics_port}" \
	--tls-cert-file="${work}/tls.crt" \
	--tls-private-key-file="${work}/tls.key" \
	>"${work}/webhook.log" 2>&1 &
webhook_pid=$!
for _ in $(seq 1 100); do
	kill -0 "${webhook_pid}" 2>/dev/null || die "the webhook exited during start-up"
	curl -fsS "http://127.0.0.1:${metrics_port}/readyz" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -fsS "http://127.0.0.1:${metrics_port}/readyz" >/dev/null 2>&1 || die "the webhook is not ready after 10s"

step "registering the webhook and creating the pods of examples/deployment.yaml"
"${work}/demo" \
	--kubeconfig="${SECURE_DEFAULTS_CP_DIR}/kubeconfig" \
	--webhook-url="https://127.0.0.1:${port}/mutate" \
	--ca-file="${work}/ca.crt" \
	-f examples/deployment.yaml

echo
step "done in $((SECONDS - start_time))s; stopping the webhook and the control plane"
