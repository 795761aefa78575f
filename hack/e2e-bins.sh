#!/usr/bin/env bash
# Builds the binaries the end-to-end tests and `make demo` run — kube-apiserver,
# etcd, kubectl and kubelet — from the hack/tools module, once, into a cache directory
# outside the repository, and prints that directory on stdout.
#
# The cache directory is keyed on the tools module's go.mod and go.sum, so
# changing a version builds a fresh set and an unchanged module reuses the old
# one in well under a second. Each binary is built under a temporary name and
# renamed when complete, so an interrupted build is never mistaken for a
# finished one. Progress goes to stderr.
#
# Environment:
#   SECURE_DEFAULTS_E2E_CACHE  base directory of the cache
#                              (default ${XDG_CACHE_HOME:-$HOME/.cache}/secure-defaults/e2e-bins)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${root}/hack/tools"

k8s_version=v1.37.2
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${k8s_version} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"

# name and Go package of every binary, in build order.
bins=(
	"kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver"
	"etcd github.com/secure-defaults/secure-defaults/hack/tools/etcd"
	"kubectl k8s.io/kubernetes/cmd/kubectl"
	"kubelet k8s.io/kubernetes/cmd/kubelet"
)

log() { echo "e2e-bins: $*" >&2; }

key="$(cat "${tools}/go.mod" "${tools}/go.sum" "${tools}/etcd/main.go" | sha256sum | cut -c1-16)"
base="${SECURE_DEFAULTS_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/secure-defaults/e2e-bins}"
dir="${base}/${key}"
mkdir -p "${dir}"

complete() {
	local b
	for b in "${bins[@]}"; do
		[[ -x "${dir}/${b%% *}" ]] || return 1
	done
}

if complete; then
	echo "${dir}"
	exit 0
fi

# Serialise concurrent builds (e.g. `make e2e` and `make demo` at once): the
# second one waits and then finds the binaries present.
if command -v flock >/dev/null 2>&1; then
	exec 9>"${dir}/.lock"
	flock 9
fi

export GOWORK=off
cd "${tools}"
log "building ${k8s_version} binaries; a first build takes several minutes and about 3 GB of memory"
for b in "${bins[@]}"; do
	name="${b%% *}"
	pkg="${b#* }"
	if [[ -x "${dir}/${name}" ]]; then
		continue
	fi
	tmp="${dir}/.${name}.tmp.$$"
	trap 'rm -f "${tmp}"' EXIT
	log "building ${name} into ${dir}"
	start=${SECONDS}
	go build -trimpath -ldflags "${ldflags}" -o "${tmp}" "${pkg}" >&2
	mv -f "${tmp}" "${dir}/${name}"
	trap - EXIT
	log "built ${name} in $((SECONDS - start))s"
done

echo "${dir}"
