package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-fleet/otelcol-fleet/distribution/image/internal/collectortest"
	"github.com/otelcol-fleet/otelcol-fleet/distribution/image/internal/imagebuild"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Paths relative to this directory (go test runs in it).
const (
	buildDir          = "../_build"
	healthcheckSource = "../healthcheck"
	defaultConfig     = "../config.yaml"
	repoRoot          = "../.."
	// defaultCACerts is the image command's default -ca-certs (Debian's ca-certificates).
	defaultCACerts = "/etc/ssl/certs/ca-certificates.crt"
)

// inputs copies the real build artefacts and the default config into a private directory:
// `make build` may replace the collector, or someone edit the config, while this test runs, and
// the two builds compared below must see the same bytes.
func inputs(t *testing.T) (collector, healthcheck, config string) {
	t.Helper()
	if os.Getenv("FLEET_SKIP_E2E") == "1" {
		t.Skip("FLEET_SKIP_E2E=1: the image test needs the built collector")
	}
	dir := t.TempDir()
	collector = filepath.Join(dir, "otelcol-fleet")
	copyFile(t, filepath.Join(buildDir, "otelcol-fleet"), collector,
		"the collector is not built: run `make build` first")
	config = filepath.Join(dir, "config.yaml")
	copyFile(t, defaultConfig, config, "")

	healthcheck = filepath.Join(dir, "healthcheck")
	built := filepath.Join(buildDir, "healthcheck")
	if prebuilt := os.Getenv("FLEET_HEALTHCHECK"); prebuilt != "" {
		built = prebuilt // a healthcheck program built elsewhere
	}
	if _, err := os.Stat(built); err != nil {
		if goFiles, _ := filepath.Glob(filepath.Join(healthcheckSource, "*.go")); len(goFiles) == 0 {
			t.Skipf("no healthcheck program yet (%s has no Go files): the image needs it", healthcheckSource)
		}
		cmd := exec.Command("go", "build", "-trimpath", "-o", healthcheck, "./distribution/healthcheck")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "building the healthcheck program:\n%s", out)
		return collector, healthcheck, config
	}
	copyFile(t, built, healthcheck, "")
	return collector, healthcheck, config
}

func copyFile(t *testing.T, from, to, hint string) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err, hint)
	require.NoError(t, os.WriteFile(to, b, 0o755))
}

// testTag names the image in the outputs; unique per run, since the podman test loads it into
// the machine's image store.
var testTag = fmt.Sprintf("otelcol-fleet:test-%d", os.Getpid())

// imageCommand compiles this command the way `make image` runs it (`go run .`): without the race
// detector, whatever the test's flags, so that compressing the 150 MB collector twice takes
// seconds, not minutes.
func imageCommand(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "image")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "building the image command:\n%s", out)
	return bin
}

// buildWithCLI runs the image command into out and returns the digest it prints.
func buildWithCLI(t *testing.T, command, out, collector, healthcheck, config string) v1.Hash {
	t.Helper()
	stdout, err := exec.Command(command, "-out", out, "-collector", collector, "-healthcheck", healthcheck,
		"-config", config, "-tag", testTag).CombinedOutput()
	require.NoError(t, err, "%s", stdout)
	fields := strings.Fields(string(stdout))
	require.GreaterOrEqual(t, len(fields), 2, "%s", stdout)
	require.Equal(t, testTag, fields[0])
	digest, err := v1.NewHash(fields[1])
	require.NoError(t, err, "%s", stdout)
	return digest
}

func treeHashes(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = hex.EncodeToString(h.Sum(nil))
		return nil
	}))
	return out
}

// TestImage builds the real image twice with the real collector and healthcheck, checks that the
// two builds are byte-for-byte identical, then proves the image runs: its file system unpacked,
// its entrypoint and default command started chrooted as its user, /readyz answered.
func TestImage(t *testing.T) {
	collector, healthcheck, config := inputs(t)
	first, second := t.TempDir(), t.TempDir()
	command := imageCommand(t)
	digest := buildWithCLI(t, command, first, collector, healthcheck, config)
	// A different SOURCE_DATE_EPOCH would change the digest; the default is fixed.
	again := buildWithCLI(t, command, second, collector, healthcheck, config)
	require.Equal(t, digest, again, "two builds of the same inputs gave different digests")
	a, b := treeHashes(t, first), treeHashes(t, second)
	require.Equal(t, a, b, "two builds wrote different bytes")
	assert.Contains(t, a, ociLayoutDir+"/index.json")
	assert.Contains(t, a, dockerArchive)
	t.Logf("image %s reproducible over two builds", digest)

	img := imageFromLayout(t, filepath.Join(first, ociLayoutDir), digest)
	withReadyz := fleetHealthInBinary(t, collector)
	t.Run("runs chrooted as its user", func(t *testing.T) { testRunChrooted(t, img, withReadyz) })
	configDigest, err := img.ConfigName()
	require.NoError(t, err)
	t.Run("runs under podman", func(t *testing.T) {
		testRunPodman(t, filepath.Join(first, dockerArchive), configDigest, withReadyz)
	})
	t.Run("Dockerfile built by podman matches and runs", func(t *testing.T) {
		testDockerfile(t, img, collector, healthcheck, config, withReadyz)
	})
}

func imageFromLayout(t *testing.T, dir string, digest v1.Hash) v1.Image {
	t.Helper()
	idx, err := layout.ImageIndexFromPath(dir)
	require.NoError(t, err)
	img, err := idx.Image(digest)
	require.NoError(t, err)
	return img
}

// unpack writes the image's flattened file system under root with the modes and ownership its
// layers record, the way a container runtime lays out a rootfs.
func unpack(t *testing.T, img v1.Image, root string) {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		require.NoError(t, err)
		target := filepath.Join(root, filepath.Clean("/"+hdr.Name))
		mode := os.FileMode(hdr.Mode).Perm()
		if hdr.Mode&0o1000 != 0 {
			mode |= os.ModeSticky
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			require.NoError(t, os.MkdirAll(target, 0o755))
		case tar.TypeReg:
			require.NoError(t, os.MkdirAll(filepath.Dir(target), 0o755))
			f, err := os.OpenFile(target, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
			require.NoError(t, err)
			_, err = io.Copy(f, tr)
			require.NoError(t, errors.Join(err, f.Close()))
		default:
			t.Fatalf("unexpected entry type %q for %s", hdr.Typeflag, hdr.Name)
		}
		// Chmod after creation: the umask must not weaken what the image says.
		require.NoError(t, os.Chmod(target, mode))
		require.NoError(t, os.Lchown(target, hdr.Uid, hdr.Gid))
	}
}

// newRootfs makes the directory the image is unpacked into. It is not a t.TempDir: that would be
// removed even if unmounting /proc or /sys from it failed, and removing through a live mount is
// not something to risk. This one is removed only once every mount is gone.
func newRootfs(t *testing.T) string {
	t.Helper()
	rootfs, err := os.MkdirTemp("", "otelcol-fleet-rootfs-")
	require.NoError(t, err)
	// The user must be able to walk the root directory (MkdirTemp makes it 0700).
	require.NoError(t, os.Chmod(rootfs, 0o755))
	t.Cleanup(func() {
		out, err := exec.Command("findmnt", "--noheadings", "--list", "--output", "TARGET").Output()
		if err == nil && strings.Contains(string(out), rootfs) {
			t.Errorf("%s still has mounts; left in place:\n%s", rootfs, out)
			return
		}
		if err := os.RemoveAll(rootfs); err != nil {
			t.Errorf("removing %s: %v", rootfs, err)
		}
	})
	return rootfs
}

// mountRuntimeFilesystems gives the rootfs what every container runtime mounts: a /proc for the
// container (the memory_limiter reads /proc/self/mountinfo to find its cgroup) and a read-only
// /sys, where the cgroup's memory limit is read.
func mountRuntimeFilesystems(t *testing.T, rootfs string) {
	t.Helper()
	proc, sys := filepath.Join(rootfs, "proc"), filepath.Join(rootfs, "sys")
	require.NoError(t, os.Mkdir(proc, 0o555))
	require.NoError(t, os.Mkdir(sys, 0o555))
	require.NoError(t, syscall.Mount("proc", proc, "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""),
		"mounting /proc in the rootfs")
	t.Cleanup(func() { assert.NoError(t, syscall.Unmount(proc, syscall.MNT_DETACH), "unmounting %s", proc) })
	require.NoError(t, syscall.Mount("/sys", sys, "", syscall.MS_BIND|syscall.MS_REC, ""), "bind-mounting /sys")
	t.Cleanup(func() { assert.NoError(t, syscall.Unmount(sys, syscall.MNT_DETACH), "unmounting %s", sys) })
	require.NoError(t, syscall.Mount("", sys, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""),
		"making the /sys bind mount read-only")
}

// fleetHealthInBinary reports whether the built collector contains the fleet_health extension.
func fleetHealthInBinary(t *testing.T, collector string) bool {
	t.Helper()
	out, err := exec.Command(collector, "components").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return strings.Contains(string(out), "name: fleet_health")
}

func httpGet(url string) (int, []byte) {
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func httpStatus(url string) int {
	code, _ := httpGet(url)
	return code
}

// chrooted prepares argv to run inside rootfs as the image's user, with the image's environment
// and working directory, as a runtime would.
func chrooted(ctx context.Context, rootfs string, cfg v1.Config, argv ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// argv[0] is a path inside the image: the child resolves it after chroot(2).
	cmd.Path = argv[0]
	cmd.Dir = cfg.WorkingDir
	cmd.Env = cfg.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     rootfs,
		Credential: &syscall.Credential{Uid: imagebuild.UserID, Gid: imagebuild.GroupID, NoSetGroups: true},
	}
	return cmd
}

// requireReady waits for the collector's readiness as the image's default config serves it, and
// returns the command line of the image's healthcheck program that probes the same thing.
func requireReady(t *testing.T, withReadyz bool, logs fmt.Stringer) []string {
	t.Helper()
	if !withReadyz {
		// Accepted only while the binary lacks fleet_health: the default config then runs the
		// upstream health_check, which has no readiness; the probe checks / instead.
		t.Log("fleet_health is not in the binary yet: checked / instead of /readyz")
		return []string{imagebuild.HealthcheckPath, "http://localhost:13133/"}
	}
	// fleet_health's answer, not any 200: the upstream health_check answers 200 on every path,
	// /readyz included, without knowing anything about readiness.
	var ready struct {
		Ready *bool `json:"ready"`
	}
	require.Eventually(t, func() bool {
		code, body := httpGet("http://127.0.0.1:13133/readyz")
		return code == http.StatusOK && json.Unmarshal(body, &ready) == nil && ready.Ready != nil && *ready.Ready
	}, time.Minute, 200*time.Millisecond,
		"fleet_health is in the binary, but the image's default config never answered /readyz with "+
			"fleet_health's {\"ready\": true} (does distribution/config.yaml still run health_check?):\n%s", logs)
	code, _ := httpGet("http://127.0.0.1:13133/livez")
	assert.Equal(t, http.StatusOK, code, "/livez")
	return []string{imagebuild.HealthcheckPath} // its default URL is /readyz
}

func testRunChrooted(t *testing.T, img v1.Image, withReadyz bool) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: running the image needs root (chroot into the unpacked image, then drop to UID 10001); run the tests as root, as `make test` does in CI")
	}
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("%d:%d", imagebuild.UserID, imagebuild.GroupID), cf.Config.User)

	rootfs := newRootfs(t)
	unpack(t, img, rootfs)
	// Every container runtime (Docker, containerd under Kubernetes, ECS on Fargate and EC2)
	// mounts its own /etc/hosts into the container; the image ships none, like other scratch
	// images. The default config binds "localhost", which Go resolves through this file.
	require.NoError(t, os.WriteFile(filepath.Join(rootfs, "etc", "hosts"),
		[]byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"), 0o644))
	mountRuntimeFilesystems(t, rootfs)
	collectortest.RequirePortsFree(t, 4317, 4318, 8888, 13133)

	argv := append(append([]string{}, cf.Config.Entrypoint...), cf.Config.Cmd...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := chrooted(ctx, rootfs, cf.Config, argv...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	exited := false
	t.Cleanup(func() {
		if !exited {
			_ = cmd.Process.Kill()
			<-done
		}
	})

	// The health port answers, and the process is the image's user, not root.
	var exitErr error
	require.Eventually(t, func() bool {
		select {
		case exitErr = <-done:
			exited = true
			return true
		default:
		}
		return httpStatus("http://127.0.0.1:13133/") == http.StatusOK
	}, time.Minute, 200*time.Millisecond, "the collector in the image never answered on :13133:\n%s", &logs)
	require.False(t, exited, "the collector in the image exited (%v):\n%s", exitErr, &logs)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^Uid:\s+10001\s+10001\s+10001\s+10001$`, string(status))
	assert.Regexp(t, `(?m)^Gid:\s+10001\s+10001\s+10001\s+10001$`, string(status))

	healthcheckArgs := requireReady(t, withReadyz, &logs)
	assert.Equal(t, http.StatusOK, httpStatus("http://127.0.0.1:8888/metrics"), "self-telemetry")

	// The image's own healthcheck program, as ECS runs it: inside the container, as its user.
	hc := chrooted(ctx, rootfs, cf.Config, healthcheckArgs...)
	out, err := hc.CombinedOutput()
	assert.NoError(t, err, "%v in the image failed:\n%s", healthcheckArgs, out)

	// A clean stop on SIGTERM, as `docker stop` and ECS send it.
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-done:
		exited = true
		require.NoError(t, err, "collector exited with an error after SIGTERM:\n%s", &logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("collector did not exit within 30s of SIGTERM:\n%s", &logs)
	}
	assert.Contains(t, logs.String(), "Shutdown complete")
}

// podmanCLI returns a function running podman with args (combined output, trimmed), or skips
// the test where podman cannot run: not root, or not installed.
func podmanCLI(t *testing.T) func(args ...string) (string, error) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: podman runs containers as root here; run the tests as root")
	}
	podman, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("skipped: podman is not installed (Debian packages podman and runc; `make test-deps`)")
	}
	return func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, podman, args...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
}

// testRunPodman loads the docker-archive into podman and runs the image with a real container
// runtime (runc): an independent reader of the archive, and the runtime's own /etc/hosts,
// /proc, cgroups and user handling instead of the chroot test's stand-ins.
func testRunPodman(t *testing.T, archive string, configDigest v1.Hash, withReadyz bool) {
	run := podmanCLI(t)
	out, err := run("load", "--quiet", "--input", archive)
	require.NoError(t, err, "podman load:\n%s", out)
	image := "localhost/" + testTag
	t.Cleanup(func() { _, _ = run("rmi", "--force", image) })
	// podman's image ID is the config digest: the image it loaded is the one built.
	loaded, err := run("image", "inspect", "--format", "{{.Id}}", image)
	require.NoError(t, err, loaded)
	assert.Equal(t, configDigest.Hex, loaded)
	runInPodman(t, run, image, "podman", withReadyz)
}

// runInPodman runs image in podman as the ECS task definitions and Kubernetes manifests run it,
// and checks it: ready, self-telemetry served, not root, the image's own health check healthy,
// a clean stop on SIGTERM.
func runInPodman(t *testing.T, run func(args ...string) (string, error), image, suffix string, withReadyz bool) {
	t.Helper()
	collectortest.RequirePortsFree(t, 4317, 4318, 8888, 13133)
	name := strings.ReplaceAll(strings.TrimPrefix(testTag, "otelcol-fleet:"), ":", "-") + "-" + suffix
	// The only way podman runs here (facts.md): runc, explicit ulimits, the host's network.
	// Read-only root, no capabilities, no privilege escalation: as the ECS task definitions
	// and Kubernetes manifests run it. (Without systemd, podman logs that it cannot schedule
	// the periodic health check; `podman healthcheck run` below runs it once, on demand.)
	out, err := run("run", "--detach", "--name", name, "--runtime", "runc",
		"--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768", "--network", "host",
		"--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", image)
	require.NoError(t, err, "podman run:\n%s", out)
	t.Cleanup(func() { _, _ = run("rm", "--force", name) })
	logs := stringerFunc(func() string { l, _ := run("logs", name); return l })

	require.Eventually(t, func() bool { return httpStatus("http://127.0.0.1:13133/") == http.StatusOK },
		time.Minute, 200*time.Millisecond, "the container never answered on :13133:\n%s", logs)
	healthcheckArgs := requireReady(t, withReadyz, logs)
	assert.Equal(t, http.StatusOK, httpStatus("http://127.0.0.1:8888/metrics"), "self-telemetry")
	user, err := run("top", name, "user")
	require.NoError(t, err, user)
	assert.Contains(t, user, imagebuild.UserName, "the container's process runs as the image's user")
	out, err = run(append([]string{"exec", name}, healthcheckArgs...)...)
	assert.NoError(t, err, "the image's healthcheck inside the container:\n%s", out)
	if withReadyz {
		// The image's HEALTHCHECK itself, as the runtime runs it.
		out, err = run("healthcheck", "run", name)
		assert.NoError(t, err, "podman healthcheck run (the image's HEALTHCHECK):\n%s", out)
	}

	out, err = run("stop", "--time", "30", name)
	require.NoError(t, err, out)
	code, err := run("inspect", "--format", "{{.State.ExitCode}}", name)
	require.NoError(t, err, code)
	assert.Equal(t, "0", code, "exit code after SIGTERM:\n%s", logs)
	assert.Contains(t, logs.String(), "Shutdown complete")
}

// testDockerfile builds distribution/Dockerfile with podman from the build context WriteContext
// writes (what `make build` runs), from the same inputs as the Go-built image; requires the two
// images to have the same runtime config and the same files, byte for byte, with the same modes
// and owners; then runs the Dockerfile's image with the same checks.
func testDockerfile(t *testing.T, goBuilt v1.Image, collector, healthcheck, config string, withReadyz bool) {
	run := podmanCLI(t)
	dir := t.TempDir()
	buildContext := filepath.Join(dir, "context")
	require.NoError(t, imagebuild.WriteContext(buildContext, imagebuild.Spec{
		Collector: collector, Healthcheck: healthcheck, Config: config, CACerts: defaultCACerts,
	}))
	image := "localhost/" + testTag + "-dockerfile"
	// --format docker: podman's default OCI format has no HEALTHCHECK. --pull=never and
	// --network none: FROM scratch needs no registry and the build reaches nothing. No RUN, so
	// no runtime is involved (the runc flags `podman run` needs here do not apply).
	// --identity-label=false: no io.buildah.version label; --timestamp 0: the epoch, as the Go
	// builder writes.
	out, err := run("build", "--format", "docker", "--pull=never", "--network", "none",
		"--identity-label=false", "--timestamp", "0", "--tag", image, "--file", dockerfilePath, buildContext)
	require.NoError(t, err, "podman build:\n%s", out)
	t.Cleanup(func() { _, _ = run("rmi", "--force", image) })
	archive := filepath.Join(dir, "dockerfile-image.tar")
	out, err = run("save", "--format", "docker-archive", "--output", archive, image)
	require.NoError(t, err, "podman save:\n%s", out)
	built, err := tarball.ImageFromPath(archive, nil)
	require.NoError(t, err)

	want, err := goBuilt.ConfigFile()
	require.NoError(t, err)
	got, err := built.ConfigFile()
	require.NoError(t, err)
	// What a runtime uses. (podman also writes a Hostname, empty Volumes and OnBuild: no effect.)
	runtimeConfig := func(c v1.Config) v1.Config {
		return v1.Config{Entrypoint: c.Entrypoint, Cmd: c.Cmd, User: c.User, Env: c.Env, WorkingDir: c.WorkingDir,
			ExposedPorts: c.ExposedPorts, Labels: c.Labels, Healthcheck: c.Healthcheck, StopSignal: c.StopSignal}
	}
	assert.Equal(t, runtimeConfig(want.Config), runtimeConfig(got.Config), "runtime config: Dockerfile's image vs the Go-built one")
	assert.Equal(t, want.OS, got.OS)
	assert.Equal(t, want.Architecture, got.Architecture)
	wantFiles, gotFiles := fileList(t, goBuilt), fileList(t, built)
	assert.Equal(t, wantFiles, gotFiles, "file lists: Dockerfile's image vs the Go-built one")
	t.Logf("the Dockerfile's image has the Go-built image's config and its %d files and directories", len(gotFiles))

	runInPodman(t, run, image, "dockerfile", withReadyz)
}

// imageFile is what a container sees of one path: type, mode, owner, and the content's digest.
type imageFile struct {
	Type     byte
	Mode     int64
	UID, GID int
	Size     int64
	SHA256   string
}

// fileList flattens the image's layers (whiteouts applied) into what the container sees.
func fileList(t *testing.T, img v1.Image) map[string]imageFile {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	out := map[string]imageFile{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		p := filepath.Clean("/" + hdr.Name)
		if p == "/" {
			continue // the root itself: runtimes create it
		}
		h := sha256.New()
		_, err = io.Copy(h, tr)
		require.NoError(t, err)
		// Permissions, setuid/setgid/sticky only: some writers (podman) add the file type bits
		// (0o40000 for a directory) to the header's mode, which the type already says.
		out[p] = imageFile{Type: hdr.Typeflag, Mode: hdr.Mode & 0o7777, UID: hdr.Uid, GID: hdr.Gid, Size: hdr.Size,
			SHA256: hex.EncodeToString(h.Sum(nil))}
	}
}

type stringerFunc func() string

func (f stringerFunc) String() string { return f() }
