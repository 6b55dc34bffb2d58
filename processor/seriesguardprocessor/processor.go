package seriesguardprocessor // import "github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor"

import (
	"context"
	"encoding/hex"
	"math"
	"sort"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.uber.org/zap"

	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/guard"
	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/identity"
)

// OverflowAttribute marks the series that absorbs refused series, as the OpenTelemetry SDKs do.
const OverflowAttribute = "otel_metric_overflow"

const (
	// logInterval is the shortest time between two log lines about refused series.
	logInterval = time.Minute
	// maxSweepInterval bounds how late an idle series' slot is freed past the window.
	maxSweepInterval = time.Minute
	// maxLoggedNames is how many offending metrics and tenants a log line names.
	maxLoggedNames = 5
)

// sweepInterval is a tenth of the window (slots free at most 10% late), within [1s, 1m].
func sweepInterval(window time.Duration) time.Duration {
	return min(max(window/10, time.Second), maxSweepInterval)
}

// offenders collects, between two log lines, a sample of what was refused.
type offenders struct {
	refusedPoints, foldedPoints int64
	metrics, tenants            []string
	reasons                     map[string]struct{}
}

func (o *offenders) note(metric, tenant string, r guard.Reason) {
	if len(o.metrics) < maxLoggedNames && !contains(o.metrics, metric) {
		o.metrics = append(o.metrics, metric)
	}
	if tenant != "" && len(o.tenants) < maxLoggedNames && !contains(o.tenants, tenant) {
		o.tenants = append(o.tenants, tenant)
	}
	o.reasons[r.String()] = struct{}{}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// metricContext is what every point of one metric shares.
type metricContext struct {
	metric     pmetric.Metric
	promName   string
	nameHash   uint64
	nameLength int // longest __name__ value among its series
	kind       guard.Kind
	foldable   bool
	resource   pcommon.Resource
}

type seriesGuard struct {
	cfg    *Config
	logger *zap.Logger
	tel    *telemetry
	now    func() time.Time

	labelLimits identity.Limits
	truncate    bool
	tenantAttr  string
	overflow    bool
	maxTracked  int

	mu        sync.Mutex // serializes batches: the builder and the guard keep scratch state
	ids       *identity.Builder
	guard     *guard.Guard // nil without series limits: nothing to track
	refused   *guard.Refused
	counts    batchCounts
	offenders offenders
	// Scratch of the hot path, reused from batch to batch: the points identified ahead, their
	// keys, and which points of the current slice to remove.
	ahead       []pointID
	aheadHashes []uint64
	dropped     []bool

	stop chan struct{}
	done sync.WaitGroup
}

func newSeriesGuard(set processor.Settings, cfg *Config, now func() time.Time) (*seriesGuard, error) {
	tr := cfg.Translation
	promote := tr.ResourceConstantLabels
	if promote.IsEmpty() {
		promote = tr.ResourceToTelemetryConversion
	}
	p := &seriesGuard{
		cfg:    cfg,
		logger: set.Logger,
		now:    now,
		labelLimits: identity.Limits{
			MaxLabels:      cfg.LabelLimits.MaxLabelsPerSeries,
			MaxNameLength:  cfg.LabelLimits.MaxLabelNameLength,
			MaxValueLength: cfg.LabelLimits.MaxLabelValueLength,
		},
		truncate:   cfg.LabelLimits.Action == LabelActionTruncate && cfg.LabelLimits.MaxLabelValueLength > 0,
		tenantAttr: cfg.SeriesLimits.Tenant.Attribute,
		overflow:   cfg.SeriesLimits.Action == SeriesActionOverflow,
		maxTracked: cfg.effectiveMaxTracked(),
		ids: identity.NewBuilder(identity.Settings{
			Namespace:        tr.Namespace,
			WithSuffixes:     tr.withSuffixes(),
			DisableScopeInfo: tr.DisableScopeInfo,
			ExternalLabels:   tr.ExternalLabels,
			Promote:          identity.NewPromotion(promote.Enabled, promote.ExcludeServiceAttributes, promote.Included, promote.Excluded),
		}),
		offenders: offenders{reasons: map[string]struct{}{}},
		stop:      make(chan struct{}),
	}
	p.refused = guard.NewRefused(cfg.SeriesLimits.IdleTimeout, now())
	if cfg.seriesLimited() {
		p.guard = guard.New(guard.Limits{
			MaxSeries:          cfg.SeriesLimits.MaxSeries,
			MaxSeriesPerMetric: cfg.SeriesLimits.MaxSeriesPerMetric,
			TenantMaxSeries:    cfg.SeriesLimits.Tenant.MaxSeries,
			TenantOverrides:    cfg.SeriesLimits.Tenant.Overrides,
			Window:             cfg.SeriesLimits.IdleTimeout,
			MaxTracked:         p.maxTracked,
			Overflow:           p.overflow,
		}, now())
	}
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
	p.logger.Info("Series guard started.",
		zap.Int("max_labels_per_series", p.labelLimits.MaxLabels),
		zap.Int("max_label_name_length", p.labelLimits.MaxNameLength),
		zap.Int("max_label_value_length", p.labelLimits.MaxValueLength),
		zap.String("label_action", string(p.cfg.LabelLimits.Action)),
		zap.Int("max_series", p.cfg.SeriesLimits.MaxSeries),
		zap.Int("max_series_per_metric", p.cfg.SeriesLimits.MaxSeriesPerMetric),
		zap.String("tenant_attribute", p.tenantAttr),
		zap.Int("tenant_max_series", p.cfg.SeriesLimits.Tenant.MaxSeries),
		zap.Duration("idle_timeout", p.cfg.SeriesLimits.IdleTimeout),
		zap.String("series_action", string(p.cfg.SeriesLimits.Action)),
		zap.Int("max_tracked_series", p.maxTracked))
	p.done.Add(1)
	go p.housekeeping(sweepInterval(p.cfg.SeriesLimits.IdleTimeout), logInterval)
	return nil
}

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
	o := p.offenders
	p.offenders = offenders{reasons: map[string]struct{}{}}
	p.mu.Unlock()
	if o.refusedPoints == 0 && o.foldedPoints == 0 {
		return
	}
	reasons := make([]string, 0, len(o.reasons))
	for r := range o.reasons {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	p.logger.Warn("Series guard refused or folded data points of series over the limits; see otelcol_processor_series_guard_refused_data_points for the counts by reason.",
		zap.Int64("refused_data_points", o.refusedPoints),
		zap.Int64("folded_data_points", o.foldedPoints),
		zap.Strings("reasons", reasons),
		zap.Strings("sample_metrics", o.metrics),
		zap.Strings("sample_tenants", o.tenants))
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

// processMetrics is the hot path.
func (p *seriesGuard) processMetrics(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	p.mu.Lock()
	now := p.now()
	var tick uint32
	if p.guard != nil {
		tick = p.guard.Tick(now)
	}
	p.counts = batchCounts{}
	md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		res := rm.Resource()
		p.ids.SetResource(res)
		rm.ScopeMetrics().RemoveIf(func(sm pmetric.ScopeMetrics) bool {
			p.ids.SetScope(sm.Scope())
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
				return p.processMetric(m, res, tick)
			})
			return sm.Metrics().Len() == 0
		})
		return rm.ScopeMetrics().Len() == 0
	})
	if p.guard != nil && p.overflow {
		p.emitOverflows(md)
	}
	counts := p.counts
	p.mu.Unlock()

	if counts.any() {
		p.tel.record(ctx, &counts)
	}
	if md.ResourceMetrics().Len() == 0 {
		return md, processorhelper.ErrSkipProcessingData
	}
	return md, nil
}

// processMetric filters the points of one metric and reports whether none is left.
func (p *seriesGuard) processMetric(m pmetric.Metric, res pcommon.Resource, tick uint32) bool {
	promName := p.ids.MetricName(m)
	if promName == "" {
		return false // the exporter cannot name it and drops it itself
	}
	mc := metricContext{metric: m, promName: promName, nameHash: identity.HashString(promName), nameLength: len(promName), resource: res}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		mc.kind, mc.foldable = guard.KindGauge, true
		return p.numberPoints(m.Gauge().DataPoints(), &mc, tick)
	case pmetric.MetricTypeSum:
		if m.Sum().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
			return false // the exporter rejects delta sums: they become no series
		}
		mc.kind, mc.foldable = guard.KindGauge, true
		if m.Sum().IsMonotonic() {
			mc.kind = guard.KindCounter
		}
		return p.numberPoints(m.Sum().DataPoints(), &mc, tick)
	case pmetric.MetricTypeHistogram:
		if m.Histogram().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
			return false
		}
		mc.kind, mc.foldable = guard.KindHistogram, true
		mc.nameLength += len("_bucket")
		return p.histogramPoints(m.Histogram().DataPoints(), &mc, tick)
	case pmetric.MetricTypeExponentialHistogram:
		if m.ExponentialHistogram().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
			return false
		}
		// One native-histogram series per point.
		dps := m.ExponentialHistogram().DataPoints()
		dps.RemoveIf(func(dp pmetric.ExponentialHistogramDataPoint) bool {
			keep, _ := p.decide(dp.Attributes(), p.identifyOne(dp.Attributes(), &mc, 0), &mc, 0, 1, 0, tick)
			return !keep
		})
		return dps.Len() == 0
	case pmetric.MetricTypeSummary:
		mc.nameLength += len("_count")
		dps := m.Summary().DataPoints()
		dps.RemoveIf(func(dp pmetric.SummaryDataPoint) bool {
			layout := summaryLayout(dp)
			keep, _ := p.decide(dp.Attributes(), p.identifyOne(dp.Attributes(), &mc, layout), &mc, layout, dp.QuantileValues().Len()+2, 1, tick)
			return !keep
		})
		return dps.Len() == 0
	}
	return false
}

// lookahead is how many points are identified before any of them is decided: the guard then
// loads their state into the CPU cache together (Guard.Prefetch), so the cache misses of a run
// of points overlap instead of being taken one after the other. 256 points of scratch fit in
// the L1 cache.
const lookahead = 256

// pointID is a data point's series, computed ahead of the decision.
type pointID struct {
	series identity.Series
	hash   uint64 // mixHash: the key of the series group in the guard
}

// identify computes the series of points [from, to) of a slice into p.ahead, and prefetches
// their state in the guard.
func (p *seriesGuard) identify(from, to int, attrs func(int) pcommon.Map, mc *metricContext, layout uint64) {
	p.ahead = p.ahead[:0]
	p.aheadHashes = p.aheadHashes[:0]
	for i := from; i < to; i++ {
		s := p.ids.Series(attrs(i))
		h := mixHash(s.Hash, mc, layout)
		p.ahead = append(p.ahead, pointID{series: s, hash: h})
		p.aheadHashes = append(p.aheadHashes, h)
	}
	if p.guard != nil {
		p.guard.Prefetch(p.aheadHashes)
	}
}

func (p *seriesGuard) numberPoints(dps pmetric.NumberDataPointSlice, mc *metricContext, tick uint32) bool {
	n := dps.Len()
	if n == 0 {
		return false
	}
	p.dropped = append(p.dropped[:0], make([]bool, n)...)
	anyDropped := false
	attrs := func(i int) pcommon.Map { return dps.At(i).Attributes() }
	for from := 0; from < n; from += lookahead {
		to := min(from+lookahead, n)
		p.identify(from, to, attrs, mc, 0)
		for i := from; i < to; i++ {
			dp := dps.At(i)
			keep, folded := p.decide(dp.Attributes(), p.ahead[i-from], mc, 0, 1, 0, tick)
			if folded != nil {
				if dp.Flags().NoRecordedValue() {
					keep = false
				} else {
					v := dp.DoubleValue()
					if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
						v = float64(dp.IntValue())
					}
					p.guard.FoldNumber(folded, dp.StartTimestamp(), dp.Timestamp(), v, tick)
				}
			}
			if !keep {
				p.dropped[i] = true
				anyDropped = true
			}
		}
	}
	if !anyDropped {
		return false
	}
	i := 0 // RemoveIf visits the points in order
	dps.RemoveIf(func(pmetric.NumberDataPoint) bool {
		i++
		return p.dropped[i-1]
	})
	return dps.Len() == 0
}

func (p *seriesGuard) histogramPoints(dps pmetric.HistogramDataPointSlice, mc *metricContext, tick uint32) bool {
	n := dps.Len()
	if n == 0 {
		return false
	}
	p.dropped = append(p.dropped[:0], make([]bool, n)...)
	anyDropped := false
	for i := 0; i < n; i++ {
		dp := dps.At(i)
		// A histogram point is many series, so the lookup is a smaller part of its cost than
		// of a number point's: it is not identified ahead.
		layout := histogramLayout(dp)
		keep, folded := p.decide(dp.Attributes(), p.identifyOne(dp.Attributes(), mc, layout), mc, layout, histogramWeight(dp), 1, tick)
		if folded != nil && !dp.Flags().NoRecordedValue() {
			p.guard.FoldHistogram(folded, dp.StartTimestamp(), dp.Timestamp(), dp.ExplicitBounds(), dp.BucketCounts(), dp.Count(), dp.Sum(), tick)
		}
		if !keep {
			p.dropped[i] = true
			anyDropped = true
		}
	}
	if !anyDropped {
		return false
	}
	i := 0
	dps.RemoveIf(func(pmetric.HistogramDataPoint) bool {
		i++
		return p.dropped[i-1]
	})
	return dps.Len() == 0
}

// histogramWeight is the number of series a histogram point becomes: one per bucket bound, +Inf,
// _count, and _sum when it has one.
func histogramWeight(dp pmetric.HistogramDataPoint) int {
	weight := min(dp.ExplicitBounds().Len(), dp.BucketCounts().Len()) + 2
	if dp.HasSum() {
		weight++
	}
	return weight
}

// histogramLayout identifies the series of a histogram point besides its labels: the bucket
// bounds (one series each) and whether it has a _sum.
func histogramLayout(dp pmetric.HistogramDataPoint) uint64 {
	h := identity.HashFloats(dp.ExplicitBounds())
	if dp.HasSum() {
		h = identity.Mix(h, 1)
	}
	return h
}

// summaryLayout identifies the quantiles of a summary point: each is its own series.
func summaryLayout(dp pmetric.SummaryDataPoint) uint64 {
	q := dp.QuantileValues()
	layout := uint64(q.Len())
	for i := 0; i < q.Len(); i++ {
		layout = identity.Mix(layout, math.Float64bits(q.At(i).Quantile()))
	}
	return layout
}

// decide checks the label limits and the series caps for one data point. weight is the number
// of Prometheus series the point becomes, extra the labels added to some of them (le,
// quantile). It returns whether to keep the point and, when the point must be folded into an
// overflow series, the folded series.
func (p *seriesGuard) decide(attrs pcommon.Map, id pointID, mc *metricContext, layout uint64, weight, extra int, tick uint32) (bool, *guard.FoldedSeries) {
	s, h := id.series, id.hash
	if s.Invalid {
		return true, nil // the exporter cannot translate it and drops it: it becomes no series
	}
	if v := s.Check(p.labelLimits, mc.nameLength, extra); v != identity.OK {
		if v == identity.ValueTooLong && p.truncate && mc.nameLength <= p.labelLimits.MaxValueLength &&
			p.ids.FixedValuesFit(p.labelLimits.MaxValueLength) {
			truncateValues(attrs, p.labelLimits.MaxValueLength)
			s = p.ids.Series(attrs)
			h = mixHash(s.Hash, mc, layout)
			v = s.Check(p.labelLimits, mc.nameLength, extra)
		}
		if v != identity.OK {
			p.refuse(labelReason(v), h, weight, mc, attrs, tick)
			return false, nil
		}
	}
	if p.guard == nil {
		return true, nil
	}
	switch state, folded := p.guard.Seen(h, tick); state {
	case guard.Admitted:
		return true, nil
	case guard.Folded:
		p.counts.foldedPoints[folded.Reason]++
		p.offenders.foldedPoints++
		return false, folded
	}
	tenant := p.tenant(attrs, mc.resource)
	reason := p.guard.Admit(h, weight, mc.promName, tenant, tick)
	if reason == guard.ReasonNone {
		return true, nil
	}
	if p.overflow && mc.foldable && reason != guard.ReasonMaxTrackedSeries {
		key := guard.OverflowKey{Metric: mc.promName, Tenant: tenant, Kind: mc.kind}
		folded, ok := p.guard.Fold(h, weight, reason, key, tick, p.now(), func(o *guard.Overflow) {
			m := mc.metric
			o.Name, o.Unit, o.Description = m.Name(), m.Unit(), m.Description()
			o.NonMonotonicSum = m.Type() == pmetric.MetricTypeSum && !m.Sum().IsMonotonic()
		})
		if ok {
			p.counts.foldedPoints[reason]++
			p.counts.foldedSeries[reason] += int64(weight)
			p.offenders.foldedPoints++
			p.offenders.note(mc.promName, tenant, reason)
			return false, folded
		}
		reason = guard.ReasonMaxTrackedSeries
	}
	p.refuse(reason, h, weight, mc, attrs, tick)
	return false, nil
}

func (p *seriesGuard) refuse(reason guard.Reason, h uint64, weight int, mc *metricContext, attrs pcommon.Map, tick uint32) {
	p.counts.refusedPoints[reason]++
	p.counts.refusedSamples[reason] += int64(weight)
	if p.refused.First(h, p.refused.Tick(p.now())) {
		p.counts.refusedSeries[reason] += int64(weight)
	}
	p.offenders.refusedPoints++
	if len(p.offenders.metrics) < maxLoggedNames || len(p.offenders.tenants) < maxLoggedNames {
		p.offenders.note(mc.promName, p.tenant(attrs, mc.resource), reason)
	}
}

// identifyOne computes the series of one point, for the kinds of points that are rare enough
// not to be worth identifying ahead.
func (p *seriesGuard) identifyOne(attrs pcommon.Map, mc *metricContext, layout uint64) pointID {
	s := p.ids.Series(attrs)
	return pointID{series: s, hash: mixHash(s.Hash, mc, layout)}
}

// mixHash is the identity of the series group: labels, metric name and layout (bucket bounds,
// quantiles).
func mixHash(labels uint64, mc *metricContext, layout uint64) uint64 {
	return identity.Mix(identity.Mix(labels, mc.nameHash), layout)
}

func labelReason(v identity.Violation) guard.Reason {
	switch v {
	case identity.TooManyLabels:
		return guard.ReasonLabels
	case identity.NameTooLong:
		return guard.ReasonLabelNameLength
	}
	return guard.ReasonLabelValueLength
}

// tenant reads the tenant attribute from the data point, else from the resource.
func (p *seriesGuard) tenant(attrs pcommon.Map, res pcommon.Resource) string {
	if p.tenantAttr == "" {
		return ""
	}
	if v, ok := attrs.Get(p.tenantAttr); ok {
		return v.AsString()
	}
	if v, ok := res.Attributes().Get(p.tenantAttr); ok {
		return v.AsString()
	}
	return ""
}

// truncateValues shortens every attribute value longer than maxLength to a prefix, "~" and 16
// hex digits of the hash of the whole value: distinct values stay distinct series.
func truncateValues(attrs pcommon.Map, maxLength int) {
	for k, v := range attrs.All() {
		s := v.AsString()
		if len(s) <= maxLength {
			continue
		}
		attrs.PutStr(k, truncateValue(s, maxLength))
	}
}

func truncateValue(s string, maxLength int) string {
	cut := maxLength - truncateHashLength - 1
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut-- // keep the prefix valid UTF-8
	}
	var sum [8]byte
	h := xxhash.Sum64String(s)
	for i := range sum {
		sum[i] = byte(h >> (56 - 8*i))
	}
	return s[:cut] + "~" + hex.EncodeToString(sum[:])
}

// emitOverflows appends the overflow series touched by this batch under an empty resource and
// scope, so they carry no job, instance or scope labels: one series per metric (and tenant).
func (p *seriesGuard) emitOverflows(md pmetric.Metrics) {
	var metrics pmetric.MetricSlice
	p.guard.TakePending(func(o *guard.Overflow, ts pcommon.Timestamp) {
		if metrics == (pmetric.MetricSlice{}) {
			metrics = md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
		}
		m := metrics.AppendEmpty()
		m.SetName(o.Name)
		m.SetUnit(o.Unit)
		m.SetDescription(o.Description)
		var attrs pcommon.Map
		switch o.Key.Kind {
		case guard.KindGauge:
			var dp pmetric.NumberDataPoint
			if o.NonMonotonicSum {
				sum := m.SetEmptySum()
				sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
				dp = sum.DataPoints().AppendEmpty()
				dp.SetStartTimestamp(o.Start)
			} else {
				dp = m.SetEmptyGauge().DataPoints().AppendEmpty()
			}
			dp.SetDoubleValue(o.Value)
			dp.SetTimestamp(ts)
			attrs = dp.Attributes()
		case guard.KindCounter:
			sum := m.SetEmptySum()
			sum.SetIsMonotonic(true)
			sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			dp := sum.DataPoints().AppendEmpty()
			dp.SetDoubleValue(o.Value)
			dp.SetStartTimestamp(o.Start)
			dp.SetTimestamp(ts)
			attrs = dp.Attributes()
		case guard.KindHistogram:
			h := m.SetEmptyHistogram()
			h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			dp := h.DataPoints().AppendEmpty()
			dp.ExplicitBounds().FromRaw(o.Bounds)
			dp.BucketCounts().FromRaw(o.Buckets)
			dp.SetCount(o.Count)
			dp.SetSum(o.Sum)
			dp.SetStartTimestamp(o.Start)
			dp.SetTimestamp(ts)
			attrs = dp.Attributes()
		}
		attrs.PutStr(OverflowAttribute, "true")
		if o.Key.Tenant != "" {
			attrs.PutStr(p.tenantAttr, o.Key.Tenant)
		}
	})
}
