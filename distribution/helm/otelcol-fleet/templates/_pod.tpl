{{/* The pod template every mode runs. */}}
{{- define "otelcol-fleet.podTemplate" -}}
metadata:
  labels:
    {{- include "otelcol-fleet.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # A config change rolls the pods: the collector reads its config once, at start.
    checksum/config: {{ include "otelcol-fleet.config" . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "otelcol-fleet.serviceAccountName" . }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml .Values.topologySpreadConstraints | nindent 4 }}
  {{- else if ne .Values.mode "daemonset" }}
  # The HA pair must not share a node (required); gateways spread where they can.
  topologySpreadConstraints:
    - maxSkew: 1
      topologyKey: kubernetes.io/hostname
      whenUnsatisfiable: {{ if eq .Values.mode "deployment" }}DoNotSchedule{{ else }}ScheduleAnyway{{ end }}
      labelSelector:
        matchLabels:
          {{- include "otelcol-fleet.selectorLabels" . | nindent 10 }}
  {{- end }}
  containers:
    - name: otelcol-fleet
      image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      # Not /etc/otelcol-fleet: mounting there would hide the image's default config.
      args: ["--config", "/conf/config.yaml"]
      env:
        # Listeners bind the pod IP: the kubelet probes it, and nothing else is exposed.
        - name: MY_POD_IP
          valueFrom:
            fieldRef:
              fieldPath: status.podIP
        # This collector's name: the HA replica label, the gateway's stamp value.
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        {{- if eq .Values.mode "daemonset" }}
        # Each agent scrapes only its own node's targets.
        - name: K8S_NODE_NAME
          valueFrom:
            fieldRef:
              fieldPath: spec.nodeName
        {{- end }}
        {{- if eq .Values.mode "deployment" }}
        - name: CLUSTER_NAME
          value: {{ required "`clusterName` must be set in deployment mode: AMP deduplicates the HA pair on it" .Values.clusterName | quote }}
        {{- end }}
        {{- if .Values.remoteWrite.sigv4.enabled }}
        - name: AWS_REGION
          value: {{ required "`remoteWrite.sigv4.region` must be set when `remoteWrite.sigv4.enabled`: the workspace's region" .Values.remoteWrite.sigv4.region | quote }}
        {{- end }}
        {{- with .Values.extraEnvs }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        {{- range $name, $port := .Values.ports }}
        {{- if and $port.enabled (or (ne $.Values.mode "deployment") (eq $name "health")) }}
        - name: {{ $name }}
          containerPort: {{ $port.containerPort }}
          protocol: {{ $port.protocol | default "TCP" }}
          {{- if and (eq $.Values.mode "daemonset") $port.hostPort }}
          hostPort: {{ $port.hostPort }}
          {{- end }}
        {{- end }}
        {{- end }}
      {{- with .Values.livenessProbe }}
      livenessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.readinessProbe }}
      readinessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.startupProbe }}
      startupProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      resources:
        {{- include "otelcol-fleet.resources" . | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /conf
          readOnly: true
  volumes:
    - name: config
      configMap:
        name: {{ include "otelcol-fleet.fullname" . }}
{{- end }}
