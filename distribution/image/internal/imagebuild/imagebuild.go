// Package imagebuild assembles the otelcol-fleet container image in pure Go, without a Docker
// daemon, so that it can be built anywhere Go runs (CI systems, this machine) and so that two
// builds from the same inputs produce the same image digest.
//
// Reproducibility comes from three rules: every timestamp is one fixed instant (Spec.Created), tar
// entries are written in sorted order with fixed ownership and modes, and layers are compressed
// once with a fixed gzip level and an empty gzip header.
package imagebuild

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Paths and identity inside the image. The layout follows the upstream
// opentelemetry-collector-releases images (binary at the root, config under /etc/<name>/) and
// ADOT's (a static /healthcheck next to the collector, for scratch images without a shell).
const (
	CollectorPath   = "/otelcol-fleet"
	HealthcheckPath = "/healthcheck"
	ConfigPath      = "/etc/otelcol-fleet/config.yaml"
	CACertsPath     = "/etc/ssl/certs/ca-certificates.crt"

	// UserID and GroupID are the non-root identity the collector runs as (as upstream images do).
	UserID   = 10001
	GroupID  = 10001
	UserName = "otel"
)

// ExposedPorts are the collector's well-known ports: OTLP gRPC and HTTP, self-telemetry, health.
var ExposedPorts = []string{"4317/tcp", "4318/tcp", "8888/tcp", "13133/tcp"}

// Healthcheck is the container health check recorded in the image (Docker's HEALTHCHECK; the OCI
// config format has no such field, but Docker and podman read it from the config either way):
// the healthcheck program against fleet_health's /readyz, so `docker compose` `service_healthy`
// waits until the collector takes data. The ECS task definitions override it with /livez, since
// ECS replaces an unhealthy container and a collector under backpressure must not lose its queue.
func Healthcheck() *v1.HealthConfig {
	return &v1.HealthConfig{
		Test:        []string{"CMD", HealthcheckPath},
		Interval:    15 * time.Second,
		Timeout:     5 * time.Second,
		StartPeriod: 30 * time.Second,
		Retries:     3,
	}
}

// Spec names the inputs of one image build. Every field is required but Created, Version and
// Architecture, which have defaults.
type Spec struct {
	// Collector, Healthcheck, Config and CACerts are host paths of the files copied in.
	Collector   string
	Healthcheck string
	Config      string
	CACerts     string

	// Created is the one timestamp written everywhere (image config, history, tar entries).
	// The zero value means the Unix epoch, as ko and other reproducible builders do.
	Created time.Time
	// Version is recorded in the org.opencontainers.image.version label.
	Version string
	// Architecture is the GOARCH the binaries were built for; "amd64" when empty.
	Architecture string
}

func (s Spec) validate() error {
	var errs []error
	for _, f := range []struct{ name, value string }{
		{"collector", s.Collector}, {"healthcheck", s.Healthcheck}, {"config", s.Config}, {"ca-certs", s.CACerts},
	} {
		if f.value == "" {
			errs = append(errs, fmt.Errorf("`%s` must name a file, found an empty path", f.name))
			continue
		}
		if st, err := os.Stat(f.value); err != nil {
			errs = append(errs, fmt.Errorf("`%s`: %w", f.name, err))
		} else if !st.Mode().IsRegular() {
			errs = append(errs, fmt.Errorf("`%s` must be a regular file, found %s (%s)", f.name, f.value, st.Mode()))
		}
	}
	return errors.Join(errs...)
}

func (s Spec) created() time.Time {
	if s.Created.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return s.Created.UTC().Truncate(time.Second)
}

// File is one entry of a layer.
type File struct {
	Path    string // absolute path in the image
	Mode    int64  // permission bits, and the sticky bit (0o1000)
	Dir     bool
	Content []byte
}

// Layer is one layer of the image: what it holds and what made it (recorded in the history).
type Layer struct {
	CreatedBy string
	Files     []File
}

// Layers lists the image's layers, from the least to the most often changed: the base file
// system (users, CA certificates, directories), the healthcheck program, the default config, and
// the collector binary. Build writes them as layers; WriteContext writes the same files as the
// build context distribution/Dockerfile copies them from, so the two images cannot drift apart.
func Layers(caCerts, healthcheck, config, collector []byte) []Layer {
	return []Layer{
		{"base: users, CA certificates, /tmp", []File{
			{Path: "/etc", Mode: 0o755, Dir: true},
			{Path: "/etc/passwd", Mode: 0o644, Content: []byte(Passwd())},
			{Path: "/etc/group", Mode: 0o644, Content: []byte(Group())},
			{Path: "/etc/ssl", Mode: 0o755, Dir: true},
			{Path: "/etc/ssl/certs", Mode: 0o755, Dir: true},
			{Path: CACertsPath, Mode: 0o644, Content: caCerts},
			// A writable scratch directory: Go's os.TempDir and some extensions expect one.
			{Path: "/tmp", Mode: 0o1777, Dir: true},
		}},
		{"healthcheck program", []File{{Path: HealthcheckPath, Mode: 0o755, Content: healthcheck}}},
		{"default configuration", []File{
			{Path: "/etc", Mode: 0o755, Dir: true},
			{Path: "/etc/otelcol-fleet", Mode: 0o755, Dir: true},
			{Path: ConfigPath, Mode: 0o644, Content: config},
		}},
		{"otelcol-fleet collector", []File{{Path: CollectorPath, Mode: 0o755, Content: collector}}},
	}
}

// Build assembles the image from the Layers.
func Build(s Spec) (v1.Image, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			panic(err) // validated above; only a race with a deleted file gets here
		}
		return b
	}
	created := s.created()
	arch := s.Architecture
	if arch == "" {
		arch = "amd64"
	}

	layers := Layers(read(s.CACerts), read(s.Healthcheck), read(s.Config), read(s.Collector))

	adds := make([]mutate.Addendum, 0, len(layers))
	for _, l := range layers {
		layer, err := newLayer(l.Files, created)
		if err != nil {
			return nil, fmt.Errorf("layer %q: %w", l.CreatedBy, err)
		}
		adds = append(adds, mutate.Addendum{
			Layer:     layer,
			History:   v1.History{Created: v1.Time{Time: created}, CreatedBy: "otelcol-fleet image builder: " + l.CreatedBy},
			MediaType: types.OCILayer,
		})
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.Append(img, adds...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: created}
	cf.Architecture = arch
	cf.OS = "linux"
	cf.Config = Config(s.Version)
	return mutate.ConfigFile(img, cf)
}

// Config is the runtime configuration of the image, shared with the Dockerfile (a test keeps
// them in agreement): the entrypoint is the collector and the default command its config, as in
// the upstream distributions, so `docker run IMAGE --config other.yaml` replaces only the config.
func Config(version string) v1.Config {
	ports := make(map[string]struct{}, len(ExposedPorts))
	for _, p := range ExposedPorts {
		ports[p] = struct{}{}
	}
	if version == "" {
		version = "dev"
	}
	return v1.Config{
		User:         strconv.Itoa(UserID) + ":" + strconv.Itoa(GroupID),
		Entrypoint:   []string{CollectorPath},
		Cmd:          []string{"--config", ConfigPath},
		ExposedPorts: ports,
		Env:          []string{"PATH=/"},
		WorkingDir:   "/",
		Healthcheck:  Healthcheck(),
		Labels: map[string]string{
			"org.opencontainers.image.title":       "otelcol-fleet",
			"org.opencontainers.image.description": "OpenTelemetry Collector distribution for Prometheus remote-write fleets",
			"org.opencontainers.image.source":      "https://github.com/otelcol-fleet/otelcol-fleet",
			"org.opencontainers.image.version":     version,
		},
	}
}

// Passwd is the image's /etc/passwd: root, and the collector's user.
func Passwd() string {
	return "root:x:0:0:root:/:/sbin/nologin\n" +
		fmt.Sprintf("%s:x:%d:%d:otelcol-fleet:/:/sbin/nologin\n", UserName, UserID, GroupID)
}

// Group is the image's /etc/group.
func Group() string {
	return "root:x:0:\n" + fmt.Sprintf("%s:x:%d:\n", UserName, GroupID)
}

// newLayer writes files into a tar in sorted path order, root-owned, with the fixed timestamp,
// and gzips it once. Handing ggcr already-compressed bytes keeps it from recompressing the
// 150 MB collector for every digest computation and every output format.
func newLayer(files []File, mtime time.Time) (v1.Layer, error) {
	sorted := append([]File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })

	var compressed bytes.Buffer
	gz, err := gzip.NewWriterLevel(&compressed, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	// gzip.Header's zero value has no name and no modification time: nothing varies.
	tw := tar.NewWriter(gz)
	seen := map[string]bool{}
	for _, f := range sorted {
		name := path.Clean(f.Path)[1:] // layer paths are relative: "etc/passwd"
		if seen[name] {
			return nil, fmt.Errorf("duplicate path %q", f.Path)
		}
		seen[name] = true
		hdr := &tar.Header{
			Name:    name,
			Mode:    f.Mode,
			ModTime: mtime,
			Uid:     0,
			Gid:     0,
			Format:  tar.FormatPAX,
		}
		if f.Dir {
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		} else {
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(f.Content))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if !f.Dir {
			if _, err := tw.Write(f.Content); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	data := compressed.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
