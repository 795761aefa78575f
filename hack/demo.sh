#!/usr/bin/env bash
# `make demo`: shows on a local, throwaway cluster what the webhook does to
# pods and, as root, what the pods then see from inside. The work is done by
# hack/demo/ (see its doc comment); this script makes sure the tools are there:
#
#   - Go, and — once, cached outside the repository by hack/e2e-bins.sh —
#     kube-apiserver, etcd, kubectl and kubelet v1.37.2 built from source
#     (the first run takes 10-15 minutes on 2 cores; later runs about a minute)
#   - as root: containerd, runc and the CNI plugins from Debian's packages,
#     installed with apt-get when missing
#
# Not root, or SECURE_DEFAULTS_DEMO_NODE=off: admission only, no pods run.
# SECURE_DEFAULTS_DEMO_KEEP=1 keeps the working directory (logs, kubeconfig).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"

command -v go >/dev/null || {
	echo "demo: Go is required" >&2
	exit 1
}

args=()
if [[ "${SECURE_DEFAULTS_DEMO_NODE:-on}" == off || "$(id -u)" != 0 ]]; then
	args+=(--no-node)
else
	hack/node-packages.sh
fi

echo "==> building the binaries (the first run also builds Kubernetes v1.37.2: 10-15 minutes)"
SECURE_DEFAULTS_E2E_BINS="${SECURE_DEFAULTS_E2E_BINS:-$(hack/e2e-bins.sh)}"
export SECURE_DEFAULTS_E2E_BINS
go build -o "${TMPDIR:-/tmp}/secure-defaults-demo.$$" ./hack/demo
trap 'rm -f "${TMPDIR:-/tmp}/secure-defaults-demo.$$"' EXIT
"${TMPDIR:-/tmp}/secure-defaults-demo.$$" "${args[@]}" "$@"
