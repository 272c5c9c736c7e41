{{/*
Names, labels and shared pieces of the Sluice chart.
*/}}

{{/* The stages, in pipeline order. values.stages must have exactly these keys. */}}
{{- define "sluice.stageNames" -}}
gateway assembler router scheduler sender dlr
{{- end }}

{{- define "sluice.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-<chart>, or the release name when it contains the chart
name. Kept to 45 characters so that "<fullname>-scheduler-metrics" fits 63.
*/}}
{{- define "sluice.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 45 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 45 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 45 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sluice.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every resource. */}}
{{- define "sluice.labels" -}}
helm.sh/chart: {{ include "sluice.chart" . }}
app.kubernetes.io/name: {{ include "sluice.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sluice
{{- end }}

{{/* Selector labels of one stage; call with (dict "root" $ "stage" "gateway"). */}}
{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sluice.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .stage }}
{{- end }}

{{/* All labels of one stage's resources; call with (dict "root" $ "stage" "gateway"). */}}
{{- define "sluice.stageLabels" -}}
{{ include "sluice.labels" .root }}
app.kubernetes.io/component: {{ .stage }}
{{- end }}

{{- define "sluice.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{- define "sluice.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sluice.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret with the Kafka bootstrap servers and the PostgreSQL DSN. */}}
{{- define "sluice.connectionSecret" -}}
{{- default (printf "%s-connection" (include "sluice.fullname" .)) .Values.connection.existingSecret }}
{{- end }}

{{/* The hook Job's copy of that Secret (the regular one does not exist yet before an install). */}}
{{- define "sluice.hookSecret" -}}
{{- default (printf "%s-migrations" (include "sluice.fullname" .)) .Values.connection.existingSecret }}
{{- end }}

{{/*
Env vars that carry the connection: SLUICE_KAFKA (passed on as --kafka
$(SLUICE_KAFKA)) and SLUICE_PG_DSN (read by the binary itself).
Call with (dict "root" $ "secret" NAME).
*/}}
{{- define "sluice.connectionEnv" -}}
- name: SLUICE_KAFKA
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .root.Values.connection.kafkaBootstrapKey }}
- name: SLUICE_PG_DSN
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .root.Values.connection.pgDsnKey }}
{{- end }}

{{/* A container of the migrations hook Job; call with (dict "root" $ "secret" S "name" N "args" LIST). */}}
{{- define "sluice.hookContainer" -}}
- name: {{ .name }}
  image: {{ include "sluice.image" .root }}
  imagePullPolicy: {{ .root.Values.image.pullPolicy }}
  args:
    {{- toYaml .args | nindent 4 }}
  env:
    {{- include "sluice.connectionEnv" (dict "root" .root "secret" .secret) | nindent 4 }}
    {{- with .root.Values.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  resources:
    {{- toYaml .root.Values.migrations.resources | nindent 4 }}
  securityContext:
    {{- toYaml .root.Values.securityContext | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
{{- end }}

{{/* A value as a string, "" for null or absent (0 stays "0"). */}}
{{- define "sluice.str" -}}
{{- if not (kindIs "invalid" .) }}{{ toString . }}{{ end }}
{{- end }}

{{/* Checks that stop a bad configuration at render time. */}}
{{- define "sluice.validate" -}}
{{- $names := splitList " " (include "sluice.stageNames" .) }}
{{- range $k, $_ := .Values.stages }}
{{- if not (has $k $names) }}
{{- fail (printf "stages.%s: unknown stage; the stages are %s" $k (join ", " $names)) }}
{{- end }}
{{- end }}
{{- $prestop := 0 }}
{{- if .Values.stages.gateway.enabled }}{{ $prestop = int .Values.gateway.preStopSleepSeconds }}{{ end }}
{{- if le (int .Values.terminationGracePeriodSeconds) (add 20 $prestop | int) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed the 20 s drain bound plus gateway.preStopSleepSeconds (%d)" (int .Values.terminationGracePeriodSeconds) $prestop) }}
{{- end }}
{{- if and .Values.gateway.tls.enabled (not .Values.gateway.tls.secretName) }}
{{- fail "gateway.tls.enabled needs gateway.tls.secretName" }}
{{- end }}
{{- if not .Values.connection.existingSecret }}
{{- if not .Values.connection.kafkaBootstrap }}{{ fail "set connection.kafkaBootstrap or connection.existingSecret" }}{{ end }}
{{- if not .Values.connection.pgDsn }}{{ fail "set connection.pgDsn or connection.existingSecret" }}{{ end }}
{{- end }}
{{- range $name := $names }}
{{- $s := index $.Values.stages $name }}
{{- if and $s.enabled $s.autoscaling.enabled }}
{{- if gt (int $s.autoscaling.minReplicas) (int $s.autoscaling.maxReplicas) }}
{{- fail (printf "stages.%s.autoscaling: minReplicas exceeds maxReplicas" $name) }}
{{- end }}
{{- if not (and $s.resources.requests $s.resources.requests.cpu) }}
{{- fail (printf "stages.%s.autoscaling needs stages.%s.resources.requests.cpu" $name $name) }}
{{- end }}
{{- end }}
{{- if $s.pdb.enabled }}
{{- $max := include "sluice.str" $s.pdb.maxUnavailable }}
{{- $min := include "sluice.str" $s.pdb.minAvailable }}
{{- if and (not $max) (not $min) }}
{{- fail (printf "stages.%s.pdb: set maxUnavailable or minAvailable" $name) }}
{{- end }}
{{- if and $max $min }}
{{- fail (printf "stages.%s.pdb: set only one of maxUnavailable and minAvailable (the other to \"\")" $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
