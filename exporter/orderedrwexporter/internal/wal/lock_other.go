//go:build !unix

package wal // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/wal"

import "os"

// lockDir creates dir; there is no advisory lock on this platform, so two processes must not be
// given one directory.
func lockDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	return nil, nil
}
