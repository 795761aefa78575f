#!/usr/bin/env bash
# Installs, when missing, what a node of the e2e suite and `make demo` needs
# from Debian's packages: containerd (1.6), runc, the CNI plugins, iproute2
# and iptables. Needs root (apt-get).
set -euo pipefail

need=()
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
[[ -x /usr/lib/cni/bridge || -x /opt/cni/bin/bridge ]] || need+=(containernetworking-plugins)
command -v ip >/dev/null || need+=(iproute2)
command -v iptables >/dev/null || need+=(iptables)
if ((${#need[@]})); then
	echo "node-packages: installing ${need[*]}" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
