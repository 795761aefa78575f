#!/usr/bin/env bash
# Checks every Go module of the repository, so no part of the tree escapes:
# gofmt over every Go file git knows (tracked or new), and go vet in every
# directory that holds a go.mod (found, not listed, so a new module is
# covered the day it lands), with the e2e build tag where it applies. Used by
# `make lint`, which `make test` runs.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "${root}"
export GOWORK=off
status=0

mapfile -t gofiles < <(git ls-files --cached --others --exclude-standard -- '*.go' | while read -r f; do [[ -f "$f" ]] && echo "$f"; done)
unformatted="$(gofmt -l "${gofiles[@]}")"
if [[ -n "${unformatted}" ]]; then
	echo "lint: gofmt needed (gofmt -w these):"
	echo "${unformatted}"
	status=1
fi

while IFS= read -r mod; do
	dir="$(dirname "${mod}")"
	echo "lint: go vet in ${dir}"
	# Files behind a build tag are vetted with it too (the e2e suite).
	tags="$(git grep -h '^//go:build ' -- "${dir}/*.go" 2>/dev/null | sed 's|^//go:build ||' | grep -E '^[a-z0-9_]+$' | sort -u | paste -sd, - || true)"
	if ! (cd "${dir}" && go vet ./... && { [[ -z "${tags}" ]] || go vet -tags "${tags}" ./...; }); then
		status=1
	fi
done < <(git ls-files --cached --others --exclude-standard -- 'go.mod' '*/go.mod')

if [[ ${status} -ne 0 ]]; then
	echo "lint: FAILED"
fi
exit ${status}
