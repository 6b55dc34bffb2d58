package orderedrwexporter // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter"

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheusremotewrite"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/encode"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/ordering"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/transport"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/wal"
	"github.com/otelcol-fleet/otelcol-fleet/internal/hostname"
)

// ordExporter encodes with internal/encode (the upstream translator's rules, its fallback per
// metric) and hands the series to the ordering engine, which owns holding, sharding and sending.
type ordExporter struct {
	cfg        *Config
	set        exporter.Settings
	encoder    *encode.Encoder
	encoderTel *encode.Telemetry
	userAgent  string
	stampLabel string
	stampValue string

	engine       *ordering.Engine
	exemplarOnce sync.Once
	// clock is nil (the system clock) except in tests.
	clock ordering.Clock
}

func newExporter(cfg *Config, set exporter.Settings) (*ordExporter, error) {
	if _, err := url.ParseRequestURI(cfg.HTTP.Endpoint); err != nil {
		return nil, fmt.Errorf("`endpoint` must be a URL, found %q", cfg.HTTP.Endpoint)
	}
	externalLabels, err := sanitizeExternalLabels(cfg)
	if err != nil {
		return nil, err
	}
	e := &ordExporter{
		cfg:       cfg,
		set:       set,
		userAgent: fmt.Sprintf("%s/%s", strings.ReplaceAll(strings.ToLower(set.BuildInfo.Description), " ", "-"), set.BuildInfo.Version),
	}
	if cfg.Ordering.stamp() {
		e.stampLabel, e.stampValue = cfg.Ordering.Stamp.Label, cfg.Ordering.Stamp.Value
		if e.stampValue == "" {
			// The collector's one default name, as fleet_health's member id: $HOSTNAME first.
			if e.stampValue, err = hostname.Get(); err != nil {
				return nil, fmt.Errorf("`ordering.stamp.value` is empty, found \"\", and neither $HOSTNAME nor the host name is known: %w", err)
			}
		}
	}
	// Set on each series' labels when the encoder first builds them, cached with them.
	e.encoder = encode.New(encode.Settings{
		Translator: prometheusremotewrite.Settings{
			Namespace:                       cfg.Namespace,
			ExternalLabels:                  externalLabels,
			DisableTargetInfo:               !cfg.TargetInfo.Enabled,
			DisableScopeInfo:                cfg.DisableScopeInfo,
			AddMetricSuffixes:               cfg.AddMetricSuffixes, //nolint:staticcheck // same deprecated key as upstream
			TranslationStrategy:             string(cfg.TranslationStrategy),
			ConvertExplicitHistogramsToNHCB: cfg.ConvertExplicitHistogramsToNHCB,
			KeepClassicHistograms:           cfg.KeepClassicHistograms,
		},
		StampLabel: e.stampLabel,
		StampValue: e.stampValue,
		// The cached labels live as long as the engine's state of their series, within its bound.
		IdleTimeout: cfg.Ordering.IdleTimeout,
		MaxSeries:   cfg.Ordering.MaxTrackedSeries,
	})
	if e.encoderTel, err = encode.NewTelemetry(set.TelemetrySettings, set.ID.String()); err != nil {
		return nil, err
	}
	return e, nil
}

// shards bounds the number of series shards, each with one request in flight at a time: the most
// is the most parallel HTTP requests, which is what upstream's num_consumers means (with its
// EnableMultipleWorkers gate off, the default; or max_batch_request_parallelism when set), and
// which `remote_write_queue.max_shards` names in Prometheus' terms (Config.Unmarshal keeps them
// equal). Where upstream fans the requests of one push out over its workers, a shard owns a set
// of series: requests of one series never overlap. The engine starts at the least and reshards
// with the load.
func (e *ordExporter) shards() (least, most int) {
	least = max(e.cfg.Shards.MinShards, 1)
	return least, max(e.cfg.Shards.MaxShards, least)
}

func (e *ordExporter) start(ctx context.Context, host component.Host) error {
	client, err := e.cfg.HTTP.ToClient(ctx, host.GetExtensions(), e.set.TelemetrySettings)
	if err != nil {
		return err
	}
	poster := &transport.HTTPPoster{Client: client, URL: e.cfg.HTTP.Endpoint, UserAgent: e.userAgent, Timeout: e.cfg.TimeoutSettings.Timeout,
		Failures: transport.NewFailureLog(e.set.Logger, e.cfg.HTTP.Endpoint, failureLogInterval)}
	set := e.engineSettings()
	set.ShutdownTimeout = e.cfg.Ordering.ShutdownTimeout
	// The encoder's label blocks are outside the Go heap: the engine pins them while it uses them.
	set.Epochs = e.encoder.Epochs()
	var budgetSource string
	set.MaxBufferedBytes, budgetSource = maxBufferedBytes(e.cfg.Ordering.MaxBufferedBytes, e.set.Logger)
	e.engine, err = ordering.NewEngine(set, e.set.TelemetrySettings, e.set.ID.String(), poster)
	if err != nil {
		return err
	}
	e.engine.Start()
	minShards, maxShards := e.shards()
	fields := []zap.Field{zap.String("mode", e.cfg.Ordering.Mode), zap.Int("min_shards", minShards), zap.Int("max_shards", maxShards),
		zap.Int64("max_buffered_bytes", set.MaxBufferedBytes), zap.String("max_buffered_bytes_from", budgetSource)}
	if e.cfg.Ordering.holdback() {
		fields = append(fields, zap.Duration("window", e.cfg.Ordering.Holdback.Window),
			zap.Int("max_held_samples", e.cfg.Ordering.Holdback.MaxHeldSamples),
			zap.Duration("max_future", e.cfg.Ordering.Holdback.MaxFuture))
	}
	if e.stampLabel != "" {
		fields = append(fields, zap.String("stamp", e.stampLabel+"="+e.stampValue))
	}
	e.set.Logger.Info("Ordered remote write started.", append(fields, zap.Bool("wal", e.cfg.WAL.HasValue()))...)
	return nil
}

func (e *ordExporter) engineSettings() ordering.Settings {
	minShards, maxShards := e.shards()
	var walSettings *wal.Settings
	if walCfg := e.cfg.WAL.Get(); walCfg != nil {
		walSettings = &wal.Settings{
			Directory:        walDirectory(walCfg.Directory, e.set.ID),
			TruncateInterval: cmp.Or(walCfg.TruncateFrequency, wal.DefaultTruncateInterval),
			LagInterval:      cmp.Or(walCfg.LagRecordFrequency, wal.DefaultLagInterval),
		}
	}
	return ordering.Settings{
		WAL:            walSettings,
		MinShards:      minShards,
		MaxShards:      maxShards,
		QueueSize:      e.cfg.RemoteWriteQueue.QueueSize,
		MaxBatchBytes:  e.cfg.MaxBatchSizeBytes,
		Retry:          e.cfg.BackOffConfig,
		Holdback:       e.cfg.Ordering.holdback(),
		Window:         e.cfg.Ordering.Holdback.Window,
		MaxHeldSamples: e.cfg.Ordering.Holdback.MaxHeldSamples,
		MaxFuture:      e.cfg.Ordering.Holdback.MaxFuture,
		// The per-series state, kept in every mode.
		SeriesIdleTimeout: e.cfg.Ordering.IdleTimeout,
		MaxTrackedSeries:  e.cfg.Ordering.MaxTrackedSeries,
		Clock:             e.clock,
	}
}

// walDirectory is the log's own folder under `wal.directory`, named after the component, so that
// two ordered_rw exporters given the same directory do not write one log.
func walDirectory(dir string, id component.ID) string {
	name := "ordered_rw"
	if id.Name() != "" {
		name += "_" + strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
				return r
			}
			return '_'
		}, id.Name())
	}
	return filepath.Join(dir, name)
}

func (e *ordExporter) shutdown(ctx context.Context) error {
	if e.engine == nil {
		return nil
	}
	return e.engine.Shutdown(ctx)
}

func (e *ordExporter) pushMetrics(ctx context.Context, md pmetric.Metrics) error {
	if e.engine == nil {
		return errors.New("ordered_rw exporter is not started")
	}
	series := e.translate(md)
	if len(series) == 0 {
		return nil
	}
	defer e.encoder.Recycle(series) // Push keeps nothing of them: the next push reuses their arrays
	return e.engine.Push(ctx, series)
}

// translate turns md into series: labels (target_info, external labels, translation strategy,
// stamp) from the encoder's cache, each series identified by its labels' hash.
func (e *ordExporter) translate(md pmetric.Metrics) []sample.Series {
	now := time.Now()
	if e.clock != nil {
		now = e.clock.Now()
	}
	res := e.encoder.Encode(md, now)
	if res.Err != nil {
		// As upstream: what translated is still sent.
		e.set.Logger.Debug("Some metrics could not be translated; sending the others.", zap.Error(res.Err), zap.Int("translated", len(res.Series)))
		e.countUntranslatable(md)
	}
	e.encoderTel.FellBack(res.Fallback)
	if res.Exemplars {
		e.exemplarOnce.Do(func() {
			e.set.Logger.Info("Exemplars are not sent by ordered_rw; their samples are.")
		})
	}
	return res.Series
}

// sanitizeExternalLabels is upstream's rule: no empty key or value, names escaped as the
// translation strategy escapes them.
func sanitizeExternalLabels(cfg *Config) (map[string]string, error) {
	utf8Allowed := cfg.TranslationStrategy == "NoUTF8EscapingWithSuffixes" || cfg.TranslationStrategy == "NoTranslation"
	namer := otlptranslator.LabelNamer{UTF8Allowed: utf8Allowed, PreserveMultipleUnderscores: true}
	out := make(map[string]string, len(cfg.ExternalLabels))
	for key, value := range cfg.ExternalLabels {
		if key == "" || value == "" {
			return nil, fmt.Errorf("`external_labels` must not contain an empty key or value, found %q: %q", key, value)
		}
		name, err := namer.Build(key)
		if err != nil {
			return nil, err
		}
		out[name] = value
	}
	return out, nil
}
