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

{{- define "locust-finisher.finisherImage" -}}
{{ .Values.finisherImage.repository }}:{{ default .Chart.AppVersion .Values.finisherImage.tag }}
{{- end -}}

{{- define "locust-finisher.webhookService" -}}locust-finisher-webhook{{- end -}}
{{- define "locust-finisher.tlsSecret" -}}locust-finisher-webhook-tls{{- end -}}

{{- /* The ServiceAccount a component runs as: its own, or an existing one by name. */ -}}
{{- define "locust-finisher.serviceAccountName" -}}
{{- $account := index .root.Values .component "serviceAccount" -}}
{{- if $account.create -}}
{{ default (printf "locust-finisher-%s" .component) $account.name }}
{{- else -}}
{{ required (printf "%s.serviceAccount.name: the existing ServiceAccount to use when create is false" .component) $account.name }}
{{- end -}}
{{- end -}}

{{- define "locust-finisher.serviceAccount" -}}
{{- $account := index .root.Values .component "serviceAccount" }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "locust-finisher.serviceAccountName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels: {{- include "locust-finisher.labels" .root | nindent 4 }}
  {{- with $account.annotations }}
  annotations: {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{- /* Scheduling and pulling, the same for the webhook's and the controller's pods. */ -}}
{{- define "locust-finisher.podPlacement" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "locust-finisher.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{- /* Keeps one replica through voluntary disruptions (node drains); one replica has none to keep. */ -}}
{{- define "locust-finisher.disruptionBudget" -}}
{{- if gt (int (index .root.Values .component "replicas")) 1 }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: locust-finisher-{{ .component }}
  namespace: {{ .root.Release.Namespace }}
  labels: {{- include "locust-finisher.labels" .root | nindent 4 }}
spec:
  minAvailable: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: locust-finisher-{{ .component }}
      app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end }}
{{- end -}}
