{{- define "diurnal.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "diurnal.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: diurnal
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "diurnal.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- /* repository@digest when a digest is given (the tag is then ignored), else repository:tag. */}}
{{- define "diurnal.image" -}}
{{- $repo := required "image.repository is required" .Values.image.repository -}}
{{- with .Values.image.digest -}}
{{- if not (regexMatch "^sha256:[a-f0-9]{64}$" .) -}}
{{- fail (printf "image.digest %q: expected sha256: followed by 64 lowercase hex digits" .) -}}
{{- end -}}
{{ $repo }}@{{ . }}
{{- else -}}
{{ $repo }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- /* The connection limits and /metrics authentication of every server (docs/security.md). */}}
{{- define "diurnal.serverArgs" -}}
- --header-read-timeout={{ .Values.server.headerReadTimeout }}
- --idle-timeout={{ .Values.server.idleTimeout }}
- --max-connections={{ .Values.server.maxConnections }}
- --metrics-auth={{ ternary "on" "off" .Values.metrics.authentication }}
{{- end -}}

{{/* The trigger service's rules: read RedeployTriggers and write their status, roll workloads,
     record Events. */}}
{{- define "diurnal.triggerRules" -}}
- apiGroups: ["diurnal.dev"]
  resources: ["redeploytriggers"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["diurnal.dev"]
  resources: ["redeploytriggers/status"]
  verbs: ["patch"]
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets"]
  verbs: ["get", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
