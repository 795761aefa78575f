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
