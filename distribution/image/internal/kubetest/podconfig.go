package kubetest

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/otelcol-fleet/otelcol-fleet/distribution/image/internal/imagebuild"
)

// ConfigFromConfigMap follows the collector container's `--config PATH` to the read-only volume
// mounted at PATH's folder and the ConfigMap behind it, among objs, and returns the config it
// holds. The mount must not hide the image's default config.
func ConfigFromConfigMap(t testing.TB, objs []runtime.Object, spec corev1.PodSpec, c corev1.Container) string {
	t.Helper()
	require.Len(t, c.Args, 2)
	require.Equal(t, "--config", c.Args[0])
	dir, file := filepath.Split(c.Args[1])
	var volumeName string
	for _, vm := range c.VolumeMounts {
		if filepath.Clean(vm.MountPath) == filepath.Clean(dir) {
			volumeName = vm.Name
			assert.True(t, vm.ReadOnly)
		}
	}
	require.NotEmpty(t, volumeName, "no volume mounted at %s", dir)
	assert.NotEqual(t, filepath.Dir(imagebuild.ConfigPath), filepath.Clean(dir),
		"mounting over %s would hide the image's default config", filepath.Dir(imagebuild.ConfigPath))
	var cmName string
	for _, v := range spec.Volumes {
		if v.Name == volumeName && v.ConfigMap != nil {
			cmName = v.ConfigMap.Name
		}
	}
	require.NotEmpty(t, cmName, "volume %s is not a ConfigMap", volumeName)
	for _, cm := range ObjectsOf[*corev1.ConfigMap](objs) {
		if cm.Name == cmName {
			cfg, ok := cm.Data[file]
			require.True(t, ok, "ConfigMap %s has no key %s", cmName, file)
			return cfg
		}
	}
	require.FailNow(t, "ConfigMap "+cmName+" is not among the objects")
	return ""
}

// FieldRef returns the downward-API field path of the container's variable name, or "".
func FieldRef(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			return e.ValueFrom.FieldRef.FieldPath
		}
	}
	return ""
}
