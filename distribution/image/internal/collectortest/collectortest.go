// Package collectortest runs the built otelcol-fleet binary for the packaging tests: every
// collector config shipped in a task definition, a Kubernetes ConfigMap or an example must pass
// the binary's own `validate`.
package collectortest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// RepoRoot is the repository's top directory: the first parent holding builder-config.yaml.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "builder-config.yaml")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("builder-config.yaml not found above the working directory")
		}
		dir = parent
	}
}

// Binary is the path of the built collector. FLEET_SKIP_E2E=1 skips the test, as in the root
// module's tests.
func Binary(t testing.TB) string {
	t.Helper()
	if os.Getenv("FLEET_SKIP_E2E") == "1" {
		t.Skip("FLEET_SKIP_E2E=1: this test runs the built collector")
	}
	bin := filepath.Join(RepoRoot(t), "distribution", "_build", "otelcol-fleet")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the collector is not built (%v): run `make build` first", err)
	}
	return bin
}

// offlineEnv keeps sigv4auth from reaching for the EC2 metadata service: no test goes beyond
// loopback.
var offlineEnv = []string{"AWS_EC2_METADATA_DISABLED=true", "AWS_ACCESS_KEY_ID=dummy", "AWS_SECRET_ACCESS_KEY=dummy"}

// Validate runs `otelcol-fleet validate ARGS...` with env ("K=V") added to this process's
// environment, and returns its combined output.
func Validate(t testing.TB, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), append([]string{"validate"}, args...)...)
	cmd.Env = append(append(os.Environ(), env...), offlineEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
