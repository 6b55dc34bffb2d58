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

// TestDockerfileMatchesImage keeps the Dockerfile and the pure-Go builder in agreement, read as
// text: same entrypoint, command, user, ports, environment, labels, health check, files and
// modes. It needs nothing installed; TestImage also builds the Dockerfile with podman and compares
// the two images themselves.
func TestDockerfileMatchesImage(t *testing.T) {
	stages := parseDockerfile(t)
	require.Len(t, stages, 1, "one stage: FROM scratch and the build context, nothing pulled")
	final := stages[0]
	assert.Equal(t, "scratch", final[0].args)
	for _, in := range final {
		assert.NotContains(t, []string{"RUN", "ADD"}, in.keyword, "a scratch image has nothing to run, and ADD may fetch")
	}
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

	hc := imagebuild.Healthcheck()
	options, command, ok := strings.Cut(only(t, final, "HEALTHCHECK"), "CMD ")
	require.True(t, ok, "HEALTHCHECK in exec form expected")
	assert.Equal(t, hc.Test, append([]string{"CMD"}, jsonArgs(t, command)...))
	assert.ElementsMatch(t, []string{
		"--interval=" + hc.Interval.String(), "--timeout=" + hc.Timeout.String(),
		"--start-period=" + hc.StartPeriod.String(), "--retries=" + strconv.Itoa(hc.Retries),
	}, strings.Fields(options))

	// The base layer is the context's rootfs/; every later file is copied with the image's mode.
	modes := builtModes(t)
	copies := map[string]int64{}
	sources := map[string]string{}
	for _, in := range final {
		if in.keyword != "COPY" {
			continue
		}
		fields := strings.Fields(in.args)
		dest := fields[len(fields)-1]
		sources[dest] = fields[len(fields)-2]
		for _, f := range fields {
			if m, ok := strings.CutPrefix(f, "--chmod="); ok {
				mode, err := strconv.ParseInt(m, 8, 64)
				require.NoError(t, err)
				copies[dest] = mode
			}
		}
	}
	assert.Equal(t, imagebuild.ContextRootfs+"/", sources["/"], "the base layer comes from the context's rootfs/")
	for p, src := range map[string]string{
		imagebuild.CollectorPath:   imagebuild.ContextCollector,
		imagebuild.HealthcheckPath: imagebuild.ContextHealthcheck,
		imagebuild.ConfigPath:      imagebuild.ContextConfig,
	} {
		if assert.Contains(t, copies, p, "the Dockerfile does not install %s", p) {
			assert.Equal(t, modes[p], copies[p], "%s: Dockerfile mode %o, image mode %o", p, copies[p], modes[p])
			assert.Equal(t, src, sources[p])
		}
	}
	assert.Len(t, sources, 4, "COPY instructions: %v", sources)
	assert.Equal(t, int64(0o1777), modes["/tmp"])
}

// TestWriteContext: the build context holds the base layer's files with the image's modes under
// rootfs/, and the three files the Dockerfile copies at the top.
func TestWriteContext(t *testing.T) {
	dir := t.TempDir()
	spec := imagebuild.Spec{}
	for i, f := range []*string{&spec.Collector, &spec.Healthcheck, &spec.Config, &spec.CACerts} {
		*f = filepath.Join(dir, strconv.Itoa(i))
		require.NoError(t, os.WriteFile(*f, []byte("stand-in "+strconv.Itoa(i)), 0o600))
	}
	ctx := filepath.Join(dir, "context")
	require.NoError(t, os.MkdirAll(filepath.Join(ctx, "stale"), 0o755))
	require.NoError(t, imagebuild.WriteContext(ctx, spec))

	got := map[string]string{}
	require.NoError(t, filepath.WalkDir(ctx, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == ctx {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(ctx, p)
		content := ""
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			content = string(b)
		}
		got[rel] = info.Mode().String() + " " + content
		return nil
	}))
	assert.Equal(t, map[string]string{
		"rootfs":               "drwxr-xr-x ",
		"rootfs/etc":           "drwxr-xr-x ",
		"rootfs/etc/passwd":    "-rw-r--r-- " + imagebuild.Passwd(),
		"rootfs/etc/group":     "-rw-r--r-- " + imagebuild.Group(),
		"rootfs/etc/ssl":       "drwxr-xr-x ",
		"rootfs/etc/ssl/certs": "drwxr-xr-x ",
		"rootfs/etc/ssl/certs/ca-certificates.crt": "-rw-r--r-- stand-in 3",
		"rootfs/tmp":    "dtrwxrwxrwx ",
		"healthcheck":   "-rwxr-xr-x stand-in 1",
		"config.yaml":   "-rw-r--r-- stand-in 2",
		"otelcol-fleet": "-rwxr-xr-x stand-in 0",
	}, got)

	spec.Config = ""
	assert.ErrorContains(t, imagebuild.WriteContext(ctx, spec), "`config` must name a file")
}
