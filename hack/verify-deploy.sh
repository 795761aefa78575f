#!/usr/bin/env bash
# Checks the install manifests: builds helm and kustomize from the
# hack/deploy-tools module (once, cached outside the repository), runs
# `helm lint`, renders the Helm chart and every kustomize base and overlay, and
# checks that the chart and kustomize render the same objects for each pair of
# equivalent settings.
#
# Usage: hack/verify-deploy.sh [OUTPUT_DIR]
#   OUTPUT_DIR  keep the rendered YAML there (e.g. for applying it to an API
#               server in e2e); default: a temporary directory, removed.
#
# Environment:
#   SECURE_DEFAULTS_DEPLOY_TOOLS_CACHE  base directory of the tool cache
#       (default ${XDG_CACHE_HOME:-$HOME/.cache}/secure-defaults/deploy-tools)
#   KUBE_VERSION  Kubernetes version helm renders for (default 1.37.2)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${root}/hack/deploy-tools"
kube_version="${KUBE_VERSION:-1.37.2}"
namespace=secure-defaults

log() { echo "verify-deploy: $*" >&2; }

# --- tools -------------------------------------------------------------------
key="$(cat "${tools}/go.mod" "${tools}/go.sum" "${tools}/compare/main.go" | sha256sum | cut -c1-16)"
base="${SECURE_DEFAULTS_DEPLOY_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/secure-defaults/deploy-tools}"
bin="${base}/${key}"
mkdir -p "${bin}"
if [[ ! -x "${bin}/helm" || ! -x "${bin}/kustomize" || ! -x "${bin}/compare" ]]; then
	if command -v flock >/dev/null 2>&1; then
		exec 9>"${bin}/.lock"
		flock 9
	fi
	if [[ ! -x "${bin}/helm" || ! -x "${bin}/kustomize" || ! -x "${bin}/compare" ]]; then
		log "building helm, kustomize and compare into ${bin} (first time: several minutes)"
		start=${SECONDS}
		tmp="$(mktemp -d "${bin}/.build.XXXXXX")"
		(
			cd "${tools}"
			export GOWORK=off CGO_ENABLED=0
			go build -trimpath -ldflags "-s -w" -o "${tmp}/" \
				helm.sh/helm/v3/cmd/helm \
				sigs.k8s.io/kustomize/kustomize/v5 \
				./compare
		)
		mv "${tmp}/helm" "${tmp}/kustomize" "${tmp}/compare" "${bin}/"
		rmdir "${tmp}"
		log "built in $((SECONDS - start))s"
	fi
fi
helm="${bin}/helm"
kustomize="${bin}/kustomize"
compare="${bin}/compare"
log "$("${helm}" version --short), kustomize $("${kustomize}" version)"

# --- output ------------------------------------------------------------------
if [[ $# -ge 1 ]]; then
	out="$1"
	mkdir -p "${out}"
else
	out="$(mktemp -d)"
	trap 'rm -rf "${out}"' EXIT
fi

chart="${root}/deploy/helm/secure-defaults"
failed=0
check() { # description, command...
	local what="$1"
	shift
	if "$@"; then
		echo "ok   ${what}"
	else
		echo "FAIL ${what}"
		failed=1
	fi
}

# --- helm --------------------------------------------------------------------
check "helm lint (defaults)" "${helm}" lint --quiet --strict --kube-version "${kube_version}" "${chart}"
check "helm lint (everything on)" "${helm}" lint --quiet --strict --kube-version "${kube_version}" "${chart}" \
	--set certificates.mode=cert-manager,networkPolicy.enabled=true,serviceMonitor.enabled=true,prometheusRule.enabled=true,namespace.create=true,imageLookup.pullSecrets=true
check "helm lint (image lookup: registry Secret, DNS and registry egress)" "${helm}" lint --quiet --strict --kube-version "${kube_version}" "${chart}" \
	--values "${chart}/ci/image-lookup-values.yaml" --set serviceMonitor.enabled=true,prometheusRule.enabled=true,imageLookup.pullSecrets=true
# Image lookup behind the NetworkPolicy without registry egress would time out
# on every lookup: the chart refuses to render it.
check "helm refuses image lookup behind the NetworkPolicy without registryEgress" \
	bash -c 'if out="$("$@" 2>&1)"; then exit 1; fi; [[ "${out}" == *"networkPolicy.registryEgress is required"* ]]' _ "${helm}" template secure-defaults "${chart}" --namespace "${namespace}" --kube-version "${kube_version}" \
	--set certificates.mode=cert-manager,networkPolicy.enabled=true,config.imageLookup.enabled=true

# Equivalent pairs: name | helm --set flags | kustomize dir | kinds to skip |
# helm values file (relative to the chart).
# The chart leaves the Namespace out by default (Helm cannot own the namespace
# it stores the release in); deploy/base/00-namespace.yaml is applied first.
pairs=(
	"base||deploy/base|Namespace"
	"cert-manager|certificates.mode=cert-manager|deploy/overlays/cert-manager|Namespace"
	"single-node|antiAffinity=preferred|deploy/overlays/single-node|Namespace"
	"full|certificates.mode=cert-manager,networkPolicy.enabled=true,serviceMonitor.enabled=true,prometheusRule.enabled=true,namespace.create=true,imageLookup.pullSecrets=true|deploy/overlays/full|"
	"image-lookup||deploy/overlays/image-lookup|Namespace|ci/image-lookup-values.yaml"
)
for pair in "${pairs[@]}"; do
	IFS='|' read -r name sets dir skip values <<<"${pair}"
	args=()
	[[ -n "${sets}" ]] && args+=(--set "${sets}")
	[[ -n "${values}" ]] && args+=(--values "${chart}/${values}")
	check "helm template (${name})" bash -c '"$@" > "'"${out}/helm-${name}.yaml"'"' _ \
		"${helm}" template secure-defaults "${chart}" --namespace "${namespace}" --kube-version "${kube_version}" "${args[@]}"
	check "kustomize build ${dir}" bash -c '"$@" > "'"${out}/kustomize-${name}.yaml"'"' _ \
		"${kustomize}" build "${root}/${dir}"
	skip_args=()
	[[ -n "${skip}" ]] && skip_args=(-skip-kind "${skip}")
	check "helm (${name}) and ${dir} agree" "${compare}" "${skip_args[@]}" "${out}/helm-${name}.yaml" "${out}/kustomize-${name}.yaml"
done

# The Namespace the chart's README tells users to apply first is the base's.
check "deploy/base/00-namespace.yaml is the Namespace of helm --set namespace.create=true" \
	bash -c '"$1" template secure-defaults "$2" --namespace "$3" --kube-version "$4" --set namespace.create=true --show-only templates/00-namespace.yaml > "$5/helm-namespace.yaml" && "$6" "$5/helm-namespace.yaml" "$7"' _ \
	"${helm}" "${chart}" "${namespace}" "${kube_version}" "${out}" "${compare}" "${root}/deploy/base/00-namespace.yaml"

# The Grafana dashboard is valid JSON, queries only the metrics of
# docs/reference.md and shows each; the alerts query only those metrics (the
# chart's PrometheusRule is the component's: the "full" comparison above).
reference="${root}/docs/reference.md"
dashboard="${root}/deploy/grafana/secure-defaults-dashboard.json"
check "grafana dashboard is valid and shows every metric of docs/reference.md" "${compare}" -reference "${reference}" -dashboard "${dashboard}"
alerts="${root}/deploy/components/monitoring/prometheusrule.yaml"
check "alerts use only metrics of docs/reference.md" "${compare}" -reference "${reference}" -alerts "${alerts}"
# Every object the manifests ship is in the reference's table of objects.
for name in base full image-lookup; do
	check "the objects of ${name} are in docs/reference.md" "${compare}" -reference "${reference}" -objects "${out}/kustomize-${name}.yaml"
done

if [[ $# -ge 1 ]]; then
	log "rendered YAML kept in ${out}"
fi
if [[ ${failed} -ne 0 ]]; then
	log "FAILED"
	exit 1
fi
log "all checks passed"
