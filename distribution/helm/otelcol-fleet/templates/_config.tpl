{{/*
The collector config of each mode, as examples/eks has it (the tests validate and run each).
The memory_limiter's limits are set from resources.limits.memory in "otelcol-fleet.config".
*/}}

{{/* Shared by every mode: health, AMP signing, remote write, self-telemetry. */}}
{{- define "otelcol-fleet.config.extensions" -}}
extensions:
  fleet_health:
    endpoint: ${env:MY_POD_IP}:{{ .Values.ports.health.containerPort }}
  {{- if .Values.remoteWrite.sigv4.enabled }}
  sigv4auth:
    region: ${env:AWS_REGION}
    service: aps
  {{- end }}
{{- end }}

{{- /* Requests are bounded after decompression, at 8 MiB, as in distribution/config.yaml (which
gives the sizing with memory_limiter's spike allowance). */ -}}
{{- define "otelcol-fleet.config.otlp" -}}
otlp:
  protocols:
    {{- if (index .Values.ports "otlp").enabled }}
    grpc:
      endpoint: ${env:MY_POD_IP}:{{ (index .Values.ports "otlp").containerPort }}
      max_recv_msg_size_mib: 8
    {{- end }}
    {{- if (index .Values.ports "otlp-http").enabled }}
    http:
      endpoint: ${env:MY_POD_IP}:{{ (index .Values.ports "otlp-http").containerPort }}
      max_request_body_size: 8388608
    {{- end }}
{{- end }}

{{- define "otelcol-fleet.config.selfScrape" -}}
- job_name: {{ include "otelcol-fleet.fullname" . }}
  scrape_interval: 30s
  static_configs:
    - targets: [localhost:8888]
{{- end }}

{{/* window: how long ordered_rw holds each sample back, sized above the worst delay. */}}
{{- define "otelcol-fleet.config.exporter" -}}
{{- $endpoint := required "`remoteWrite.endpoint` must be set: the remote-write URL (AMP: https://aps-workspaces.REGION.amazonaws.com/workspaces/WS_ID/api/v1/remote_write)" .Values.remoteWrite.endpoint }}
exporters:
  ordered_rw:
    endpoint: {{ $endpoint | quote }}
    {{- if .Values.remoteWrite.sigv4.enabled }}
    auth:
      authenticator: sigv4auth
    {{- end }}
    {{- if eq .Values.mode "deployment" }}
    # AMP's HA deduplication keys: the same cluster name on both replicas, a different replica
    # name on each.
    external_labels:
      cluster: ${env:CLUSTER_NAME}
      __replica__: ${env:POD_NAME}
    {{- end }}
    resource_to_telemetry_conversion:
      enabled: false
    retry_on_failure:
      enabled: true
    ordering:
      mode: holdback
      holdback:
        window: {{ if eq .Values.mode "gateway" }}10s{{ else }}5s{{ end }}
      {{- if eq .Values.mode "gateway" }}
      # In the stamp modes each gateway labels its series with its own name: the pod name,
      # from the downward API (stable for the pod's life, unique among the gateways).
      stamp:
        label: collector_gateway
        value: ${env:POD_NAME}
      {{- end }}
{{- end }}

{{- define "otelcol-fleet.config.service" -}}
service:
  extensions: [fleet_health{{ if .Values.remoteWrite.sigv4.enabled }}, sigv4auth{{ end }}]
  pipelines:
    metrics:
      receivers: [{{ .receivers }}]
      processors: [memory_limiter, batch, series_guard]
      exporters: [ordered_rw]
  telemetry:
    metrics:
      level: detailed
      readers:
        - pull:
            exporter:
              prometheus:
                host: localhost
                port: 8888
{{- end }}

{{- define "otelcol-fleet.config.processors" -}}
processors:
  memory_limiter:
    check_interval: 1s
  batch:
    send_batch_size: 8192
    timeout: {{ .timeout }}
  # AMP's label quotas (70 labels, name and value lengths): a series over them is refused here
  # and counted, instead of costing the whole remote-write request.
  series_guard:
{{- end }}

{{/* daemonset: the node's pods and service endpoints, and OTLP from the node's pods. */}}
{{- define "otelcol-fleet.config.daemonset" -}}
{{ include "otelcol-fleet.config.extensions" . }}
receivers:
  {{- include "otelcol-fleet.config.otlp" . | nindent 2 }}
  prometheus:
    config:
      scrape_configs:
        # Service endpoints on this node (EndpointSlices), each node's agent its own share.
        - job_name: kubernetes-service-endpoints
          scrape_interval: 30s
          sample_limit: 50000
          label_limit: 40
          kubernetes_sd_configs:
            - role: endpointslice
          relabel_configs:
            - action: keep
              regex: ${env:K8S_NODE_NAME}
              source_labels: [__meta_kubernetes_endpointslice_endpoint_node_name]
            - action: keep
              regex: "true"
              source_labels: [__meta_kubernetes_service_annotation_prometheus_io_scrape]
            - action: replace
              regex: (.+)
              source_labels: [__meta_kubernetes_service_annotation_prometheus_io_path]
              target_label: __metrics_path__
            - action: replace
              source_labels: [__meta_kubernetes_namespace]
              target_label: namespace
            - action: replace
              source_labels: [__meta_kubernetes_service_name]
              target_label: service
            - action: replace
              source_labels: [__meta_kubernetes_pod_name]
              target_label: pod
        # Annotated pods on this node: the field selector makes the API server send only them.
        - job_name: kubernetes-pods
          scrape_interval: 30s
          sample_limit: 50000
          label_limit: 40
          kubernetes_sd_configs:
            - role: pod
              selectors:
                - role: pod
                  field: spec.nodeName=${env:K8S_NODE_NAME}
          relabel_configs:
            - action: keep
              regex: "true"
              source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
            - action: replace
              regex: (.+)
              source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]
              target_label: __metrics_path__
            - action: replace
              source_labels: [__meta_kubernetes_namespace]
              target_label: namespace
            - action: replace
              source_labels: [__meta_kubernetes_pod_name]
              target_label: pod
        {{- include "otelcol-fleet.config.selfScrape" . | nindent 8 }}
{{ include "otelcol-fleet.config.processors" (dict "timeout" "5s") }}
{{ include "otelcol-fleet.config.exporter" . }}
{{ include "otelcol-fleet.config.service" (dict "receivers" "otlp, prometheus" "Values" .Values) }}
{{- end }}

{{/* deployment: cluster-wide targets, scraped by both replicas. */}}
{{- define "otelcol-fleet.config.deployment" -}}
{{ include "otelcol-fleet.config.extensions" . }}
receivers:
  prometheus:
    config:
      scrape_configs:
        # The API servers: scraped centrally (on EKS they run on no node of yours).
        - job_name: kubernetes-apiservers
          scrape_interval: 30s
          scheme: https
          authorization:
            credentials_file: /var/run/secrets/kubernetes.io/serviceaccount/token
          tls_config:
            ca_file: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
          kubernetes_sd_configs:
            - role: endpointslice
          relabel_configs:
            - action: keep
              regex: default;kubernetes;https
              source_labels: [__meta_kubernetes_namespace, __meta_kubernetes_service_name, __meta_kubernetes_endpointslice_port_name]
        # Every annotated pod in the cluster.
        - job_name: kubernetes-pods
          scrape_interval: 30s
          sample_limit: 50000
          label_limit: 40
          kubernetes_sd_configs:
            - role: pod
          relabel_configs:
            - action: keep
              regex: "true"
              source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
            - action: replace
              regex: (.+)
              source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]
              target_label: __metrics_path__
            - action: replace
              source_labels: [__meta_kubernetes_namespace]
              target_label: namespace
            - action: replace
              source_labels: [__meta_kubernetes_pod_name]
              target_label: pod
        {{- include "otelcol-fleet.config.selfScrape" . | nindent 8 }}
{{ include "otelcol-fleet.config.processors" (dict "timeout" "5s") }}
{{ include "otelcol-fleet.config.exporter" . }}
{{ include "otelcol-fleet.config.service" (dict "receivers" "prometheus" "Values" .Values) }}
{{- end }}

{{/* gateway: OTLP from the agents, through the Service. */}}
{{- define "otelcol-fleet.config.gateway" -}}
{{ include "otelcol-fleet.config.extensions" . }}
receivers:
  {{- include "otelcol-fleet.config.otlp" . | nindent 2 }}
  prometheus/self:
    config:
      scrape_configs:
        {{- include "otelcol-fleet.config.selfScrape" . | nindent 8 }}
{{ include "otelcol-fleet.config.processors" (dict "timeout" "1s") }}
{{ include "otelcol-fleet.config.exporter" . }}
{{ include "otelcol-fleet.config.service" (dict "receivers" "otlp, prometheus/self" "Values" .Values) }}
{{- end }}
