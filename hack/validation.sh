#!/usr/bin/env bash
# Runs the API server's own pod validation over every pod the rules are
# tested with, before and after the rules ("valid before => valid after"):
# first pkg/defaults' tests, which write each pod they check into a
# temporary directory, then the hack/validation module's test over those,
# the mutate corpus and a batch of generated pods. Used by `make validation`
# (part of `make test`; `make lint` formats and vets the module with the
# others). The module depends on k8s.io/kubernetes; the main
# module never does.
set -euo pipefail
cd "$(dirname "$0")/.."
fixtures=$(mktemp -d)
trap 'rm -rf "$fixtures"' EXIT
SECURE_DEFAULTS_FIXTURES_OUT="$fixtures" go test -count=1 ./pkg/defaults/
echo "validation: $(find "$fixtures" -name '*.json' | wc -l) rule fixtures"
cd hack/validation
export GOWORK=off
# The module builds the main module from this checkout, so a dependency the
# main module gains must be recorded here too.
if ! out=$(go list -test -deps ./... 2>&1 >/dev/null); then
	echo "$out" >&2
	echo "if hack/validation/go.mod is behind the main module's: run (cd hack/validation && GOWORK=off go mod tidy)" >&2
	exit 1
fi
SECURE_DEFAULTS_FIXTURES="$fixtures" go test -count=1 -v ./...
