package imagebuild

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Names inside the Docker build context WriteContext writes, as distribution/Dockerfile copies
// them.
const (
	ContextRootfs      = "rootfs"        // the base layer's files, copied to /
	ContextHealthcheck = "healthcheck"   // → HealthcheckPath
	ContextConfig      = "config.yaml"   // → ConfigPath
	ContextCollector   = "otelcol-fleet" // → CollectorPath
)

// WriteContext writes the build context of distribution/Dockerfile to dir (removed first): the
// base layer's files under rootfs/ with the image's modes, and the healthcheck program, the
// default config and the collector at the top. The Dockerfile is then `FROM scratch` and a few
// COPYs: it needs no base image, no registry and no RUN, and builds the same file system as
// Build from the same Layers.
func WriteContext(dir string, s Spec) error {
	if err := s.validate(); err != nil {
		return err
	}
	inputs := make([][]byte, 4)
	for i, p := range []string{s.CACerts, s.Healthcheck, s.Config, s.Collector} {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		inputs[i] = b
	}
	layers := Layers(inputs[0], inputs[1], inputs[2], inputs[3])
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	// The context root, and rootfs/ (copied onto the image's /), are walkable by anyone.
	if err := mkdir(filepath.Join(dir, ContextRootfs), 0o755); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	top := map[string]string{HealthcheckPath: ContextHealthcheck, ConfigPath: ContextConfig, CollectorPath: ContextCollector}
	var errs []error
	for i, l := range layers {
		for _, f := range l.Files {
			target := filepath.Join(dir, ContextRootfs, filepath.FromSlash(f.Path))
			if i > 0 {
				// The Dockerfile COPYs each later layer's one file with --chmod; its parent
				// directories are made by COPY (0755, as Layers has them).
				if f.Dir {
					continue
				}
				name, ok := top[f.Path]
				if !ok {
					errs = append(errs, fmt.Errorf("%s: layer %q has no place in the build context", f.Path, l.CreatedBy))
					continue
				}
				target = filepath.Join(dir, name)
			}
			errs = append(errs, write(target, f))
		}
	}
	return errors.Join(errs...)
}

func write(target string, f File) error {
	if f.Dir {
		return mkdir(target, f.Mode)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(target, f.Content, 0o600); err != nil {
		return err
	}
	return chmod(target, f.Mode)
}

func mkdir(dir string, mode int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return chmod(dir, mode)
}

// chmod sets the mode exactly, sticky bit included: the umask must not weaken what the image says.
func chmod(p string, mode int64) error {
	m := os.FileMode(mode).Perm()
	if mode&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return os.Chmod(p, m)
}
