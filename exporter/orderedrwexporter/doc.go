// Package orderedrwexporter is the ordered_rw exporter: a drop-in for prometheus_remote_write
// (the same keys with the same meaning, and the few it cannot honour refused at startup) that
// never sends a sample out of order per series, by holding samples back until their timestamp
// plus a window, or by stamping each gateway's series with a label, and that loses only the
// samples a backend rejects, not their whole request. The root translates with the upstream
// translator; internal/ordering coordinates hold-back, sharded sending and the write-ahead log.
package orderedrwexporter // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter"
