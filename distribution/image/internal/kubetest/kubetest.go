// Package kubetest reads Kubernetes objects for the packaging tests the way the API server would:
// every document through apimachinery's strict decoder (unknown fields, wrong casing, duplicate
// keys and bad quantities fail). It also gives a collector container's config and environment as
// a pod on loopback would see them, so that the built binary can validate and run them. Shared
// by the raw manifests' tests (k8s) and the Helm chart's (helm).
package kubetest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// ServiceAccountDir is where the kubelet mounts the pod's service account token and CA.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

var scheme = runtime.NewScheme()

func init() {
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, rbacv1.AddToScheme, policyv1.AddToScheme, autoscalingv2.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
}

// DecodeStrict decodes every document of a multi-document YAML manifest with apimachinery's
// strict codec.
func DecodeStrict(raw []byte) ([]runtime.Object, error) {
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	var objs []runtime.Object
	for i := 0; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, _, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		objs = append(objs, obj)
	}
}

func stripComments(doc []byte) []byte {
	var out bytes.Buffer
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			out.WriteString(line + "\n")
		}
	}
	return out.Bytes()
}

// ObjectsOf returns the objects of type T.
func ObjectsOf[T runtime.Object](objs []runtime.Object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// ContainerEnv is the container's environment as "K=V": literal values as written,
// downward-API values as a pod on loopback would get them (the pod IP is 127.0.0.1, the pod
// name PodName).
func ContainerEnv(t testing.TB, c corev1.Container) []string {
	t.Helper()
	fieldValues := map[string]string{
		"status.podIP": "127.0.0.1", "spec.nodeName": "ip-10-0-1-23.us-west-2.compute.internal",
		"metadata.name": PodName, "metadata.namespace": "otelcol-fleet", "status.hostIP": "10.0.1.23",
	}
	var env []string
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env = append(env, e.Name+"="+e.Value)
		case e.ValueFrom.FieldRef != nil:
			v, ok := fieldValues[e.ValueFrom.FieldRef.FieldPath]
			require.True(t, ok, "no stand-in for %s", e.ValueFrom.FieldRef.FieldPath)
			env = append(env, e.Name+"="+v)
		default:
			t.Fatalf("env %s: only literal and fieldRef values are supported here", e.Name)
		}
	}
	return env
}

// PodName is the pod name ContainerEnv gives metadata.name.
const PodName = "otelcol-fleet-7d9c7b8d5-x2x4z"

// WriteConfig writes the config to a temporary file, with the service account files the
// kubelet would mount stood in for (the Prometheus receiver opens them at validation), and
// returns its path.
func WriteConfig(t testing.TB, cfgYAML string) string {
	t.Helper()
	dir := t.TempDir()
	if strings.Contains(cfgYAML, ServiceAccountDir) {
		writeServiceAccountFiles(t, dir)
		cfgYAML = strings.ReplaceAll(cfgYAML, ServiceAccountDir, dir)
	}
	path := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfgYAML), 0o600))
	return path
}

func writeServiceAccountFiles(t testing.TB, dir string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubernetes"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "token"), []byte("stand-in-token"), 0o600))
}
