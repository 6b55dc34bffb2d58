{{/* Names and labels, as `helm create` makes them. */}}
{{- define "otelcol-fleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "otelcol-fleet.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "otelcol-fleet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "otelcol-fleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: {{ include "otelcol-fleet.component" . }}
{{- end }}

{{- define "otelcol-fleet.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "otelcol-fleet.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The mode, checked once: every template goes through here. */}}
{{- define "otelcol-fleet.component" -}}
{{- $components := dict "daemonset" "agent" "deployment" "ha" "gateway" "gateway" }}
{{- if not (hasKey $components .Values.mode) }}
{{- fail (printf "`mode` must be daemonset, deployment or gateway, found %q" .Values.mode) }}
{{- end }}
{{- get $components .Values.mode }}
{{- end }}

{{- define "otelcol-fleet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "otelcol-fleet.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Kubernetes service discovery needs read access to the API (not the gateway). */}}
{{- define "otelcol-fleet.discovers" -}}
{{- if ne .Values.mode "gateway" }}true{{ end }}
{{- end }}

{{/* The resources, or the mode's default. */}}
{{- define "otelcol-fleet.resources" -}}
{{- if .Values.resources }}
{{- toYaml .Values.resources }}
{{- else if eq .Values.mode "daemonset" }}
requests: {cpu: 200m, memory: 512Mi}
limits: {memory: 512Mi}
{{- else if eq .Values.mode "deployment" }}
requests: {cpu: 500m, memory: 2Gi}
limits: {memory: 2Gi}
{{- else }}
requests: {cpu: "1", memory: 4Gi}
limits: {memory: 4Gi}
{{- end }}
{{- end }}

{{/*
A memory quantity (resources.limits.memory) in MiB, rounded down. Kubernetes' binary (Ki, Mi,
Gi, Ti) and decimal (k, M, G, T) suffixes, or plain bytes.
*/}}
{{- define "otelcol-fleet.memoryMiB" -}}
{{- $q := toString . }}
{{- if not (regexMatch "^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$" $q) }}
{{- fail (printf "`resources.limits.memory` must be a quantity such as 512Mi or 4Gi, found %q" $q) }}
{{- end }}
{{- $units := dict "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "k" 1000.0 "M" 1000000.0 "G" 1000000000.0 "T" 1000000000000.0 }}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" $q }}
{{- $suffix := trimPrefix $number $q }}
{{- $multiplier := 1.0 }}
{{- if $suffix }}{{ $multiplier = get $units $suffix }}{{ end }}
{{- divf (mulf (float64 $number) $multiplier) 1048576.0 | floor | int64 }}
{{- end }}

{{/*
The collector config: the mode's, with the memory_limiter sized from the container's memory
limit, then .Values.config merged over it.
*/}}
{{- define "otelcol-fleet.config" -}}
{{- $resources := include "otelcol-fleet.resources" . | fromYaml }}
{{- $limit := "" }}
{{- if and $resources.limits (hasKey $resources.limits "memory") }}{{ $limit = $resources.limits.memory }}{{ end }}
{{- if not $limit }}
{{- fail "`resources.limits.memory` must be set: the memory_limiter is sized from it (without it, the collector sizes itself against the node's memory)" }}
{{- end }}
{{- $containerMiB := include "otelcol-fleet.memoryMiB" $limit | int64 }}
{{- $pct := .Values.memoryLimiter.limitPercentage | int64 }}
{{- if or (lt $pct 1) (gt $pct 90) }}
{{- fail (printf "`memoryLimiter.limitPercentage` must be between 1 and 90, found %d" $pct) }}
{{- end }}
{{- $limitMiB := div (mul $containerMiB $pct) 100 }}
{{- $spikeMiB := div (mul $limitMiB (.Values.memoryLimiter.spikePercentage | int64)) 100 }}
{{- $memoryLimiter := dict "check_interval" "1s" "limit_mib" $limitMiB "spike_limit_mib" $spikeMiB }}
{{- $base := include (printf "otelcol-fleet.config.%s" .Values.mode) . | fromYaml }}
{{- $config := mustMergeOverwrite $base (dict "processors" (dict "memory_limiter" $memoryLimiter)) (deepCopy .Values.config) }}
{{- $set := (get (get $config "processors") "memory_limiter") }}
{{- if gt (get $set "limit_mib" | float64) (mulf $containerMiB 0.9) }}
{{- fail (printf "`config.processors.memory_limiter.limit_mib` must be at most 90%% of resources.limits.memory (%s = %d MiB), found %v" $limit $containerMiB (get $set "limit_mib")) }}
{{- end }}
{{- toYaml $config }}
{{- end }}
