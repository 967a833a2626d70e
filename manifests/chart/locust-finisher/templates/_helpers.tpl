{{- /* The prefix of every object's name: locust-finisher, or fullnameOverride. The controller
is told (--name) where its Lease and key Secret are; finishers are told where to hand reports. */ -}}
{{- define "locust-finisher.fullname" -}}
{{- default "locust-finisher" .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "locust-finisher.labels" -}}
app.kubernetes.io/part-of: locust-finisher
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
{{- end -}}

{{- /* repository@digest when a digest is given (the tag is then only a name), else repository:tag. */ -}}
{{- define "locust-finisher.imageReference" -}}
{{- if .image.digest -}}
{{ .image.repository }}@{{ .image.digest }}
{{- else -}}
{{ .image.repository }}:{{ default .root.Chart.AppVersion .image.tag }}
{{- end -}}
{{- end -}}

{{- define "locust-finisher.image" -}}
{{ include "locust-finisher.imageReference" (dict "root" . "image" .Values.image) }}
{{- end -}}

{{- define "locust-finisher.finisherImage" -}}
{{ include "locust-finisher.imageReference" (dict "root" . "image" .Values.finisherImage) }}
{{- end -}}

{{- /* The pod labels a component's pods carry: ours, then the user's podLabels. */ -}}
{{- define "locust-finisher.podLabels" -}}
{{ include "locust-finisher.labels" .root }}
app.kubernetes.io/name: {{ include "locust-finisher.fullname" .root }}-{{ .component }}
app.kubernetes.io/component: {{ .component }}
{{- with .root.Values.podLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- /* The installation's name for the webhook and the controller, where it is not the default. */ -}}
{{- define "locust-finisher.nameArgument" -}}
{{- if ne (include "locust-finisher.fullname" .) "locust-finisher" }}
- --name={{ include "locust-finisher.fullname" . }}
{{- end }}
{{- end -}}

{{- define "locust-finisher.webhookService" -}}{{ include "locust-finisher.fullname" . }}-webhook{{- end -}}
{{- define "locust-finisher.tlsSecret" -}}{{ include "locust-finisher.fullname" . }}-webhook-tls{{- end -}}

{{- /* The ServiceAccount a component runs as: its own, or an existing one by name. */ -}}
{{- define "locust-finisher.serviceAccountName" -}}
{{- $account := index .root.Values .component "serviceAccount" -}}
{{- if $account.create -}}
{{ default (printf "%s-%s" (include "locust-finisher.fullname" .root) .component) $account.name }}
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

{{- /* The user's topologySpreadConstraints, each selecting this component's pods unless it says otherwise. */ -}}
{{- define "locust-finisher.topologySpread" -}}
{{- with .root.Values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- range . }}
  - {{- toYaml (merge (dict) . (dict "labelSelector" (dict "matchLabels" (dict "app.kubernetes.io/name" (printf "%s-%s" (include "locust-finisher.fullname" $.root) $.component) "app.kubernetes.io/instance" $.root.Release.Name)))) | nindent 4 }}
  {{- end }}
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
  name: {{ include "locust-finisher.fullname" .root }}-{{ .component }}
  namespace: {{ .root.Release.Namespace }}
  labels: {{- include "locust-finisher.labels" .root | nindent 4 }}
spec:
  minAvailable: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: {{ include "locust-finisher.fullname" .root }}-{{ .component }}
      app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end }}
{{- end -}}

{{- /* Fails the install on a duration longer than the webhook reads (a week). The schema checks
the syntax; a pattern cannot add up 168h + 1s, so this does, as the webhook's parser does:
whole seconds, or a sum of <number><h|m|s|ms> terms. Words (auto, none, forever) pass. */ -}}
{{- define "locust-finisher.checkDuration" -}}
{{- $text := toString .value -}}
{{- if regexMatch "^[0-9]" $text -}}
{{- $seconds := 0.0 -}}
{{- if regexMatch "^[0-9]+$" $text -}}
{{- $seconds = float64 $text -}}
{{- else -}}
{{- range regexFindAll "[0-9]+(\\.[0-9]+)?(ms|h|m|s)" $text -1 -}}
{{- $unit := regexFind "(ms|h|m|s)$" . -}}
{{- $size := get (dict "h" 3600.0 "m" 60.0 "s" 1.0 "ms" 0.001) $unit -}}
{{- $seconds = addf $seconds (mulf (float64 (trimSuffix $unit .)) $size) -}}
{{- end -}}
{{- end -}}
{{- if gt $seconds 604800.0 -}}
{{- fail (printf "%s: %s is longer than a week, the longest duration locust-finisher reads" .name $text) -}}
{{- end -}}
{{- end -}}
{{- end -}}
