// Command image builds the otelcol-fleet container image without a Docker daemon and writes it
// both as an OCI image layout and as a docker-archive tarball:
//
//	go run . -out ../_build
//
// writes ../_build/otelcol-fleet-oci/ (push with `skopeo copy oci:DIR:TAG docker://REPO:TAG`)
// and ../_build/otelcol-fleet-image.tar (`docker load -i` / `podman load -i`), and prints the
// image digest. Two runs on the same inputs print the same digest.
//
//	go run . -context ../_build/image-context
//
// writes instead the build context distribution/Dockerfile builds the same image from (`make
// build` runs it), for those who build images with Docker, podman or buildah.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/otelcol-fleet/otelcol-fleet/distribution/image/internal/imagebuild"
)

// Output names inside -out.
const (
	ociLayoutDir  = "otelcol-fleet-oci"
	dockerArchive = "otelcol-fleet-image.tar"
)

func main() {
	if _, err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

// run builds and writes the image as the flags in args say, and returns its digest.
func run(args []string, stdout io.Writer) (v1.Hash, error) {
	flags := flag.NewFlagSet("image", flag.ContinueOnError)
	out := flags.String("out", "../_build", "directory the OCI layout and the docker-archive are written to")
	collector := flags.String("collector", "../_build/otelcol-fleet", "collector binary (built by `make build`)")
	healthcheck := flags.String("healthcheck", "../_build/healthcheck", "static healthcheck program")
	config := flags.String("config", "../config.yaml", "default collector config, installed as "+imagebuild.ConfigPath)
	caCerts := flags.String("ca-certs", "/etc/ssl/certs/ca-certificates.crt", "CA bundle (Debian's ca-certificates)")
	ref := flags.String("tag", "otelcol-fleet:dev", "image reference recorded in both outputs")
	version := flags.String("version", "dev", "org.opencontainers.image.version label")
	arch := flags.String("arch", "amd64", "GOARCH the binaries were built for")
	context := flags.String("context", "", "write the Dockerfile's build context to this directory instead of the image")
	if err := flags.Parse(args); err != nil {
		return v1.Hash{}, err
	}
	if *context != "" {
		spec := imagebuild.Spec{Collector: *collector, Healthcheck: *healthcheck, Config: *config, CACerts: *caCerts}
		if err := imagebuild.WriteContext(*context, spec); err != nil {
			return v1.Hash{}, fmt.Errorf("writing the build context: %w", err)
		}
		fmt.Fprintf(stdout, "build context for distribution/Dockerfile: %s\n", *context)
		return v1.Hash{}, nil
	}

	created, err := sourceDateEpoch()
	if err != nil {
		return v1.Hash{}, err
	}
	img, err := imagebuild.Build(imagebuild.Spec{
		Collector:    *collector,
		Healthcheck:  *healthcheck,
		Config:       *config,
		CACerts:      *caCerts,
		Created:      created,
		Version:      *version,
		Architecture: *arch,
	})
	if err != nil {
		return v1.Hash{}, err
	}
	layoutDir := filepath.Join(*out, ociLayoutDir)
	if err := imagebuild.WriteOCILayout(layoutDir, img, *ref); err != nil {
		return v1.Hash{}, fmt.Errorf("writing the OCI layout: %w", err)
	}
	archive := filepath.Join(*out, dockerArchive)
	if err := imagebuild.WriteDockerArchive(archive, img, *ref); err != nil {
		return v1.Hash{}, fmt.Errorf("writing the docker-archive: %w", err)
	}
	digest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	fmt.Fprintf(stdout, "%s %s\n  OCI layout:     %s\n  docker-archive: %s\n", *ref, digest, layoutDir, archive)
	return digest, nil
}

// sourceDateEpoch honours the reproducible-builds convention SOURCE_DATE_EPOCH; without it every
// timestamp is the Unix epoch.
func sourceDateEpoch() (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Time{}, nil
	}
	secs, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH must be Unix seconds, found %q", v)
	}
	return time.Unix(secs, 0).UTC(), nil
}
