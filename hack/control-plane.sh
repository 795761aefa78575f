#!/usr/bin/env bash
# Runs a local Kubernetes control plane — etcd and kube-apiserver, nothing
# else — on free loopback ports, for `make demo` and for poking at the webhook
# by hand. There is no scheduler or kubelet: pods stay Pending, but admission
# (mutating webhooks, Pod Security, validation) is fully real.
#
#   hack/control-plane.sh start   build the binaries if needed, start, wait until ready
#   hack/control-plane.sh env     print KUBECONFIG and a PATH with kubectl (use with eval)
#   hack/control-plane.sh stop    stop both processes, wait for them to exit
#   hack/control-plane.sh status  say whether it is running
#
# Environment:
#   SECURE_DEFAULTS_CP_DIR     state directory (default ${TMPDIR:-/tmp}/secure-defaults-cp-$UID);
#                              wiped by start
#   SECURE_DEFAULTS_E2E_BINS   directory holding kube-apiserver, etcd and kubectl
#                              (default: the output of hack/e2e-bins.sh)
#   CP_READY_TIMEOUT           seconds to wait for /readyz (default 60)
#
# The state directory holds kubeconfig, the apiserver serving certificate
# (certs/apiserver.crt, the CA for clients), the admin token and both logs.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="${SECURE_DEFAULTS_CP_DIR:-${TMPDIR:-/tmp}/secure-defaults-cp-$(id -u)}"
ready_timeout="${CP_READY_TIMEOUT:-60}"

log() { echo "control-plane: $*" >&2; }
die() {
	log "$*"
	exit 1
}

# tail_log NAME [LINES] prints the end of a process log to stderr, indented.
tail_log() {
	local f="${state}/$1.log" n="${2:-30}"
	if [[ -s "${f}" ]]; then
		log "last ${n} lines of ${f}:"
		tail -n "${n}" "${f}" | sed 's/^/    /' >&2
	fi
}

alive() {
	local f="${state}/$1.pid"
	[[ -f "${f}" ]] && kill -0 "$(cat "${f}")" 2>/dev/null
}

# shellcheck source=hack/lib.sh
source "${root}/hack/lib.sh"

# spawn NAME BINARY ARGS... starts a process as the leader of a new process group, with its
# output in NAME.log and its pid in NAME.pid.
spawn() {
	local name="$1"
	shift
	setsid "$@" >"${state}/${name}.log" 2>&1 </dev/null &
	echo $! >"${state}/${name}.pid"
}

stop_one() {
	local name="$1" pid i
	[[ -f "${state}/${name}.pid" ]] || return 0
	pid="$(cat "${state}/${name}.pid")"
	if kill -0 "${pid}" 2>/dev/null; then
		# setsid made the process a group leader: signal the whole group.
		kill -TERM -- "-${pid}" 2>/dev/null || kill -TERM "${pid}" 2>/dev/null || true
		for i in $(seq 1 150); do
			kill -0 "${pid}" 2>/dev/null || break
			sleep 0.2
		done
		if kill -0 "${pid}" 2>/dev/null; then
			log "${name} (pid ${pid}) ignored SIGTERM for 30s; killing it"
			kill -KILL -- "-${pid}" 2>/dev/null || kill -KILL "${pid}" 2>/dev/null || true
		fi
	fi
	rm -f "${state}/${name}.pid"
}

cmd_stop() {
	stop_one kube-apiserver
	stop_one etcd
	log "stopped (logs kept in ${state})"
}

cmd_start() {
	if alive etcd || alive kube-apiserver; then
		die "already running (state in ${state}); run '$0 stop' first"
	fi
	command -v openssl >/dev/null || die "openssl is required (Debian/Ubuntu: apt-get install openssl)"

	local bins
	bins="${SECURE_DEFAULTS_E2E_BINS:-$("${root}/hack/e2e-bins.sh")}"
	local b
	for b in etcd kube-apiserver kubectl; do
		[[ -x "${bins}/${b}" ]] || die "${bins}/${b} missing; run hack/e2e-bins.sh"
	done

	rm -rf "${state}"
	mkdir -p "${state}/certs" "${state}/etcd-data"
	chmod 700 "${state}"
	echo "${bins}" >"${state}/bins"

	# If anything below fails, take down what was started so no process is
	# left behind holding ports.
	trap 'cmd_stop >/dev/null 2>&1' EXIT

	local token
	token="$(openssl rand -hex 24)"
	echo "${token},admin,admin-uid,system:masters" >"${state}/tokens.csv"
	echo "${token}" >"${state}/token"
	openssl genrsa -out "${state}/sa.key" 2048 2>/dev/null
	openssl rsa -in "${state}/sa.key" -pubout -out "${state}/sa.pub" 2>/dev/null

	local etcd_port peer_port api_port
	etcd_port="$(free_port)"
	peer_port="$(free_port)"
	api_port="$(free_port)"
	while [[ "${peer_port}" == "${etcd_port}" ]]; do peer_port="$(free_port)"; done
	while [[ "${api_port}" == "${etcd_port}" || "${api_port}" == "${peer_port}" ]]; do api_port="$(free_port)"; done

	log "starting etcd on 127.0.0.1:${etcd_port}"
	spawn etcd "${bins}/etcd" \
		--name=e2e \
		--data-dir="${state}/etcd-data" \
		--listen-client-urls="http://127.0.0.1:${etcd_port}" \
		--advertise-client-urls="http://127.0.0.1:${etcd_port}" \
		--listen-peer-urls="http://127.0.0.1:${peer_port}" \
		--initial-advertise-peer-urls="http://127.0.0.1:${peer_port}" \
		--initial-cluster="e2e=http://127.0.0.1:${peer_port}" \
		--unsafe-no-fsync=true

	log "starting kube-apiserver on https://127.0.0.1:${api_port}"
	spawn kube-apiserver "${bins}/kube-apiserver" \
		--etcd-servers="http://127.0.0.1:${etcd_port}" \
		--bind-address=127.0.0.1 \
		--advertise-address=127.0.0.1 \
		--secure-port="${api_port}" \
		--endpoint-reconciler-type=none \
		--cert-dir="${state}/certs" \
		--token-auth-file="${state}/tokens.csv" \
		--authorization-mode=RBAC \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="${state}/sa.pub" \
		--service-account-signing-key-file="${state}/sa.key" \
		--service-cluster-ip-range=10.0.0.0/24 \
		--allow-privileged=true

	local kubeconfig="${state}/kubeconfig"
	cat >"${kubeconfig}" <<-KUBECONFIG
		apiVersion: v1
		kind: Config
		clusters:
		- name: local
		  cluster:
		    server: https://127.0.0.1:${api_port}
		    certificate-authority: ${state}/certs/apiserver.crt
		users:
		- name: admin
		  user:
		    token: ${token}
		contexts:
		- name: local
		  context:
		    cluster: local
		    user: admin
		current-context: local
	KUBECONFIG
	chmod 600 "${kubeconfig}"

	local deadline=$((SECONDS + ready_timeout)) name
	while :; do
		for name in etcd kube-apiserver; do
			if ! alive "${name}"; then
				log "${name} exited during start-up"
				tail_log "${name}"
				exit 1
			fi
		done
		if [[ -s "${state}/certs/apiserver.crt" ]] &&
			[[ "$("${bins}/kubectl" --kubeconfig="${kubeconfig}" get --raw /readyz 2>/dev/null)" == ok ]]; then
			break
		fi
		if ((SECONDS >= deadline)); then
			log "kube-apiserver not ready after ${ready_timeout}s"
			tail_log etcd 5
			tail_log kube-apiserver
			exit 1
		fi
		sleep 0.5
	done
	trap - EXIT

	log "ready: https://127.0.0.1:${api_port} (state in ${state})"
	log "use it with: eval \"\$($0 env)\"; kubectl get ns"
}

cmd_env() {
	[[ -f "${state}/kubeconfig" ]] || die "not started (no ${state}/kubeconfig)"
	echo "export KUBECONFIG=${state}/kubeconfig"
	echo "export PATH=$(cat "${state}/bins"):\${PATH}"
}

cmd_status() {
	local name rc=0
	for name in etcd kube-apiserver; do
		if alive "${name}"; then
			echo "${name}: running (pid $(cat "${state}/${name}.pid"))"
		else
			echo "${name}: not running"
			rc=1
		fi
	done
	return "${rc}"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
env) cmd_env ;;
status) cmd_status ;;
*)
	echo "usage: $0 start|stop|env|status" >&2
	exit 2
	;;
esac
