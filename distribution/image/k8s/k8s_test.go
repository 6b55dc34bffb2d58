// Package k8s_test checks the Kubernetes manifests under examples/eks offline: every document
// through apimachinery's strict decoder (unknown fields, wrong casing, duplicate keys and bad
// quantities fail), then what the collector needs from them — probes, memory sizing, config
// wiring — and finally each embedded collector config through the built binary's validate.
package k8s_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
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

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	collectorContainer = "otelcol-fleet"
	healthPort         = 13133
	// The memory_limiter's limit_mib stays at or below this share of the container's memory
	// limit (the guide: a 10Gi pod gets a 9Gi limiter).
	headroom = 0.9
)

// decodeStrict decodes every document of a multi-document YAML manifest with apimachinery's
// strict codec.
func decodeStrict(raw []byte) ([]runtime.Object, error) { return kubetest.DecodeStrict(raw) }

// TestStrictDecoderCatchesMistakes proves the decoder refuses what it is here to refuse.
func TestStrictDecoderCatchesMistakes(t *testing.T) {
	good := `apiVersion: v1
kind: ConfigMap
metadata:
  name: x
data:
  a: b
`
	_, err := decodeStrict([]byte(good))
	require.NoError(t, err)
	pod := `apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
    - name: c
      image: i
      resources:
        limits:
          memory: %s
      %s: 1
`
	for name, tc := range map[string]struct{ doc, want string }{
		"unknown field":  {fmt.Sprintf(pod, "1Gi", "unknownField"), `unknown field "spec.containers[0].unknownField"`},
		"wrong casing":   {fmt.Sprintf(pod, "1Gi", "TerminationMessagePath"), `unknown field "spec.containers[0].TerminationMessagePath"`},
		"bad quantity":   {fmt.Sprintf(pod, "1GB", "stdin"), "quantities must match"},
		"duplicate keys": {good + "data:\n  c: d\n", `"data" already set`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := decodeStrict([]byte(tc.doc))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// manifest is one example's decoded objects.
type manifest struct {
	path    string
	objects []runtime.Object
}

func load(t *testing.T, rel string) manifest {
	t.Helper()
	path := filepath.Join(collectortest.RepoRoot(t), rel)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	objs, err := decodeStrict(raw)
	require.NoError(t, err, rel)
	return manifest{path: rel, objects: objs}
}

func objectsOf[T runtime.Object](m manifest) []T {
	var out []T
	for _, o := range m.objects {
		if v, ok := o.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// workload is the pod template of a Deployment or DaemonSet, with what selects it.
type workload struct {
	name     string
	selector map[string]string
	template corev1.PodTemplateSpec
}

func workloads(m manifest) []workload {
	var out []workload
	for _, d := range objectsOf[*appsv1.Deployment](m) {
		out = append(out, workload{d.Name, d.Spec.Selector.MatchLabels, d.Spec.Template})
	}
	for _, d := range objectsOf[*appsv1.DaemonSet](m) {
		out = append(out, workload{d.Name, d.Spec.Selector.MatchLabels, d.Spec.Template})
	}
	return out
}

// collector finds the otelcol-fleet container: a regular container, or a native sidecar (an
// init container with restartPolicy: Always).
func collector(t *testing.T, spec corev1.PodSpec) (c corev1.Container, nativeSidecar bool) {
	t.Helper()
	for _, c := range spec.Containers {
		if c.Name == collectorContainer {
			return c, false
		}
	}
	for _, c := range spec.InitContainers {
		if c.Name == collectorContainer {
			require.NotNil(t, c.RestartPolicy, "an init container collector must be a native sidecar")
			require.Equal(t, corev1.ContainerRestartPolicyAlways, *c.RestartPolicy)
			return c, true
		}
	}
	require.FailNow(t, "no otelcol-fleet container")
	return corev1.Container{}, false
}

// collectorConfig is the part of a collector config these tests read.
type collectorConfig struct {
	Extensions map[string]map[string]any `json:"extensions"`
	Processors map[string]map[string]any `json:"processors"`
	Exporters  map[string]map[string]any `json:"exporters"`
	Receivers  map[string]map[string]any `json:"receivers"`
}

// example is what every collector workload in examples/eks is checked for.
type example struct {
	file string
	kind string // Deployment or DaemonSet
	// readiness: whether the collector has a /readyz readiness probe. Not for the sidecar: a
	// native sidecar's readiness is the pod's, and backpressure in the collector must not take
	// the application out of its Service.
	readiness bool
	check     func(t *testing.T, m manifest, w workload, c corev1.Container, cfg collectorConfig)
}

var examples = map[string]example{
	"sidecar":    {file: "examples/eks/sidecar/sidecar.yaml", kind: "Deployment", readiness: false, check: checkSidecar},
	"daemonset":  {file: "examples/eks/daemonset/daemonset.yaml", kind: "DaemonSet", readiness: true, check: checkDaemonSet},
	"deployment": {file: "examples/eks/deployment/deployment.yaml", kind: "Deployment", readiness: true, check: checkHADeployment},
	"gateway":    {file: "examples/eks/gateway/gateway.yaml", kind: "Deployment", readiness: true, check: checkGateway},
}

func TestManifests(t *testing.T) {
	for name, ex := range examples {
		t.Run(name, func(t *testing.T) {
			m := load(t, ex.file)
			ws := workloads(m)
			require.Len(t, ws, 1, "%s: one collector workload expected", ex.file)
			w := ws[0]
			assert.Equal(t, w.selector, pick(w.template.Labels, w.selector), "the selector must match the pod template's labels")
			spec := w.template.Spec
			c, _ := collector(t, spec)

			assert.Contains(t, c.Image, "/otelcol-fleet:")
			checkProbes(t, c, ex.readiness)
			checkSecurity(t, spec, c)
			cfgYAML := kubetest.ConfigFromConfigMap(t, m.objects, spec, c)
			var cfg collectorConfig
			require.NoError(t, yaml.Unmarshal([]byte(cfgYAML), &cfg))
			assert.Equal(t, fmt.Sprintf("${env:MY_POD_IP}:%d", healthPort), cfg.Extensions["fleet_health"]["endpoint"],
				"the kubelet probes the pod IP")
			assert.Equal(t, "status.podIP", kubetest.FieldRef(c, "MY_POD_IP"))
			checkMemory(t, cfg, c)
			// AMP through our in-order exporter, signed with the task's or pod's role.
			rw, ok := cfg.Exporters["ordered_rw"]
			require.True(t, ok, "remote write goes through ordered_rw")
			assert.Equal(t, map[string]any{"authenticator": "sigv4auth"}, rw["auth"])
			assert.Contains(t, cfg.Processors, "series_guard")
			checkServiceAccount(t, m, spec)
			validateConfig(t, cfgYAML, c)
			ex.check(t, m, w, c, cfg)
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

func checkProbes(t *testing.T, c corev1.Container, readiness bool) {
	t.Helper()
	var healthPortName string
	for _, p := range c.Ports {
		if p.ContainerPort == healthPort {
			healthPortName = p.Name
		}
	}
	require.NotEmpty(t, healthPortName, "the container must declare port %d", healthPort)
	probe := func(p *corev1.Probe, path, what string) {
		if !assert.NotNil(t, p, "%s probe", what) || !assert.NotNil(t, p.HTTPGet, "%s probe", what) {
			return
		}
		assert.Equal(t, path, p.HTTPGet.Path, "%s probe", what)
		assert.Equal(t, healthPortName, p.HTTPGet.Port.String(), "%s probe", what)
	}
	probe(c.LivenessProbe, "/livez", "liveness")
	if c.StartupProbe != nil {
		probe(c.StartupProbe, "/livez", "startup")
	}
	if readiness {
		probe(c.ReadinessProbe, "/readyz", "readiness")
	} else {
		assert.Nil(t, c.ReadinessProbe, "no readiness probe on a sidecar collector")
	}
}

func checkSecurity(t *testing.T, spec corev1.PodSpec, c corev1.Container) {
	t.Helper()
	uid := c.SecurityContext.RunAsUser
	if uid == nil && spec.SecurityContext != nil {
		uid = spec.SecurityContext.RunAsUser
	}
	require.NotNil(t, uid, "run as the image's user")
	assert.Equal(t, int64(imagebuild.UserID), *uid)
	sc := c.SecurityContext
	require.NotNil(t, sc)
	assert.True(t, sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem)
	assert.True(t, sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation)
	require.NotNil(t, sc.Capabilities)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
}

func checkMemory(t *testing.T, cfg collectorConfig, c corev1.Container) {
	t.Helper()
	limit, ok := c.Resources.Limits[corev1.ResourceMemory]
	require.True(t, ok, "the collector needs a memory limit for the limiter to be sized against")
	request, ok := c.Resources.Requests[corev1.ResourceMemory]
	require.True(t, ok)
	assert.LessOrEqual(t, request.Cmp(limit), 0)
	ml, ok := cfg.Processors["memory_limiter"]
	require.True(t, ok, "every pipeline starts with memory_limiter")
	limitMiB, ok := ml["limit_mib"].(float64)
	require.True(t, ok, "limit_mib must be set against the container's limit %s", limit.String())
	spike, _ := ml["spike_limit_mib"].(float64)
	containerMiB := float64(limit.Value()) / (1 << 20)
	assert.LessOrEqual(t, limitMiB, headroom*containerMiB,
		"memory_limiter limit_mib %v leaves less than %.0f%% headroom below the container's %s", limitMiB, 100*(1-headroom), limit.String())
	assert.Positive(t, spike)
	assert.Less(t, spike, limitMiB)
}

func checkServiceAccount(t *testing.T, m manifest, spec corev1.PodSpec) {
	t.Helper()
	for _, sa := range objectsOf[*corev1.ServiceAccount](m) {
		if sa.Name == spec.ServiceAccountName {
			assert.Contains(t, sa.Annotations, "eks.amazonaws.com/role-arn", "sigv4auth signs with the IRSA role")
			return
		}
	}
	t.Errorf("service account %q is not in the manifest", spec.ServiceAccountName)
}

// validateConfig runs the built collector's validate on the ConfigMap's config, with the
// container's environment. The service account token and CA the kubelet mounts are stood in for
// by files in a temporary directory (the Prometheus receiver opens them at validation).
func validateConfig(t *testing.T, cfgYAML string, c corev1.Container) {
	t.Helper()
	out, err := collectortest.Validate(t, containerEnv(t, c), "--config", writeConfig(t, cfgYAML))
	require.NoError(t, err, "otelcol-fleet validate on the ConfigMap's config:\n%s", out)
}

// writeConfig writes the config with the kubelet's service account files stood in for.
func writeConfig(t *testing.T, cfgYAML string) string { return kubetest.WriteConfig(t, cfgYAML) }

// containerEnv is the container's environment as a pod on loopback would get it.
func containerEnv(t *testing.T, c corev1.Container) []string { return kubetest.ContainerEnv(t, c) }

// scrapeConfigs returns the prometheus receivers' scrape configs.
func scrapeConfigs(t *testing.T, cfg collectorConfig) []map[string]any {
	t.Helper()
	var out []map[string]any
	for id, r := range cfg.Receivers {
		if id != "prometheus" && !strings.HasPrefix(id, "prometheus/") {
			continue
		}
		prom, _ := r["config"].(map[string]any)
		list, _ := prom["scrape_configs"].([]any)
		for _, sc := range list {
			out = append(out, sc.(map[string]any))
		}
	}
	return out
}

func checkSidecar(t *testing.T, m manifest, w workload, c corev1.Container, cfg collectorConfig) {
	_, native := collector(t, w.template.Spec)
	assert.True(t, native, "the sidecar runs as a native sidecar, started before the application")
	for _, id := range []string{"grpc", "http"} {
		protocols := cfg.Receivers["otlp"]["protocols"].(map[string]any)
		assert.Regexp(t, `^localhost:`, protocols[id].(map[string]any)["endpoint"], "OTLP stays inside the pod")
	}
	for _, sc := range scrapeConfigs(t, cfg) {
		assert.NotContains(t, sc, "kubernetes_sd_configs", "a sidecar scrapes localhost only")
	}
}

// checkDaemonSet holds the guide's keep-by-node rule, corrected: a keep on the target's node
// name against this pod's node, with the node name from the downward API.
func checkDaemonSet(t *testing.T, m manifest, w workload, c corev1.Container, cfg collectorConfig) {
	assert.Equal(t, "spec.nodeName", kubetest.FieldRef(c, "K8S_NODE_NAME"))
	var keepsByNode int
	for _, sc := range scrapeConfigs(t, cfg) {
		sds, ok := sc["kubernetes_sd_configs"].([]any)
		if !ok {
			continue
		}
		// Every discovering job is restricted to this node, by relabeling or by a field selector.
		restricted := false
		for _, rc := range asMaps(sc["relabel_configs"]) {
			labels := fmt.Sprint(rc["source_labels"])
			if rc["action"] == "keep" && rc["regex"] == "${env:K8S_NODE_NAME}" && strings.Contains(labels, "node_name") {
				restricted = true
				keepsByNode++
			}
		}
		for _, sd := range asMaps(sds) {
			for _, sel := range asMaps(sd["selectors"]) {
				if sel["field"] == "spec.nodeName=${env:K8S_NODE_NAME}" {
					restricted = true
				}
			}
		}
		assert.True(t, restricted, "job %v would scrape targets of every node from every node", sc["job_name"])
	}
	assert.Positive(t, keepsByNode, "the guide's keep-by-node relabel rule is missing")

	var hostPorts []int32
	for _, p := range c.Ports {
		if p.HostPort != 0 {
			hostPorts = append(hostPorts, p.HostPort)
		}
	}
	assert.ElementsMatch(t, []int32{4317, 4318}, hostPorts, "pods reach their node's agent on the node's IP")
	checkRBAC(t, m, w, "pods", "endpointslices")
}

func asMaps(v any) []map[string]any {
	list, _ := v.([]any)
	var out []map[string]any
	for _, item := range list {
		if m, ok := item.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// checkRBAC: the workload's service account may list and watch the resources named.
func checkRBAC(t *testing.T, m manifest, w workload, resources ...string) {
	t.Helper()
	var role string
	for _, b := range objectsOf[*rbacv1.ClusterRoleBinding](m) {
		for _, s := range b.Subjects {
			if s.Kind == "ServiceAccount" && s.Name == w.template.Spec.ServiceAccountName {
				role = b.RoleRef.Name
			}
		}
	}
	require.NotEmpty(t, role, "no ClusterRoleBinding for %s", w.template.Spec.ServiceAccountName)
	for _, cr := range objectsOf[*rbacv1.ClusterRole](m) {
		if cr.Name != role {
			continue
		}
		for _, res := range resources {
			found := false
			for _, r := range cr.Rules {
				if slices.Contains(r.Resources, res) && slices.Contains(r.Verbs, "list") && slices.Contains(r.Verbs, "watch") {
					found = true
				}
			}
			assert.True(t, found, "ClusterRole %s cannot list and watch %s", role, res)
		}
		return
	}
	t.Errorf("ClusterRole %s is not in the manifest", role)
}

// checkHADeployment: two replicas on different nodes, a disruption budget that keeps one, and
// the external labels AMP deduplicates on.
func checkHADeployment(t *testing.T, m manifest, w workload, c corev1.Container, cfg collectorConfig) {
	d := objectsOf[*appsv1.Deployment](m)[0]
	require.NotNil(t, d.Spec.Replicas)
	assert.GreaterOrEqual(t, *d.Spec.Replicas, int32(2))
	labels := cfg.Exporters["ordered_rw"]["external_labels"].(map[string]any)
	assert.Equal(t, "${env:POD_NAME}", labels["__replica__"], "each replica names itself")
	assert.Equal(t, "metadata.name", kubetest.FieldRef(c, "POD_NAME"))
	assert.NotEmpty(t, labels["cluster"])
	spread := false
	for _, tsc := range w.template.Spec.TopologySpreadConstraints {
		if tsc.TopologyKey == "kubernetes.io/hostname" && tsc.WhenUnsatisfiable == corev1.DoNotSchedule {
			spread = true
		}
	}
	assert.True(t, spread, "the replicas must not share a node")
	checkPDB(t, m, w)
	checkRBAC(t, m, w, "pods", "endpointslices")
}

func checkPDB(t *testing.T, m manifest, w workload) {
	t.Helper()
	for _, pdb := range objectsOf[*policyv1.PodDisruptionBudget](m) {
		sel := labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels)
		if sel.Matches(labels.Set(w.template.Labels)) {
			return
		}
	}
	t.Errorf("no PodDisruptionBudget selects %s", w.name)
}

// checkGateway: a Service in front of the gateways' OTLP ports, a PDB, an autoscaler.
func checkGateway(t *testing.T, m manifest, w workload, c corev1.Container, cfg collectorConfig) {
	svcs := objectsOf[*corev1.Service](m)
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
	checkPDB(t, m, w)
	hpas := objectsOf[*autoscalingv2.HorizontalPodAutoscaler](m)
	require.Len(t, hpas, 1)
	assert.Equal(t, w.name, hpas[0].Spec.ScaleTargetRef.Name)
	require.NotNil(t, hpas[0].Spec.MinReplicas)
	assert.GreaterOrEqual(t, *hpas[0].Spec.MinReplicas, int32(2))
	// The HPA's CPU target needs a CPU request.
	_, ok := c.Resources.Requests[corev1.ResourceCPU]
	assert.True(t, ok)
}

// TestConfigsRun starts the sidecar's and the gateway's collector with their ConfigMap's config
// and their container's environment (the pod IP is 127.0.0.1), the remote-write endpoint pointed
// at a real local Prometheus instead of AMP (sigv4auth still signs, with dummy credentials).
// Each must report ready where the kubelet probes it and deliver an OTLP point. The DaemonSet
// and the HA Deployment are not run: Kubernetes service discovery needs an API server.
func TestConfigsRun(t *testing.T) {
	prom := collectortest.StartPrometheus(t)
	for _, name := range []string{"sidecar", "gateway"} {
		t.Run(name, func(t *testing.T) {
			m := load(t, examples[name].file)
			spec := workloads(m)[0].template.Spec
			c, _ := collector(t, spec)
			cfg := writeConfig(t, kubetest.ConfigFromConfigMap(t, m.objects, spec, c))

			collectortest.RequirePortsFree(t, 4317, 4318, 8888, healthPort)
			col := collectortest.StartCollector(t, containerEnv(t, c), "--config", cfg,
				"--config", "yaml:exporters::ordered_rw::endpoint: "+prom.RemoteWriteURL())
			col.RequireReady(t, fmt.Sprintf("http://127.0.0.1:%d", healthPort))
			job := "eks-" + name
			collectortest.SendOTLP(t, "127.0.0.1:4318", job, "fleet_packaging_probe", 7)
			collectortest.RequireDelivered(t, prom, col, job, "fleet_packaging_probe", 7)
		})
	}
}
