// Package ecs_test checks the ECS task definitions, service and target group in distribution/ecs
// offline: against the AWS SDK's own types, enums and serializer, and against the collector
// binary, which validates the config each task runs exactly as the task would pass it.
package ecs_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"sigs.k8s.io/yaml"

	"github.com/otelcol-fleet/otelcol-fleet/distribution/image/internal/collectortest"
	"github.com/otelcol-fleet/otelcol-fleet/distribution/image/internal/imagebuild"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var update = flag.Bool("update", false, "copy each config.yaml into its task definition's FLEET_CONFIG")

const (
	collectorContainer = "otelcol-fleet"
	configEnv          = "FLEET_CONFIG"
	// livenessURL is what ECS container health checks probe. An unhealthy essential container
	// gets its task stopped and replaced: that is liveness, so it must not be /readyz, which
	// turns 503 under backpressure (a busy collector restarted loses its queue).
	livenessURL = "http://localhost:13133/livez"
	// headroom: the memory_limiter's limit_mib stays at or below this share of the container's
	// hard memory limit, leaving room for the collector's own work (the guide: 9Gi of 10Gi).
	headroom = 0.9
)

func ecsDir(t *testing.T) string {
	return filepath.Join(collectortest.RepoRoot(t), "distribution", "ecs")
}

// collectorConfig is the part of a collector config these tests read.
type collectorConfig struct {
	Extensions map[string]map[string]any `json:"extensions"`
	Processors map[string]map[string]any `json:"processors"`
	Exporters  map[string]map[string]any `json:"exporters"`
}

func TestTaskDefinitions(t *testing.T) {
	for _, mode := range []string{"sidecar", "central", "gateway"} {
		t.Run(mode, func(t *testing.T) {
			dir := filepath.Join(ecsDir(t), mode)
			path := filepath.Join(dir, "task-definition.json")
			raw, err := os.ReadFile(path)
			require.NoError(t, err)
			configYAML, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
			require.NoError(t, err)
			if *update {
				raw = syncConfig(t, path, raw, string(configYAML))
			}

			td, err := checkAgainstSDK(raw, registerTaskDefinition)
			require.NoError(t, err)
			checkFargate(t, td)

			c := container(t, td.ContainerDefinitions, collectorContainer)
			env := map[string]string{}
			var envList []string
			for _, kv := range c.Environment {
				env[*kv.Name] = *kv.Value
				if *kv.Name != configEnv {
					envList = append(envList, *kv.Name+"="+*kv.Value)
				}
			}
			assert.Equal(t, string(configYAML), env[configEnv],
				"%s: %s differs from config.yaml; run `go test ./ecs -update`", path, configEnv)
			assert.Equal(t, []string{"--config", "env:" + configEnv}, c.Command)
			assert.Contains(t, *c.Image, "/otelcol-fleet:")
			assert.NotEmpty(t, env["AWS_REGION"], "sigv4auth signs for AWS_REGION")
			assert.NotNil(t, td.TaskRoleArn, "sigv4auth signs with the task role")
			assert.NotNil(t, td.ExecutionRoleArn, "pulling from ECR and writing to CloudWatch Logs need the execution role")

			// The container health check runs the image's static healthcheck program in exec
			// form: the image has no shell for CMD-SHELL.
			require.NotNil(t, c.HealthCheck)
			assert.Equal(t, []string{"CMD", imagebuild.HealthcheckPath, "-url", livenessURL}, c.HealthCheck.Command)
			require.NotNil(t, c.HealthCheck.Timeout)
			assert.GreaterOrEqual(t, *c.HealthCheck.Timeout, int32(4), "the healthcheck program gives up after 3s")
			require.NotNil(t, c.LogConfiguration)
			assert.Equal(t, types.LogDriverAwslogs, c.LogConfiguration.LogDriver)
			for _, opt := range []string{"awslogs-group", "awslogs-region", "awslogs-stream-prefix"} {
				assert.NotEmpty(t, c.LogConfiguration.Options[opt], opt)
			}

			var cfg collectorConfig
			require.NoError(t, yaml.Unmarshal(configYAML, &cfg))
			fh, ok := cfg.Extensions["fleet_health"]
			require.True(t, ok, "the probes need fleet_health's /livez and /readyz")
			assert.Regexp(t, `:13133$`, fh["endpoint"])
			checkMemoryLimiter(t, cfg, c)
			// AMP through our in-order exporter, signed with the task's or pod's role.
			rw, ok := cfg.Exporters["ordered_rw"]
			require.True(t, ok, "remote write goes through ordered_rw")
			assert.Equal(t, map[string]any{"authenticator": "sigv4auth"}, rw["auth"])
			assert.Contains(t, cfg.Processors, "series_guard")

			// The binary validates the config exactly as the container passes it.
			out, err := collectortest.Validate(t, append(envList, configEnv+"="+env[configEnv]), c.Command...)
			require.NoError(t, err, "otelcol-fleet validate %v:\n%s", c.Command, out)

			switch mode {
			case "sidecar":
				checkSidecar(t, td, c)
			case "central":
				assert.Contains(t, cfg.Extensions, "ecs_observer")
				assert.Equal(t, "/tmp/ecs_sd_targets.yaml", cfg.Extensions["ecs_observer"]["result_file"],
					"UID 10001 can write only to /tmp in the image")
				assert.False(t, c.ReadonlyRootFilesystem != nil && *c.ReadonlyRootFilesystem,
					"ecs_observer writes its result file to /tmp in the container's file system")
			case "gateway":
				assert.Equal(t, "0.0.0.0:13133", fh["endpoint"], "the ALB probes /readyz from outside the task")
			}
		})
	}
}

// syncConfig rewrites FLEET_CONFIG's value in the file, leaving the rest of it byte for byte.
func syncConfig(t *testing.T, path string, raw []byte, config string) []byte {
	t.Helper()
	re := regexp.MustCompile(`("name": "` + configEnv + `", "value": )"(?:[^"\\]|\\.)*"`)
	require.Len(t, re.FindAll(raw, -1), 1, "%s: expected one %s entry on one line", path, configEnv)
	var value bytes.Buffer
	enc := json.NewEncoder(&value)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(config))
	replacement := bytes.TrimSpace(value.Bytes())
	out := re.ReplaceAllFunc(raw, func(m []byte) []byte {
		return append(re.FindSubmatch(m)[1], replacement...)
	})
	require.NoError(t, os.WriteFile(path, out, 0o644))
	return out
}

func container(t *testing.T, cs []types.ContainerDefinition, name string) types.ContainerDefinition {
	t.Helper()
	for _, c := range cs {
		if c.Name != nil && *c.Name == name {
			return c
		}
	}
	require.FailNow(t, "no container named "+name)
	return types.ContainerDefinition{}
}

// fargateMemory lists, per task CPU unit count, the task memory sizes (MiB) Fargate accepts.
var fargateMemory = map[int][]int{
	256:  {512, 1024, 2048},
	512:  {1024, 2048, 3072, 4096},
	1024: {2048, 3072, 4096, 5120, 6144, 7168, 8192},
	2048: {4096, 5120, 6144, 7168, 8192, 9216, 10240, 11264, 12288, 13312, 14336, 15360, 16384},
	4096: {8192, 9216, 10240, 11264, 12288, 13312, 14336, 15360, 16384, 17408, 18432, 19456, 20480,
		21504, 22528, 23552, 24576, 25600, 26624, 27648, 28672, 29696, 30720},
}

func checkFargate(t *testing.T, td *ecs.RegisterTaskDefinitionInput) {
	t.Helper()
	require.Equal(t, []types.Compatibility{types.CompatibilityFargate}, td.RequiresCompatibilities)
	assert.Equal(t, types.NetworkModeAwsvpc, td.NetworkMode, "Fargate requires awsvpc")
	require.NotNil(t, td.Cpu)
	require.NotNil(t, td.Memory)
	cpu, err := strconv.Atoi(*td.Cpu)
	require.NoError(t, err)
	memory, err := strconv.Atoi(*td.Memory)
	require.NoError(t, err)
	assert.Contains(t, fargateMemory[cpu], memory, "Fargate has no %d CPU / %d MiB size", cpu, memory)
	sum, essential := 0, 0
	for _, c := range td.ContainerDefinitions {
		if c.Memory != nil {
			sum += int(*c.Memory)
		}
		if c.Essential == nil || *c.Essential { // ECS' default is essential
			essential++
		}
	}
	assert.Positive(t, essential, "ECS requires at least one essential container")
	assert.LessOrEqual(t, sum, memory, "container hard limits exceed the task's memory")
}

// checkMemoryLimiter holds the guide's advice: the limiter refuses data below the container's
// hard limit, with headroom for the collector's own work.
func checkMemoryLimiter(t *testing.T, cfg collectorConfig, c types.ContainerDefinition) {
	t.Helper()
	ml, ok := cfg.Processors["memory_limiter"]
	require.True(t, ok, "every pipeline starts with memory_limiter")
	require.NotNil(t, c.Memory, "the collector container needs a hard memory limit for the limiter to be sized against")
	limit, ok := ml["limit_mib"].(float64)
	require.True(t, ok, "limit_mib must be set explicitly against the container's %d MiB", *c.Memory)
	spike, _ := ml["spike_limit_mib"].(float64)
	assert.LessOrEqual(t, limit, headroom*float64(*c.Memory),
		"memory_limiter limit_mib %v leaves less than %.0f%% headroom below the container's %d MiB", limit, 100*(1-headroom), *c.Memory)
	assert.Positive(t, spike)
	assert.Less(t, spike, limit)
}

func checkSidecar(t *testing.T, td *ecs.RegisterTaskDefinitionInput, c types.ContainerDefinition) {
	t.Helper()
	// A collector failure must not stop the application: not essential, restarted in place.
	require.NotNil(t, c.Essential)
	assert.False(t, *c.Essential)
	require.NotNil(t, c.RestartPolicy)
	assert.True(t, *c.RestartPolicy.Enabled)
	app := container(t, td.ContainerDefinitions, "app")
	assert.Contains(t, app.DependsOn, types.ContainerDependency{
		ContainerName: c.Name, Condition: types.ContainerConditionHealthy,
	}, "the application starts once its collector is up")
	var otlp string
	for _, kv := range app.Environment {
		if *kv.Name == "OTEL_EXPORTER_OTLP_ENDPOINT" {
			otlp = *kv.Value
		}
	}
	assert.Equal(t, "http://localhost:4318", otlp, "the application sends to the sidecar over the task's localhost")
}

// targetGroup is elbv2's CreateTargetGroup input as `aws elbv2 create-target-group
// --cli-input-json` reads it (PascalCase, the Query protocol's member names). The elbv2 SDK is
// not in this module, so the members used are listed here, and checked case-sensitively.
type targetGroup struct {
	Name                       string
	Protocol                   string
	ProtocolVersion            string
	Port                       int
	VpcId                      string
	TargetType                 string
	HealthCheckEnabled         bool
	HealthCheckProtocol        string
	HealthCheckPort            string
	HealthCheckPath            string
	HealthCheckIntervalSeconds int
	HealthCheckTimeoutSeconds  int
	HealthyThresholdCount      int
	UnhealthyThresholdCount    int
	Matcher                    struct{ HttpCode string }
}

func TestGatewayServiceAndTargetGroup(t *testing.T) {
	dir := filepath.Join(ecsDir(t), "gateway")
	raw, err := os.ReadFile(filepath.Join(dir, "service.json"))
	require.NoError(t, err)
	svc, err := checkAgainstSDK(raw, createService)
	require.NoError(t, err)

	rawTD, err := os.ReadFile(filepath.Join(dir, "task-definition.json"))
	require.NoError(t, err)
	td, err := strictDecode[ecs.RegisterTaskDefinitionInput](rawTD)
	require.NoError(t, err)
	c := container(t, td.ContainerDefinitions, collectorContainer)

	assert.Equal(t, *td.Family, *svc.TaskDefinition)
	assert.Equal(t, types.LaunchTypeFargate, svc.LaunchType)
	require.NotNil(t, svc.DesiredCount)
	assert.GreaterOrEqual(t, *svc.DesiredCount, int32(2), "one gateway is a single point of failure (the guide)")
	require.Len(t, svc.LoadBalancers, 1)
	lb := svc.LoadBalancers[0]
	assert.Equal(t, *c.Name, *lb.ContainerName)
	var mapped []int32
	for _, pm := range c.PortMappings {
		mapped = append(mapped, *pm.ContainerPort)
	}
	assert.Contains(t, mapped, *lb.ContainerPort)
	assert.Contains(t, mapped, int32(13133), "the ALB's health check port")
	require.NotNil(t, svc.HealthCheckGracePeriodSeconds)
	assert.GreaterOrEqual(t, *svc.HealthCheckGracePeriodSeconds, *c.HealthCheck.StartPeriod,
		"ALB health checks must not count before the collector has started")

	rawTG, err := os.ReadFile(filepath.Join(dir, "target-group.json"))
	require.NoError(t, err)
	tg, err := strictDecode[targetGroup](rawTG)
	require.NoError(t, err)
	var asMap map[string]any
	require.NoError(t, json.Unmarshal(rawTG, &asMap))
	fields := reflectFieldNames(targetGroup{})
	for k := range asMap {
		assert.Contains(t, fields, k, "target-group.json: %q is not a CreateTargetGroup member (case matters)", k)
	}
	assert.Equal(t, "/readyz", tg.HealthCheckPath, "ALB target health follows readiness")
	assert.Equal(t, "13133", tg.HealthCheckPort)
	assert.Equal(t, "200", tg.Matcher.HttpCode)
	assert.True(t, tg.HealthCheckEnabled)
	assert.Equal(t, int(*lb.ContainerPort), tg.Port)
	assert.Equal(t, "ip", tg.TargetType, "awsvpc tasks register by IP")
	assert.Contains(t, []string{"HTTP", "HTTPS"}, tg.Protocol)
	assert.Contains(t, []string{"HTTP1", "HTTP2", "GRPC"}, tg.ProtocolVersion)
	assert.Contains(t, []string{"HTTP", "HTTPS"}, tg.HealthCheckProtocol)
	assert.Less(t, tg.HealthCheckTimeoutSeconds, tg.HealthCheckIntervalSeconds)
	// Not-ready for this long takes a target out of rotation; ECS then replaces the task, so
	// short spells of backpressure must not reach it.
	assert.GreaterOrEqual(t, tg.HealthCheckIntervalSeconds*tg.UnhealthyThresholdCount, 60)
}

func reflectFieldNames(v any) []string {
	raw, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return keys(m)
}

// policy is an IAM policy document.
type policy struct {
	Version   string
	Statement []struct {
		Sid       string
		Effect    string
		Principal map[string]string `json:",omitempty"`
		Action    json.RawMessage
		Resource  json.RawMessage              `json:",omitempty"`
		Condition map[string]map[string]string `json:",omitempty"`
	}
}

func (p *policy) actions() []string {
	var out []string
	for _, s := range p.Statement {
		var many []string
		if json.Unmarshal(s.Action, &many) != nil {
			var one string
			_ = json.Unmarshal(s.Action, &one)
			many = []string{one}
		}
		out = append(out, many...)
	}
	return out
}

func TestIAMPolicies(t *testing.T) {
	dir := filepath.Join(ecsDir(t), "iam")
	read := func(name string) *policy {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		p, err := strictDecode[policy](raw)
		require.NoError(t, err, name)
		assert.Equal(t, "2012-10-17", p.Version, name)
		for _, s := range p.Statement {
			assert.Equal(t, "Allow", s.Effect, name)
		}
		for _, a := range p.actions() {
			assert.Regexp(t, `^[a-z0-9]+:[A-Z][A-Za-z]+$`, a, "%s: action %q", name, a)
		}
		return p
	}
	assert.Equal(t, []string{"aps:RemoteWrite"}, read("amp-remote-write-policy.json").actions())
	// The permissions the ecs_observer extension's README lists.
	assert.ElementsMatch(t, []string{
		"ec2:DescribeInstances", "ecs:ListTasks", "ecs:ListServices", "ecs:DescribeContainerInstances",
		"ecs:DescribeServices", "ecs:DescribeTasks", "ecs:DescribeTaskDefinition",
	}, read("ecs-observer-policy.json").actions())
	trust := read("task-trust-policy.json")
	assert.Equal(t, []string{"sts:AssumeRole"}, trust.actions())
	assert.Equal(t, "ecs-tasks.amazonaws.com", trust.Statement[0].Principal["Service"])

	// Every role the task definitions name is explained in the README.
	readme, err := os.ReadFile(filepath.Join(ecsDir(t), "README.md"))
	require.NoError(t, err)
	for _, f := range []string{"amp-remote-write-policy.json", "ecs-observer-policy.json", "task-trust-policy.json", "AmazonECSTaskExecutionRolePolicy"} {
		assert.Contains(t, string(readme), f)
	}
	var roles []string
	for _, mode := range []string{"sidecar", "central", "gateway"} {
		raw, err := os.ReadFile(filepath.Join(ecsDir(t), mode, "task-definition.json"))
		require.NoError(t, err)
		td, err := strictDecode[ecs.RegisterTaskDefinitionInput](raw)
		require.NoError(t, err)
		for _, arn := range []*string{td.TaskRoleArn, td.ExecutionRoleArn} {
			role := (*arn)[strings.LastIndex(*arn, "/")+1:]
			if !slices.Contains(roles, role) {
				roles = append(roles, role)
			}
		}
	}
	for _, role := range roles {
		assert.Contains(t, string(readme), role, "README.md does not explain role %s", role)
	}
}

// TestConfigsRun starts the sidecar's and the gateway's collector the way their tasks do
// (`--config env:FLEET_CONFIG` and the task's environment), with one change: the remote-write
// endpoint points at a real local Prometheus instead of AMP (sigv4auth still signs every request,
// with dummy credentials). Each must report ready on /readyz and deliver an OTLP point. The
// central task is not run: its ecs_observer would call the ECS API.
func TestConfigsRun(t *testing.T) {
	prom := collectortest.StartPrometheus(t)
	for _, mode := range []string{"sidecar", "gateway"} {
		t.Run(mode, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(ecsDir(t), mode, "task-definition.json"))
			require.NoError(t, err)
			td, err := strictDecode[ecs.RegisterTaskDefinitionInput](raw)
			require.NoError(t, err)
			c := container(t, td.ContainerDefinitions, collectorContainer)
			var env []string
			for _, kv := range c.Environment {
				env = append(env, *kv.Name+"="+*kv.Value)
			}
			args := append(append([]string(nil), c.Command...),
				"--config", "yaml:exporters::ordered_rw::endpoint: "+prom.RemoteWriteURL())

			collectortest.RequirePortsFree(t, 4317, 4318, 8888, 13133)
			col := collectortest.StartCollector(t, env, args...)
			col.RequireReady(t, "http://127.0.0.1:13133")
			// The container health check's command line, with the image's /healthcheck
			// replaced by the same program built on the host.
			require.Equal(t, "CMD", c.HealthCheck.Command[0])
			require.Equal(t, imagebuild.HealthcheckPath, c.HealthCheck.Command[1])
			probe := filepath.Join(collectortest.RepoRoot(t), "distribution", "_build", "healthcheck")
			out, err := exec.Command(probe, c.HealthCheck.Command[2:]...).CombinedOutput()
			require.NoError(t, err, "the task's health check failed against a running collector:\n%s", out)
			job := "ecs-" + mode
			collectortest.SendOTLP(t, "127.0.0.1:4318", job, "fleet_packaging_probe", 42)
			collectortest.RequireDelivered(t, prom, col, job, "fleet_packaging_probe", 42)
		})
	}
}
