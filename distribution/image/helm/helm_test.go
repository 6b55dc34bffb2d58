// Package helm_test checks the Helm chart distribution/helm/otelcol-fleet offline, with Helm's
// own Go packages (helm.sh/helm/v4): `helm lint` in every mode, then every mode rendered as
// `helm install` would, each rendered object through apimachinery's strict decoder, what the
// collector needs from them checked (probes, memory sizing, config wiring, the mode's shape), and
// each mode's collector config validated and started by the built binary.
package helm_test

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/otelcol-fleet/otelcol-fleet/distribution/image/internal/collectortest"
	"github.com/otelcol-fleet/otelcol-fleet/distribution/image/internal/imagebuild"
	"github.com/otelcol-fleet/otelcol-fleet/distribution/image/internal/kubetest"
)

func TestMain(m *testing.M) {
	// Helm's engine logs every `fail` it renders at Info; the tests check the errors themselves.
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	goleak.VerifyTestMain(m)
}

const (
	release   = "fleet"
	namespace = "otelcol-fleet"
	// The memory_limiter's limit_mib stays at or below this share of the container's memory
	// limit (the guide: a 10Gi pod gets a 9Gi limiter).
	headroom = 0.9
)

var modes = []string{"daemonset", "deployment", "gateway"}

// kubeVersion is the cluster the chart is rendered and linted for (Helm's default in a test
// binary is v1.20, below the chart's kubeVersion).
func kubeVersion(t *testing.T) *common.KubeVersion {
	t.Helper()
	kv, err := common.ParseKubeVersion("v1.33.0")
	require.NoError(t, err)
	return kv
}

func chartDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(collectortest.RepoRoot(t), "distribution", "helm", "otelcol-fleet")
}

// required are the values every install must give.
func required(mode string) map[string]any {
	v := map[string]any{
		"mode": mode,
		"remoteWrite": map[string]any{
			"endpoint": "https://aps-workspaces.us-west-2.amazonaws.com/workspaces/ws-EXAMPLE/api/v1/remote_write",
			"sigv4":    map[string]any{"region": "us-west-2"},
		},
		"serviceAccount": map[string]any{"annotations": map[string]any{
			"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/otelcol-fleet-amp-writer",
		}},
	}
	if mode == "deployment" {
		v["clusterName"] = "prod-eu"
	}
	return v
}

// with returns a copy of base with YAML overrides merged in (as `helm install -f`).
func with(t *testing.T, base map[string]any, overrides string) map[string]any {
	t.Helper()
	var o map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(overrides), &o))
	return util.MergeTables(o, deepCopy(base))
}

func deepCopy(m map[string]any) map[string]any {
	b, err := yaml.Marshal(m)
	if err != nil {
		panic(err)
	}
	var out map[string]any
	if err := yaml.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

func loadChart(t *testing.T) *chartv2.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir(t))
	require.NoError(t, err)
	return ch
}

// render renders the chart as `helm install` would and returns the manifests by template
// name (empty ones and NOTES.txt left out).
func render(t *testing.T, values map[string]any) (map[string]string, error) {
	t.Helper()
	ch := loadChart(t)
	caps := common.DefaultCapabilities.Copy()
	caps.KubeVersion = *kubeVersion(t)
	vals, err := util.ToRenderValues(ch, values, common.ReleaseOptions{Name: release, Namespace: namespace, IsInstall: true}, caps)
	if err != nil {
		return nil, err
	}
	out, err := engine.Render(ch, vals)
	if err != nil {
		return nil, err
	}
	manifests := map[string]string{}
	for name, m := range out {
		if strings.HasSuffix(name, "NOTES.txt") || strings.TrimSpace(m) == "" {
			continue
		}
		manifests[name] = m
	}
	return manifests, nil
}

// objects renders and strict-decodes every object.
func objects(t *testing.T, values map[string]any) []runtime.Object {
	t.Helper()
	manifests, err := render(t, values)
	require.NoError(t, err)
	names := make([]string, 0, len(manifests))
	for name := range manifests {
		names = append(names, name)
	}
	sort.Strings(names)
	var objs []runtime.Object
	for _, name := range names {
		decoded, err := kubetest.DecodeStrict([]byte(manifests[name]))
		require.NoError(t, err, "%s:\n%s", name, manifests[name])
		objs = append(objs, decoded...)
	}
	return objs
}

func TestLint(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			linter := lint.RunAll(chartDir(t), required(mode), namespace, lint.WithKubeVersion(kubeVersion(t)))
			for _, m := range linter.Messages {
				assert.Less(t, m.Severity, support.WarningSev, "helm lint: %s", m)
			}
		})
	}
	// Lint sees what is wrong: the chart's own checks fail it.
	linter := lint.RunAll(chartDir(t), map[string]any{"mode": "statefulset"}, namespace, lint.WithKubeVersion(kubeVersion(t)))
	assert.Equal(t, support.ErrorSev, linter.HighestSeverity)
}

// workload is the pod template of the Deployment or DaemonSet, with its selector.
type workload struct {
	kind     string
	name     string
	selector map[string]string
	template corev1.PodTemplateSpec
}

func workloadOf(t *testing.T, objs []runtime.Object) workload {
	t.Helper()
	var ws []workload
	for _, d := range kubetest.ObjectsOf[*appsv1.Deployment](objs) {
		ws = append(ws, workload{"Deployment", d.Name, d.Spec.Selector.MatchLabels, d.Spec.Template})
	}
	for _, d := range kubetest.ObjectsOf[*appsv1.DaemonSet](objs) {
		ws = append(ws, workload{"DaemonSet", d.Name, d.Spec.Selector.MatchLabels, d.Spec.Template})
	}
	require.Len(t, ws, 1, "one collector workload expected")
	return ws[0]
}

func collectorContainer(t *testing.T, spec corev1.PodSpec) corev1.Container {
	t.Helper()
	require.Len(t, spec.Containers, 1)
	require.Equal(t, "otelcol-fleet", spec.Containers[0].Name)
	return spec.Containers[0]
}

// configOf is the chart's collector config: `--config /conf/config.yaml`, from its ConfigMap.
func configOf(t *testing.T, objs []runtime.Object, spec corev1.PodSpec, c corev1.Container) string {
	t.Helper()
	require.Equal(t, []string{"--config", "/conf/config.yaml"}, c.Args)
	return kubetest.ConfigFromConfigMap(t, objs, spec, c)
}

// collectorConfig is the part of a collector config these tests read.
type collectorConfig struct {
	Extensions map[string]map[string]any `json:"extensions"`
	Receivers  map[string]map[string]any `json:"receivers"`
	Processors map[string]map[string]any `json:"processors"`
	Exporters  map[string]map[string]any `json:"exporters"`
}

func parseConfig(t *testing.T, cfgYAML string) collectorConfig {
	t.Helper()
	var cfg collectorConfig
	require.NoError(t, yaml.Unmarshal([]byte(cfgYAML), &cfg))
	return cfg
}

// TestModes renders every mode with only the required values and checks what each needs.
func TestModes(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			objs := objects(t, required(mode))
			w := workloadOf(t, objs)
			assert.Equal(t, map[string]string{"daemonset": "DaemonSet", "deployment": "Deployment", "gateway": "Deployment"}[mode], w.kind)
			assert.Equal(t, w.selector, pick(w.template.Labels, w.selector), "the selector must match the pod template's labels")
			spec := w.template.Spec
			c := collectorContainer(t, spec)
			assert.Equal(t, "otelcol-fleet:0.1.0", c.Image, "the image tag defaults to the chart's appVersion")

			checkProbes(t, c)
			checkSecurity(t, spec, c)
			cfgYAML := configOf(t, objs, spec, c)
			assert.Contains(t, w.template.Annotations, "checksum/config", "a config change must roll the pods")
			cfg := parseConfig(t, cfgYAML)
			assert.Equal(t, "${env:MY_POD_IP}:13133", cfg.Extensions["fleet_health"]["endpoint"], "the kubelet probes the pod IP")
			assert.Equal(t, "status.podIP", kubetest.FieldRef(c, "MY_POD_IP"))
			checkMemory(t, cfg, c)
			rw := cfg.Exporters["ordered_rw"]
			require.NotNil(t, rw, "remote write goes through ordered_rw")
			assert.Equal(t, map[string]any{"authenticator": "sigv4auth"}, rw["auth"])
			assert.Contains(t, cfg.Processors, "series_guard")
			checkServiceAccount(t, objs, spec)

			switch mode {
			case "daemonset":
				checkDaemonSet(t, objs, w, c, cfg)
			case "deployment":
				checkHADeployment(t, objs, w, c, cfg)
			case "gateway":
				checkGateway(t, objs, w, c, cfg)
			}

			out, err := collectortest.Validate(t, kubetest.ContainerEnv(t, c), "--config", kubetest.WriteConfig(t, cfgYAML))
			require.NoError(t, err, "otelcol-fleet validate on the rendered config:\n%s", out)
		})
	}
}

func pick(m, keys map[string]string) map[string]string {
	out := map[string]string{}
	for k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

func checkProbes(t *testing.T, c corev1.Container) {
	t.Helper()
	var health string
	for _, p := range c.Ports {
		if p.ContainerPort == 13133 {
			health = p.Name
		}
	}
	require.Equal(t, "health", health, "the container must name port 13133")
	for what, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if assert.NotNil(t, p, what) && assert.NotNil(t, p.HTTPGet, what) {
			assert.Equal(t, map[string]string{"liveness": "/livez", "readiness": "/readyz"}[what], p.HTTPGet.Path, what)
			assert.Equal(t, health, p.HTTPGet.Port.String(), what)
		}
	}
}

func checkSecurity(t *testing.T, spec corev1.PodSpec, c corev1.Container) {
	t.Helper()
	require.NotNil(t, spec.SecurityContext)
	require.NotNil(t, spec.SecurityContext.RunAsUser)
	assert.Equal(t, int64(imagebuild.UserID), *spec.SecurityContext.RunAsUser)
	sc := c.SecurityContext
	require.NotNil(t, sc)
	assert.True(t, sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem)
	assert.True(t, sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation)
	require.NotNil(t, sc.Capabilities)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
}

// checkMemory: the container has a memory limit and the memory_limiter stays under 90% of it.
func checkMemory(t *testing.T, cfg collectorConfig, c corev1.Container) {
	t.Helper()
	limit, ok := c.Resources.Limits[corev1.ResourceMemory]
	require.True(t, ok, "the collector needs a memory limit for the limiter to be sized against")
	if request, ok := c.Resources.Requests[corev1.ResourceMemory]; ok { // absent: the API server makes it the limit
		assert.LessOrEqual(t, request.Cmp(limit), 0)
	}
	ml := cfg.Processors["memory_limiter"]
	limitMiB, ok := ml["limit_mib"].(float64)
	require.True(t, ok, "limit_mib must be set against the container's limit %s", limit.String())
	spike, _ := ml["spike_limit_mib"].(float64)
	containerMiB := float64(limit.Value()) / (1 << 20)
	assert.LessOrEqual(t, limitMiB, headroom*containerMiB)
	assert.Positive(t, spike)
	assert.Less(t, spike, limitMiB)
}

func checkServiceAccount(t *testing.T, objs []runtime.Object, spec corev1.PodSpec) {
	t.Helper()
	for _, sa := range kubetest.ObjectsOf[*corev1.ServiceAccount](objs) {
		if sa.Name == spec.ServiceAccountName {
			assert.Contains(t, sa.Annotations, "eks.amazonaws.com/role-arn", "sigv4auth signs with the IRSA role")
			return
		}
	}
	t.Errorf("service account %q is not rendered", spec.ServiceAccountName)
}

// checkRBAC: the workload's service account may list and watch the resources named.
func checkRBAC(t *testing.T, objs []runtime.Object, w workload, resources ...string) {
	t.Helper()
	var role string
	for _, b := range kubetest.ObjectsOf[*rbacv1.ClusterRoleBinding](objs) {
		for _, s := range b.Subjects {
			if s.Kind == "ServiceAccount" && s.Name == w.template.Spec.ServiceAccountName && s.Namespace == namespace {
				role = b.RoleRef.Name
			}
		}
	}
	require.NotEmpty(t, role, "no ClusterRoleBinding for %s", w.template.Spec.ServiceAccountName)
	roles := kubetest.ObjectsOf[*rbacv1.ClusterRole](objs)
	require.Len(t, roles, 1)
	require.Equal(t, role, roles[0].Name)
	for _, res := range resources {
		found := false
		for _, r := range roles[0].Rules {
			if contains(r.Resources, res) && contains(r.Verbs, "list") && contains(r.Verbs, "watch") {
				found = true
			}
		}
		assert.True(t, found, "ClusterRole %s cannot list and watch %s", role, res)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func checkPDB(t *testing.T, objs []runtime.Object, w workload) {
	t.Helper()
	for _, pdb := range kubetest.ObjectsOf[*policyv1.PodDisruptionBudget](objs) {
		if labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels).Matches(labels.Set(w.template.Labels)) {
			return
		}
	}
	t.Errorf("no PodDisruptionBudget selects %s", w.name)
}

// checkDaemonSet: every discovering job restricted to this node, OTLP through hostPorts.
func checkDaemonSet(t *testing.T, objs []runtime.Object, w workload, c corev1.Container, cfg collectorConfig) {
	assert.Equal(t, "spec.nodeName", kubetest.FieldRef(c, "K8S_NODE_NAME"))
	prom := cfg.Receivers["prometheus"]["config"].(map[string]any)
	for _, sc := range prom["scrape_configs"].([]any) {
		job := sc.(map[string]any)
		if _, ok := job["kubernetes_sd_configs"]; !ok {
			continue
		}
		text, err := yaml.Marshal(job)
		require.NoError(t, err)
		assert.Regexp(t, regexp.MustCompile(`regex: \$\{env:K8S_NODE_NAME\}|field: spec.nodeName=\$\{env:K8S_NODE_NAME\}`), string(text),
			"job %v would scrape targets of every node from every node", job["job_name"])
	}
	var hostPorts []int32
	for _, p := range c.Ports {
		if p.HostPort != 0 {
			hostPorts = append(hostPorts, p.HostPort)
		}
	}
	assert.ElementsMatch(t, []int32{4317, 4318}, hostPorts, "pods reach their node's agent on the node's IP")
	checkRBAC(t, objs, w, "pods", "endpointslices")
	assert.Empty(t, kubetest.ObjectsOf[*corev1.Service](objs))
	assert.Empty(t, kubetest.ObjectsOf[*policyv1.PodDisruptionBudget](objs))
}

// checkHADeployment: two replicas on different nodes, a disruption budget, AMP's HA labels.
func checkHADeployment(t *testing.T, objs []runtime.Object, w workload, c corev1.Container, cfg collectorConfig) {
	d := kubetest.ObjectsOf[*appsv1.Deployment](objs)[0]
	require.NotNil(t, d.Spec.Replicas)
	assert.GreaterOrEqual(t, *d.Spec.Replicas, int32(2))
	labels := cfg.Exporters["ordered_rw"]["external_labels"].(map[string]any)
	assert.Equal(t, "${env:POD_NAME}", labels["__replica__"], "each replica names itself")
	assert.Equal(t, "${env:CLUSTER_NAME}", labels["cluster"])
	assert.Equal(t, "metadata.name", kubetest.FieldRef(c, "POD_NAME"))
	assert.Contains(t, c.Env, corev1.EnvVar{Name: "CLUSTER_NAME", Value: "prod-eu"})
	spread := false
	for _, tsc := range w.template.Spec.TopologySpreadConstraints {
		if tsc.TopologyKey == "kubernetes.io/hostname" && tsc.WhenUnsatisfiable == corev1.DoNotSchedule {
			spread = true
		}
	}
	assert.True(t, spread, "the replicas must not share a node")
	assert.NotContains(t, cfg.Receivers, "otlp", "the HA pair scrapes; OTLP sent to both would be stored twice")
	checkPDB(t, objs, w)
	checkRBAC(t, objs, w, "pods", "endpointslices")
	assert.Empty(t, kubetest.ObjectsOf[*corev1.Service](objs))
}

// checkGateway: a Service in front of the OTLP ports, a PDB, the stamp value from the pod name.
func checkGateway(t *testing.T, objs []runtime.Object, w workload, c corev1.Container, cfg collectorConfig) {
	svcs := kubetest.ObjectsOf[*corev1.Service](objs)
	require.Len(t, svcs, 1)
	svc := svcs[0]
	assert.True(t, labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(w.template.Labels)),
		"the Service does not select the gateway pods")
	named := map[string]int32{}
	for _, p := range c.Ports {
		named[p.Name] = p.ContainerPort
	}
	var ports []int32
	for _, p := range svc.Spec.Ports {
		target, ok := named[p.TargetPort.String()]
		assert.True(t, ok, "Service port %s targets %s, which the container does not name", p.Name, p.TargetPort.String())
		ports = append(ports, target)
	}
	assert.ElementsMatch(t, []int32{4317, 4318}, ports)
	ordering := cfg.Exporters["ordered_rw"]["ordering"].(map[string]any)
	assert.Equal(t, map[string]any{"label": "collector_gateway", "value": "${env:POD_NAME}"}, ordering["stamp"])
	assert.Equal(t, "metadata.name", kubetest.FieldRef(c, "POD_NAME"))
	checkPDB(t, objs, w)
	assert.Empty(t, kubetest.ObjectsOf[*rbacv1.ClusterRole](objs), "a gateway discovers nothing")
	assert.Empty(t, kubetest.ObjectsOf[*autoscalingv2.HorizontalPodAutoscaler](objs), "autoscaling is off by default")

	// With the autoscaler on, it owns the replica count.
	objs = objects(t, with(t, required("gateway"), "autoscaling: {enabled: true}"))
	hpas := kubetest.ObjectsOf[*autoscalingv2.HorizontalPodAutoscaler](objs)
	require.Len(t, hpas, 1)
	assert.Equal(t, w.name, hpas[0].Spec.ScaleTargetRef.Name)
	assert.Nil(t, kubetest.ObjectsOf[*appsv1.Deployment](objs)[0].Spec.Replicas)
	_, ok := c.Resources.Requests[corev1.ResourceCPU]
	assert.True(t, ok, "the autoscaler's CPU target needs a CPU request")
}

// TestMemoryLimiterFollowsLimit: limit_mib and spike_limit_mib follow resources.limits.memory in
// any unit, and the chart refuses what would break the guide's headroom.
func TestMemoryLimiterFollowsLimit(t *testing.T) {
	for limit, want := range map[string][2]float64{
		"512Mi": {435, 87}, "4Gi": {3481, 696}, "2G": {1620, 324}, "1073741824": {870, 174}, "1.5Gi": {1305, 261},
	} {
		t.Run(limit, func(t *testing.T) {
			objs := objects(t, with(t, required("gateway"), fmt.Sprintf("resources: {limits: {memory: %q}}", limit)))
			w := workloadOf(t, objs)
			c := collectorContainer(t, w.template.Spec)
			cfg := parseConfig(t, configOf(t, objs, w.template.Spec, c))
			ml := cfg.Processors["memory_limiter"]
			assert.Equal(t, want[0], ml["limit_mib"], "85%% of %s", limit)
			assert.Equal(t, want[1], ml["spike_limit_mib"], "20%% of limit_mib")
			checkMemory(t, cfg, c)
		})
	}
	for name, tc := range map[string]struct{ overrides, want string }{
		"no memory limit":      {"resources: {requests: {cpu: 100m}}", "`resources.limits.memory` must be set"},
		"not a quantity":       {"resources: {limits: {memory: 4GB}}", "`resources.limits.memory` must be a quantity such as 512Mi or 4Gi, found \"4GB\""},
		"limiter above 90%":    {"config: {processors: {memory_limiter: {limit_mib: 3900}}}", "`config.processors.memory_limiter.limit_mib` must be at most 90% of resources.limits.memory (4Gi = 4096 MiB), found 3900"},
		"percentage above 90%": {"memoryLimiter: {limitPercentage: 95}", "`memoryLimiter.limitPercentage` must be between 1 and 90, found 95"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := render(t, with(t, required("gateway"), tc.overrides))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestRequiredValues: each required value missing is named.
func TestRequiredValues(t *testing.T) {
	for name, tc := range map[string]struct {
		values map[string]any
		want   string
	}{
		"endpoint":     {with(t, required("gateway"), `remoteWrite: {endpoint: ""}`), "`remoteWrite.endpoint` must be set"},
		"region":       {with(t, required("daemonset"), `remoteWrite: {sigv4: {region: ""}}`), "`remoteWrite.sigv4.region` must be set"},
		"cluster name": {with(t, required("deployment"), `clusterName: ""`), "`clusterName` must be set in deployment mode"},
		"mode":         {with(t, required("gateway"), `mode: statefulset`), "`mode` must be daemonset, deployment or gateway, found \"statefulset\""},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := render(t, tc.values)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	// Without SigV4 (a backend that needs no signing) neither the extension nor the region is needed.
	objs := objects(t, with(t, required("gateway"), `remoteWrite: {sigv4: {enabled: false, region: ""}}`))
	w := workloadOf(t, objs)
	cfg := parseConfig(t, configOf(t, objs, w.template.Spec, collectorContainer(t, w.template.Spec)))
	assert.NotContains(t, cfg.Extensions, "sigv4auth")
	assert.NotContains(t, cfg.Exporters["ordered_rw"], "auth")
}

// TestConfigsRun starts each mode's rendered config with the built collector, with its
// container's environment (the pod IP is 127.0.0.1, the pod name kubetest.PodName) and the
// remote-write endpoint pointed, through the chart's `config` value, at a real local Prometheus
// instead of AMP (sigv4auth still signs, with dummy credentials). Each must report ready where
// the kubelet probes it; the agent and the gateway must deliver an OTLP point, the gateway (in
// holdback_and_stamp) stamped with its pod name. Kubernetes service discovery has no API server
// here: its jobs find no targets, and the collector runs regardless.
func TestConfigsRun(t *testing.T) {
	prom := collectortest.StartPrometheus(t)
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			overrides := fmt.Sprintf("config: {exporters: {ordered_rw: {endpoint: %q}}}", prom.RemoteWriteURL())
			if mode == "gateway" {
				overrides = fmt.Sprintf("config: {exporters: {ordered_rw: {endpoint: %q, "+
					"ordering: {mode: holdback_and_stamp, holdback: {window: 2s}}}}}", prom.RemoteWriteURL())
			}
			objs := objects(t, with(t, required(mode), overrides))
			spec := workloadOf(t, objs).template.Spec
			c := collectorContainer(t, spec)
			cfg := kubetest.WriteConfig(t, configOf(t, objs, spec, c))

			collectortest.RequirePortsFree(t, 4317, 4318, 8888, 13133)
			col := collectortest.StartCollector(t, kubetest.ContainerEnv(t, c), "--config", cfg)
			col.RequireReady(t, "http://127.0.0.1:13133")
			if mode == "deployment" {
				return // scrapes only: no OTLP receiver
			}
			job := "helm-" + mode
			collectortest.SendOTLP(t, "127.0.0.1:4318", job, "fleet_chart_probe", 7)
			query := fmt.Sprintf(`fleet_chart_probe{job=%q}`, job)
			if mode == "gateway" {
				query = fmt.Sprintf(`fleet_chart_probe{job=%q, collector_gateway=%q}`, job, kubetest.PodName)
			}
			require.Eventually(t, func() bool {
				v, ok := prom.Value(query)
				return ok && v == 7
			}, time.Minute, 200*time.Millisecond, "%s never reached Prometheus:\n%s", query, col.Logs())
		})
	}
}
