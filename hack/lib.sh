#!/usr/bin/env bash
# Shell helpers shared by the hack/ scripts. Source it; the caller defines die.

# free_port prints a loopback TCP port nothing listens on.
free_port() {
	local p i
	for i in $(seq 1 100); do
		p=$((20000 + RANDOM % 30000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/${p}") 2>/dev/null; then
			echo "${p}"
			return 0
		fi
	done
	die "no free loopback port found"
}
