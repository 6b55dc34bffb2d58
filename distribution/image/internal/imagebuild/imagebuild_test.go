package imagebuild

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testSpec writes small stand-in inputs: these tests are about the builder, not the collector
// (the test in the module root builds the real image from the real binaries).
func testSpec(t *testing.T) Spec {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	return Spec{
		Collector:   write("otelcol-fleet", "collector bytes"),
		Healthcheck: write("healthcheck", "healthcheck bytes"),
		Config:      write("config.yaml", "receivers: {}\n"),
		CACerts:     write("ca.crt", "-----BEGIN CERTIFICATE-----\n"),
		Version:     "1.2.3",
	}
}

func digest(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	require.NoError(t, err)
	return d.String()
}

func TestBuildIsReproducible(t *testing.T) {
	spec := testSpec(t)
	first, err := Build(spec)
	require.NoError(t, err)
	// Host file times must not leak into the image.
	later := time.Now().Add(time.Hour)
	require.NoError(t, os.Chtimes(spec.Collector, later, later))
	second, err := Build(spec)
	require.NoError(t, err)
	assert.Equal(t, digest(t, first), digest(t, second))

	// The inputs do reach the digest: a different timestamp or collector gives another image.
	spec.Created = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	dated, err := Build(spec)
	require.NoError(t, err)
	assert.NotEqual(t, digest(t, first), digest(t, dated))
	require.NoError(t, os.WriteFile(spec.Collector, []byte("another collector"), 0o600))
	changed, err := Build(spec)
	require.NoError(t, err)
	assert.NotEqual(t, digest(t, dated), digest(t, changed))
}

func TestBuildRejectsMissingInputs(t *testing.T) {
	spec := testSpec(t)
	spec.Healthcheck = filepath.Join(t.TempDir(), "absent")
	spec.Config = ""
	_, err := Build(spec)
	require.Error(t, err)
	assert.ErrorContains(t, err, "`healthcheck`")
	assert.ErrorContains(t, err, "`config` must name a file, found an empty path")

	spec = testSpec(t)
	spec.CACerts = t.TempDir()
	_, err = Build(spec)
	assert.ErrorContains(t, err, "`ca-certs` must be a regular file")
}

type entry struct {
	mode     int64
	uid, gid int
	typ      byte
	content  string
	mtime    time.Time
}

// flatten reads the image's file system as a container runtime would see it.
func flatten(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	out := map[string]entry{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		out[hdr.Name] = entry{mode: hdr.Mode, uid: hdr.Uid, gid: hdr.Gid, typ: hdr.Typeflag, content: string(b), mtime: hdr.ModTime}
	}
}

func TestImageContents(t *testing.T) {
	spec := testSpec(t)
	spec.Created = time.Unix(1764000000, 0)
	img, err := Build(spec)
	require.NoError(t, err)

	files := flatten(t, img)
	want := map[string]struct {
		mode    int64
		content string
	}{
		"otelcol-fleet":                     {0o755, "collector bytes"},
		"healthcheck":                       {0o755, "healthcheck bytes"},
		"etc/otelcol-fleet/config.yaml":     {0o644, "receivers: {}\n"},
		"etc/ssl/certs/ca-certificates.crt": {0o644, "-----BEGIN CERTIFICATE-----\n"},
		"etc/passwd":                        {0o644, "root:x:0:0:root:/:/sbin/nologin\notel:x:10001:10001:otelcol-fleet:/:/sbin/nologin\n"},
		"etc/group":                         {0o644, "root:x:0:\notel:x:10001:\n"},
	}
	for name, w := range want {
		got, ok := files[name]
		if !assert.True(t, ok, "%s missing from the image", name) {
			continue
		}
		assert.Equal(t, byte(tar.TypeReg), got.typ, name)
		assert.Equal(t, w.mode, got.mode, "%s mode %o", name, got.mode)
		assert.Equal(t, w.content, got.content, name)
	}
	assert.Equal(t, byte(tar.TypeDir), files["tmp"].typ)
	assert.Equal(t, int64(0o1777), files["tmp"].mode)
	for name, e := range files {
		assert.Zero(t, e.uid, "%s must be owned by root so the collector's user cannot alter it", name)
		assert.Zero(t, e.gid, name)
		assert.True(t, e.mtime.Equal(spec.Created), "%s has mtime %s", name, e.mtime)
	}
	assert.Len(t, files, len(want)+5, "unexpected entries: %v", files) // + etc, etc/ssl, etc/ssl/certs, etc/otelcol-fleet, tmp

	cf, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, "linux", cf.OS)
	assert.Equal(t, "amd64", cf.Architecture)
	assert.True(t, cf.Created.Time.Equal(spec.Created))
	assert.Equal(t, "10001:10001", cf.Config.User)
	assert.Equal(t, []string{"/otelcol-fleet"}, cf.Config.Entrypoint)
	assert.Equal(t, []string{"--config", "/etc/otelcol-fleet/config.yaml"}, cf.Config.Cmd)
	assert.Len(t, cf.Config.ExposedPorts, 4)
	for _, p := range []string{"4317/tcp", "4318/tcp", "8888/tcp", "13133/tcp"} {
		assert.Contains(t, cf.Config.ExposedPorts, p)
	}
	assert.Equal(t, "1.2.3", cf.Config.Labels["org.opencontainers.image.version"])
	assert.Equal(t, &v1.HealthConfig{
		Test: []string{"CMD", "/healthcheck"}, Interval: 15 * time.Second, Timeout: 5 * time.Second,
		StartPeriod: 30 * time.Second, Retries: 3,
	}, cf.Config.Healthcheck)
	require.Len(t, cf.History, 4)
	for _, h := range cf.History {
		assert.True(t, h.Created.Time.Equal(spec.Created))
	}

	m, err := img.Manifest()
	require.NoError(t, err)
	assert.Equal(t, types.OCIManifestSchema1, m.MediaType)
	assert.Equal(t, types.OCIConfigJSON, m.Config.MediaType)
	require.Len(t, m.Layers, 4)
	for _, l := range m.Layers {
		assert.Equal(t, types.OCILayer, l.MediaType)
	}
}

// treeHashes maps every file under dir to the SHA-256 of its bytes.
func treeHashes(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		sum := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	}))
	return out
}

func TestOutputsAreReproducibleAndReadable(t *testing.T) {
	spec := testSpec(t)
	const ref = "otelcol-fleet:test"
	outputs := make([]string, 2)
	for i := range outputs {
		img, err := Build(spec)
		require.NoError(t, err)
		outputs[i] = t.TempDir()
		require.NoError(t, WriteOCILayout(filepath.Join(outputs[i], "oci"), img, ref))
		// Writing twice over the same place leaves one image, not two.
		require.NoError(t, WriteOCILayout(filepath.Join(outputs[i], "oci"), img, ref))
		require.NoError(t, WriteDockerArchive(filepath.Join(outputs[i], "image.tar"), img, ref))
	}
	first, second := treeHashes(t, outputs[0]), treeHashes(t, outputs[1])
	assert.Equal(t, first, second, "two builds wrote different bytes")

	built, err := Build(spec)
	require.NoError(t, err)
	want := digest(t, built)

	idx, err := layout.ImageIndexFromPath(filepath.Join(outputs[0], "oci"))
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	require.Len(t, im.Manifests, 1)
	assert.Equal(t, want, im.Manifests[0].Digest.String())
	assert.Equal(t, "test", im.Manifests[0].Annotations["org.opencontainers.image.ref.name"])
	fromLayout, err := idx.Image(im.Manifests[0].Digest)
	require.NoError(t, err)
	require.NoError(t, validateLayers(fromLayout))

	fromArchive, err := tarball.ImageFromPath(filepath.Join(outputs[0], "image.tar"), nil)
	require.NoError(t, err)
	// docker-archive keeps the config and layers, so the config digest (the image ID) survives.
	wantID, err := built.ConfigName()
	require.NoError(t, err)
	gotID, err := fromArchive.ConfigName()
	require.NoError(t, err)
	assert.Equal(t, wantID, gotID)
	require.NoError(t, validateLayers(fromArchive))
}

// validateLayers re-hashes every layer against the digests the manifest and config claim.
func validateLayers(img v1.Image) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return err
		}
		h, _, err := v1.SHA256(rc)
		rc.Close()
		if err != nil {
			return err
		}
		want, err := l.DiffID()
		if err != nil {
			return err
		}
		if h != want {
			return &mismatch{want: want.String(), got: h.String()}
		}
	}
	return nil
}

type mismatch struct{ want, got string }

func (m *mismatch) Error() string { return "layer diff ID " + m.got + ", manifest says " + m.want }
