package main

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/distribution/image/internal/imagebuild"
)

const dockerfilePath = "../Dockerfile"

// instruction is one Dockerfile instruction with its continuation lines joined.
type instruction struct {
	keyword string
	args    string
}

// parseDockerfile reads the instructions of the Dockerfile's stages, split at FROM.
func parseDockerfile(t *testing.T) [][]instruction {
	t.Helper()
	raw, err := os.ReadFile(dockerfilePath)
	require.NoError(t, err)
	var stages [][]instruction
	var current strings.Builder
	flush := func() {
		line := strings.TrimSpace(current.String())
		current.Reset()
		if line == "" {
			return
		}
		keyword, args, _ := strings.Cut(line, " ")
		in := instruction{keyword: strings.ToUpper(keyword), args: strings.TrimSpace(args)}
		if in.keyword == "FROM" {
			stages = append(stages, nil)
		}
		require.NotEmpty(t, stages, "instruction %s before the first FROM", in.keyword)
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			current.WriteString(cont + " ")
			continue
		}
		current.WriteString(line)
		flush()
	}
	flush()
	return stages
}

func only(t *testing.T, stage []instruction, keyword string) string {
	t.Helper()
	var found []string
	for _, in := range stage {
		if in.keyword == keyword {
			found = append(found, in.args)
		}
	}
	require.Len(t, found, 1, "the final stage must have exactly one %s", keyword)
	return found[0]
}

func jsonArgs(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	require.NoError(t, json.Unmarshal([]byte(s), &out), "exec form expected: %s", s)
	return out
}

// labelPairs parses `k="v" k2="v2"`.
var labelPair = regexp.MustCompile(`([\w.\-]+)="([^"]*)"`)

// builtModes builds an image from stand-in files and returns the mode of every file in it.
func builtModes(t *testing.T) map[string]int64 {
	t.Helper()
	dir := t.TempDir()
	spec := imagebuild.Spec{}
	for i, f := range []*string{&spec.Collector, &spec.Healthcheck, &spec.Config, &spec.CACerts} {
		*f = filepath.Join(dir, strconv.Itoa(i))
		require.NoError(t, os.WriteFile(*f, []byte("stand-in"), 0o600))
	}
	img, err := imagebuild.Build(spec)
	require.NoError(t, err)
	rc := mutate.Extract(img)
	defer rc.Close()
	modes := map[string]int64{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return modes
		}
		require.NoError(t, err)
		modes["/"+hdr.Name] = hdr.Mode
	}
}

// TestDockerfileMatchesImage keeps the Dockerfile and the pure-Go builder in agreement: same
// files and modes, users, entrypoint, command, user, ports, environment and labels. (No Docker
// daemon runs here and the base image cannot be pulled offline, so the Dockerfile is compared,
// not built.)
func TestDockerfileMatchesImage(t *testing.T) {
	stages := parseDockerfile(t)
	require.Len(t, stages, 2)
	final := stages[len(stages)-1]
	assert.Equal(t, "scratch", final[0].args)
	want := imagebuild.Config("dev")

	assert.Equal(t, want.Entrypoint, jsonArgs(t, only(t, final, "ENTRYPOINT")))
	assert.Equal(t, want.Cmd, jsonArgs(t, only(t, final, "CMD")))
	assert.Equal(t, want.User, only(t, final, "USER"))
	assert.Equal(t, want.WorkingDir, only(t, final, "WORKDIR"))
	assert.Equal(t, want.Env, strings.Fields(only(t, final, "ENV")))

	exposed := strings.Fields(only(t, final, "EXPOSE"))
	sort.Strings(exposed)
	wantPorts := append([]string(nil), imagebuild.ExposedPorts...)
	sort.Strings(wantPorts)
	assert.Equal(t, wantPorts, exposed)

	labels := map[string]string{}
	for _, m := range labelPair.FindAllStringSubmatch(only(t, final, "LABEL"), -1) {
		labels[m[1]] = m[2]
	}
	assert.Equal(t, want.Labels, labels)

	// Every file the builder installs is copied with the same mode.
	modes := builtModes(t)
	copies := map[string]int64{}
	for _, in := range final {
		if in.keyword != "COPY" {
			continue
		}
		fields := strings.Fields(in.args)
		dest := fields[len(fields)-1]
		for _, f := range fields {
			if m, ok := strings.CutPrefix(f, "--chmod="); ok {
				mode, err := strconv.ParseInt(m, 8, 64)
				require.NoError(t, err)
				copies[dest] = mode
			}
		}
	}
	for _, p := range []string{imagebuild.CollectorPath, imagebuild.HealthcheckPath, imagebuild.ConfigPath} {
		if assert.Contains(t, copies, p, "the Dockerfile does not install %s", p) {
			assert.Equal(t, modes[p], copies[p], "%s: Dockerfile mode %o, image mode %o", p, copies[p], modes[p])
		}
	}

	// The base stage writes the same users, CA bundle path and /tmp.
	var run string
	for _, in := range stages[0] {
		if in.keyword == "RUN" {
			run += in.args
		}
	}
	printfArg := func(s string) string { return "printf '" + strings.ReplaceAll(s, "\n", `\n`) + "'" }
	assert.Contains(t, run, printfArg(imagebuild.Passwd())+" > /rootfs/etc/passwd")
	assert.Contains(t, run, printfArg(imagebuild.Group())+" > /rootfs/etc/group")
	assert.Contains(t, run, "/rootfs"+imagebuild.CACertsPath)
	assert.Contains(t, run, "chmod 1777 /rootfs/tmp")
	assert.Equal(t, int64(0o1777), modes["/tmp"])
}
