package orderedrwexporter // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter"

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheusremotewrite"
	"github.com/prometheus/otlptranslator"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/ordering"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/transport"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/wal"
	"github.com/otelcol-fleet/otelcol-fleet/internal/hostname"
)

// ordExporter translates with the upstream translator and hands the series to the ordering
// engine, which owns holding, sharding and sending.
type ordExporter struct {
	cfg        *Config
	set        exporter.Settings
	translator prometheusremotewrite.Settings
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
		cfg: cfg,
		set: set,
		translator: prometheusremotewrite.Settings{
			Namespace:                       cfg.Namespace,
			ExternalLabels:                  externalLabels,
			DisableTargetInfo:               !cfg.TargetInfo.Enabled,
			DisableScopeInfo:                cfg.DisableScopeInfo,
			AddMetricSuffixes:               cfg.AddMetricSuffixes, //nolint:staticcheck // same deprecated key as upstream
			TranslationStrategy:             string(cfg.TranslationStrategy),
			ConvertExplicitHistogramsToNHCB: cfg.ConvertExplicitHistogramsToNHCB,
			KeepClassicHistograms:           cfg.KeepClassicHistograms,
		},
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
		// Added by the translator as it builds each series' labels: inserting it afterwards
		// cost an allocation and a copy of the labels per series.
		stamped := make(map[string]string, len(externalLabels)+1)
		maps.Copy(stamped, externalLabels)
		stamped[e.stampLabel] = e.stampValue
		e.translator.ExternalLabels = stamped
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
	return e.engine.Push(ctx, series)
}

// translate turns md into series with the upstream translator (target_info, external labels,
// translation strategy), adds the stamp label, and identifies each series by its labels' hash.
func (e *ordExporter) translate(md pmetric.Metrics) []sample.Series {
	tsMap, err := prometheusremotewrite.FromMetrics(md, e.translator)
	if err != nil {
		// As upstream: what translated is still sent.
		e.set.Logger.Debug("Some metrics could not be translated; sending the others.", zap.Error(err), zap.Int("translated", len(tsMap)))
		e.countUntranslatable(md)
	}
	series := make([]sample.Series, 0, len(tsMap))
	// One allocation for the points of every series: a series usually has one point per push.
	// Should it grow, the series already built keep their slices of the previous array.
	points := make([]sample.Point, 0, len(tsMap))
	var scratch []byte
	// The map's iteration order is random; the labels were allocated in the order of the input,
	// which every push of a scrape repeats. Walking the series in that order makes the label
	// reads, and the hold-back's per-series state (allocated in first-seen order), sequential.
	// The address is read once per series: comparing through the pointers would take a cache
	// miss per comparison.
	ordered := make([]byAddr, 0, 2*len(tsMap)) // the second half is the sort's scratch
	for _, ts := range tsMap {
		ordered = append(ordered, byAddr{labelsAddr(ts), ts})
	}
	sortByAddr(ordered, ordered[len(ordered):2*len(ordered)])
	for _, o := range ordered {
		ts := o.ts
		if len(ts.Exemplars) > 0 {
			e.exemplarOnce.Do(func() {
				e.set.Logger.Info("Exemplars are not sent by ordered_rw; their samples are.")
			})
		}
		labels := ts.Labels
		if e.stampLabel != "" {
			// The translator added the stamp as an external label, unless the data carried a
			// label of that name: the stamp wins, so that no two gateways write one series.
			labels = sample.SetLabel(labels, e.stampLabel, e.stampValue)
		}
		var hash uint64
		hash, scratch = sample.HashLabels(labels, scratch)
		s := sample.Series{Hash: hash, Labels: labels}
		first := len(points)
		points = sample.AppendPoints(points, ts)
		s.Points = points[first:len(points):len(points)]
		series = append(series, s)
	}
	return series
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

type byAddr struct {
	addr uintptr
	ts   *prompb.TimeSeries
}

// radixBits is the digit of sortByAddr: 2,048 counters, two passes for addresses up to 8 GB apart.
const radixBits = 11

// sortByAddr sorts a by address, with scratch (as long as a) as a buffer: a radix sort over the
// bits in which the addresses differ, a few linear passes where a comparison sort took 3% of
// the exporter's CPU.
func sortByAddr(a, scratch []byAddr) {
	if len(a) < 2 {
		return
	}
	lo, hi := a[0].addr, a[0].addr
	for _, x := range a {
		lo, hi = min(lo, x.addr), max(hi, x.addr)
	}
	var differ uintptr // the bits in which some address differs from the lowest
	for _, x := range a {
		differ |= x.addr - lo
	}
	src, dst := a, scratch
	var counts [1 << radixBits]int
	for shift := bits.TrailingZeros64(uint64(differ)); shift < bits.Len64(uint64(hi-lo)); shift += radixBits {
		clear(counts[:])
		for _, x := range src {
			counts[(x.addr-lo)>>shift&(1<<radixBits-1)]++
		}
		sum := 0
		for d, c := range counts {
			counts[d] = sum
			sum += c
		}
		for _, x := range src {
			d := (x.addr - lo) >> shift & (1<<radixBits - 1)
			dst[counts[d]] = x
			counts[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &a[0] {
		copy(a, src)
	}
}

// labelsAddr is where the labels of ts are in memory, only to order series by when they were
// translated; the address is never turned back into a pointer.
func labelsAddr(ts *prompb.TimeSeries) uintptr {
	if len(ts.Labels) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(unsafe.SliceData(ts.Labels)))
}
