{{/* Labels on every object. Fixed values, identical to deploy/base. */}}
{{- define "secure-defaults.labels" -}}
app.kubernetes.io/name: secure-defaults
app.kubernetes.io/part-of: secure-defaults
{{- end }}

{{/* Labels of the webhook's own objects. */}}
{{- define "secure-defaults.webhookLabels" -}}
{{ include "secure-defaults.labels" . }}
app.kubernetes.io/component: webhook
{{- end }}

{{/* Pod selector. */}}
{{- define "secure-defaults.selector" -}}
app.kubernetes.io/name: secure-defaults
app.kubernetes.io/component: webhook
{{- end }}

{{- define "secure-defaults.builtin" -}}
{{- if eq .Values.certificates.mode "builtin" }}true{{ else if eq .Values.certificates.mode "cert-manager" }}{{ else }}{{ fail (printf "certificates.mode must be builtin or cert-manager, not %q" .Values.certificates.mode) }}{{ end }}
{{- end }}

{{/* Where the Secret of imageLookup.registrySecret is mounted. */}}
{{- define "secure-defaults.registryMountPath" -}}
/var/run/secure-defaults/registry
{{- end }}

{{/* "true" when the configuration file turns image lookup on. */}}
{{- define "secure-defaults.imageLookup" -}}
{{- $lookup := (.Values.config | default dict).imageLookup }}
{{- if and (kindIs "map" $lookup) $lookup.enabled }}true{{ end }}
{{- end }}
