{{- define "locust-finisher.labels" -}}
app.kubernetes.io/part-of: locust-finisher
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
{{- end -}}

{{- define "locust-finisher.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}

{{- define "locust-finisher.webhookService" -}}locust-finisher-webhook{{- end -}}
{{- define "locust-finisher.tlsSecret" -}}locust-finisher-webhook-tls{{- end -}}

{{- define "locust-finisher.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}
