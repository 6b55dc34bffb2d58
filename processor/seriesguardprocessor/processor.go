package seriesguardprocessor // import "github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor"

import (
	"context"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.uber.org/zap"

	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/guard"
	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/walk"
)

// OverflowAttribute marks the series that absorbs refused series, as the OpenTelemetry SDKs do.
const OverflowAttribute = walk.OverflowAttribute

const (
	// logInterval is the shortest time between two log lines about refused series.
	logInterval = time.Minute
	// maxSweepInterval bounds how late an idle series' slot is freed past the idle timeout.
	maxSweepInterval = time.Minute
)

// sweepInterval is a tenth of the idle timeout (slots free at most 10% late), within [1s, 1m].
func sweepInterval(idleTimeout time.Duration) time.Duration {
	return min(max(idleTimeout/10, time.Second), maxSweepInterval)
}

// seriesGuard is the processor's shell: it serializes batches, runs the sweeper, logs and
// counts. The decisions are the walker's (internal/walk), the state the guard's (internal/guard).
type seriesGuard struct {
	cfg        *Config
	logger     *zap.Logger
	tel        *telemetry
	now        func() time.Time
	maxTracked int

	mu      sync.Mutex // serializes batches and sweeps: the walker and the guard are not concurrent
	walker  *walk.Walker
	guard   *guard.Guard // nil without series limits: nothing to track
	refused *guard.Refused

	stop chan struct{}
	done sync.WaitGroup
}

func newSeriesGuard(set processor.Settings, cfg *Config, now func() time.Time) (*seriesGuard, error) {
	p := &seriesGuard{
		cfg:        cfg,
		logger:     set.Logger,
		now:        now,
		maxTracked: cfg.effectiveMaxTracked(),
		refused:    guard.NewRefused(cfg.SeriesLimits.IdleTimeout, now()),
		stop:       make(chan struct{}),
	}
	if cfg.seriesLimited() {
		p.guard = guard.New(guard.Limits{
			MaxSeries:          cfg.SeriesLimits.MaxSeries,
			MaxSeriesPerMetric: cfg.SeriesLimits.MaxSeriesPerMetric,
			TenantMaxSeries:    cfg.SeriesLimits.Tenant.MaxSeries,
			TenantOverrides:    cfg.SeriesLimits.Tenant.Overrides,
			Window:             cfg.SeriesLimits.IdleTimeout,
			MaxTracked:         p.maxTracked,
			Overflow:           cfg.SeriesLimits.Action == SeriesActionOverflow,
		}, now())
	}
	p.walker = walk.New(cfg.walkSettings(), p.guard, p.refused, now)
	var snapshot func(*gaugeSnapshot)
	if p.guard != nil {
		snapshot = p.snapshot
	}
	tel, err := newTelemetry(set, snapshot)
	if err != nil {
		return nil, err
	}
	p.tel = tel
	return p, nil
}

func (p *seriesGuard) start(_ context.Context, _ component.Host) error {
	ll, sl := p.cfg.LabelLimits, p.cfg.SeriesLimits
	p.logger.Info("Series guard started.",
		zap.Int("max_labels_per_series", ll.MaxLabelsPerSeries),
		zap.Int("max_label_name_length", ll.MaxLabelNameLength),
		zap.Int("max_label_value_length", ll.MaxLabelValueLength),
		zap.String("label_action", string(ll.Action)),
		zap.Int("max_series", sl.MaxSeries),
		zap.Int("max_series_per_metric", sl.MaxSeriesPerMetric),
		zap.String("tenant_attribute", sl.Tenant.Attribute),
		zap.Int("tenant_max_series", sl.Tenant.MaxSeries),
		zap.Duration("idle_timeout", sl.IdleTimeout),
		zap.String("series_action", string(sl.Action)),
		zap.Int("max_tracked_series", p.maxTracked))
	p.done.Add(1)
	go p.housekeeping(sweepInterval(sl.IdleTimeout), logInterval)
	return nil
}

// shutdown is safe before start and safe twice.
func (p *seriesGuard) shutdown(context.Context) error {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.done.Wait()
	p.tel.shutdown()
	return nil
}

// housekeeping frees the slots of idle series and writes at most one log line per interval.
func (p *seriesGuard) housekeeping(sweepEvery, logEvery time.Duration) {
	defer p.done.Done()
	sweep := time.NewTicker(sweepEvery)
	defer sweep.Stop()
	logTicker := time.NewTicker(logEvery)
	defer logTicker.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-sweep.C:
			p.sweep()
		case <-logTicker.C:
			p.logOffenders()
		}
	}
}

func (p *seriesGuard) sweep() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	p.refused.Sweep(p.refused.Tick(now))
	if p.guard != nil {
		p.guard.Sweep(p.guard.Tick(now))
	}
}

func (p *seriesGuard) logOffenders() {
	p.mu.Lock()
	o := p.walker.TakeOffenders()
	p.mu.Unlock()
	if o.RefusedPoints == 0 && o.FoldedPoints == 0 {
		return
	}
	reasons := make([]string, 0, len(o.Reasons))
	for r := range o.Reasons {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	p.logger.Warn("Series guard refused or folded data points of series over the limits; see otelcol_processor_series_guard_refused_data_points for the counts by reason.",
		zap.Int64("refused_data_points", o.RefusedPoints),
		zap.Int64("folded_data_points", o.FoldedPoints),
		zap.Strings("reasons", reasons),
		zap.Strings("sample_metrics", o.Metrics),
		zap.Strings("sample_tenants", o.Tenants))
}

func (p *seriesGuard) snapshot(s *gaugeSnapshot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s.active = p.guard.Active()
	s.limit = int64(p.cfg.SeriesLimits.MaxSeries)
	s.tracked = p.guard.Tracked()
	s.trackedLimit = int64(p.maxTracked)
	s.tenants = p.guard.Tenants(s.tenants)
	// Tenants with their own budget are reported even before they send anything.
	for tenant := range p.cfg.SeriesLimits.Tenant.Overrides {
		found := false
		for _, u := range s.tenants {
			if u.Tenant == tenant {
				found = true
				break
			}
		}
		if !found {
			s.tenants = append(s.tenants, guard.TenantUsage{Tenant: tenant, Limit: p.guard.TenantLimit(tenant)})
		}
	}
}

// processMetrics is the hot path: the walker decides under the lock, the counts are recorded
// after it.
func (p *seriesGuard) processMetrics(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	p.mu.Lock()
	counts := p.walker.Walk(md)
	p.mu.Unlock()

	if counts.Any() {
		p.tel.record(ctx, &counts)
	}
	if md.ResourceMetrics().Len() == 0 {
		return md, processorhelper.ErrSkipProcessingData
	}
	return md, nil
}
