// Package walk takes one batch through series_guard's rules. It walks every data point, computes
// the Prometheus series the point becomes (internal/identity), checks it against the label limits
// and the series caps (internal/guard), and keeps, truncates, drops or folds it; then it appends
// the overflow series the batch touched.
//
// With series caps on, a point is first identified by its raw identity (module-root
// internal/seriesid, the hash ordered_rw's encoder uses): a hash of its resource, scope, metric
// and attributes as they come. An identity already mapped to an admitted series is all the
// point costs; until then the series' label set is computed as before, and once an identity is
// seen again (its series admitted already) it is mapped to that series: series are still
// counted by label set. While points are mostly of new series (churn), raw identities are not
// computed ahead, only for the points whose series turn out to be admitted already. It counts what it refused and folded, by reason, for the
// processor's telemetry, and keeps a sample of the offenders for its log.
//
// The processor owns the lifecycle (start, the sweeper, shutdown), the lock and the instruments;
// this package owns the decisions. A Walker is not safe for concurrent use: the processor
// serializes batches and sweeps under one lock.
package walk // import "github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/walk"

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-fleet/otelcol-fleet/internal/seriesid"
	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/guard"
	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/identity"
)

// Settings are the rules of a Walker, resolved from the processor's configuration.
type Settings struct {
	// LabelLimits are label_limits' caps (0 = no limit).
	LabelLimits identity.Limits
	// Truncate cuts overlong data-point attribute values instead of dropping the series
	// (label_limits.action: truncate, with a value limit set).
	Truncate bool
	// TenantAttribute names the tenant (series_limits.tenant.attribute); empty = no tenants.
	TenantAttribute string
	// Overflow folds series refused by a cap into overflow series (series_limits.action:
	// overflow) instead of dropping them.
	Overflow bool
	// Identity mirrors the exporter's translation settings.
	Identity identity.Settings
}

// Walker applies the rules to batches. It is not safe for concurrent use.
type Walker struct {
	labelLimits identity.Limits
	truncate    bool
	tenantAttr  string
	overflow    bool
	promotes    bool // resource attributes become labels: the whole resource is identity
	scopeless   bool // scope info off: the scope is not identity
	now         func() time.Time

	ids     *identity.Builder
	guard   *guard.Guard // nil without series caps: nothing to track
	refused *guard.Refused

	counts    Counts
	offenders Offenders
	// Scratch of the hot path, reused from batch to batch: the points identified ahead, their
	// keys, and which points of the current slice to remove.
	ahead       []pointID
	aheadHashes []uint64
	dropped     []bool

	// The raw identity (internal/seriesid) of the current resource and scope, and its scratch.
	resourceID, scopeID uint64
	idBuf               []byte
	// skipIDs: the last run of points identified ahead was mostly new series, so the next run
	// computes label sets directly and a raw identity only for a point whose series turns out
	// to be admitted already (to remember it). Under churn that saves hashing every point
	// twice; known, repeated series switch it off again. knownInRun counts the points of the
	// current run whose series was admitted already.
	skipIDs    bool
	knownInRun int
}

// New returns a Walker deciding against g (nil when no series cap is set) and remembering
// refused series in refused. now is the clock, which tests replace.
func New(s Settings, g *guard.Guard, refused *guard.Refused, now func() time.Time) *Walker {
	return &Walker{
		labelLimits: s.LabelLimits,
		truncate:    s.Truncate,
		tenantAttr:  s.TenantAttribute,
		overflow:    s.Overflow,
		promotes:    s.Identity.Promote != nil,
		scopeless:   s.Identity.DisableScopeInfo,
		now:         now,
		ids:         identity.NewBuilder(s.Identity),
		guard:       g,
		refused:     refused,
		offenders:   newOffenders(),
		// Room for a resource's, a scope's and a metric's identity without growing
		// (seriesid.Attributes returns it grown for a resource of many attributes).
		idBuf: make([]byte, 0, 512),
	}
}

// Walk applies the rules to md in place: points are removed, values truncated, overflow series
// appended, and metrics, scopes and resources left empty are removed. It returns what this batch
// refused and folded.
func (w *Walker) Walk(md pmetric.Metrics) Counts {
	var tick uint32
	if w.guard != nil {
		tick = w.guard.Tick(w.now())
	}
	w.counts = Counts{}
	md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		res := rm.Resource()
		w.ids.SetResource(res)
		if w.guard != nil {
			if w.promotes {
				w.resourceID, w.idBuf = seriesid.Attributes(w.idBuf, res.Attributes())
			} else {
				w.resourceID = seriesid.Resource(w.idBuf, res.Attributes())
			}
		}
		rm.ScopeMetrics().RemoveIf(func(sm pmetric.ScopeMetrics) bool {
			w.ids.SetScope(sm.Scope())
			if w.guard != nil {
				w.scopeID = seriesid.Scope(w.idBuf, sm.Scope(), w.scopeless)
			}
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
				return w.metric(m, res, tick)
			})
			return sm.Metrics().Len() == 0
		})
		return rm.ScopeMetrics().Len() == 0
	})
	if w.guard != nil && w.overflow {
		w.emitOverflows(md)
	}
	return w.counts
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
	// id is the raw identity of the metric (seriesid.Metric), when the guard tracks series.
	id uint64
}

// setID computes the metric's raw identity, under the current resource and scope.
func (w *Walker) setID(mc *metricContext, kind byte) {
	if w.guard != nil {
		mc.id = seriesid.Metric(w.idBuf, w.resourceID, w.scopeID, kind, mc.promName)
	}
}

// metric filters the points of one metric and reports whether none is left.
func (w *Walker) metric(m pmetric.Metric, res pcommon.Resource, tick uint32) bool {
	promName := w.ids.MetricName(m)
	if promName == "" {
		return false // the exporter cannot name it and drops it itself
	}
	mc := metricContext{metric: m, promName: promName, nameHash: identity.HashString(promName), nameLength: len(promName), resource: res}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		mc.kind, mc.foldable = guard.KindGauge, true
		w.setID(&mc, seriesid.KindGauge)
		return w.numberPoints(m.Gauge().DataPoints(), &mc, tick)
	case pmetric.MetricTypeSum:
		if m.Sum().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
			return false // the exporter rejects delta sums: they become no series
		}
		mc.kind, mc.foldable = guard.KindGauge, true
		kind := seriesid.KindGauge
		if m.Sum().IsMonotonic() {
			mc.kind, kind = guard.KindCounter, seriesid.KindCounter
		}
		w.setID(&mc, kind)
		return w.numberPoints(m.Sum().DataPoints(), &mc, tick)
	case pmetric.MetricTypeHistogram:
		if m.Histogram().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
			return false
		}
		mc.kind, mc.foldable = guard.KindHistogram, true
		mc.nameLength += len("_bucket")
		w.setID(&mc, seriesid.KindHistogram)
		return w.histogramPoints(m.Histogram().DataPoints(), &mc, tick)
	case pmetric.MetricTypeExponentialHistogram:
		if m.ExponentialHistogram().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
			return false
		}
		// One native-histogram series per point.
		w.setID(&mc, seriesid.KindNativeHistogram)
		dps := m.ExponentialHistogram().DataPoints()
		dps.RemoveIf(func(dp pmetric.ExponentialHistogramDataPoint) bool {
			keep, _ := w.decide(dp.Attributes(), w.identifyOne(dp.Attributes(), &mc, 0, tick), &mc, 0, 1, 0, tick)
			return !keep
		})
		return dps.Len() == 0
	case pmetric.MetricTypeSummary:
		mc.nameLength += len("_count")
		w.setID(&mc, seriesid.KindSummary)
		dps := m.Summary().DataPoints()
		dps.RemoveIf(func(dp pmetric.SummaryDataPoint) bool {
			layout := SummaryLayout(dp)
			keep, _ := w.decide(dp.Attributes(), w.identifyOne(dp.Attributes(), &mc, layout, tick), &mc, layout, dp.QuantileValues().Len()+2, 1, tick)
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
	// id is the point's raw identity (with the guard only): a hash of its resource, scope,
	// metric, attributes and layout as they come (internal/seriesid).
	id uint64
	// known: id names an admitted series, already marked seen; series and hash are not
	// computed.
	known bool
	// hasID: id is computed (not under skipIDs).
	hasID  bool
	series identity.Series
	hash   uint64 // MixHash: the key of the series group in the guard
}

// rawID is the raw identity of a point of the metric with these attributes and layout.
func (w *Walker) rawID(attrs pcommon.Map, mc *metricContext, layout uint64) uint64 {
	id := seriesid.Point(mc.id, attrs)
	if layout != 0 {
		id = identity.Mix(id, layout)
	}
	return id
}

// labelSet computes the label set of a point whose identity is not known: the translator's
// rules, mirrored (internal/identity).
func (w *Walker) labelSet(p *pointID, attrs pcommon.Map, mc *metricContext, layout uint64) {
	p.series = w.ids.Series(attrs)
	p.hash = MixHash(p.series.Hash, mc.nameHash, layout)
}

// identify computes the series of points [from, to) of a slice into w.ahead, and prefetches
// their state in the guard: with the guard, the raw identities first (a known identity is a
// known series, marked seen here), then the label sets of the points whose identity is not
// known.
func (w *Walker) identify(from, to int, attrs func(int) pcommon.Map, mc *metricContext, layout uint64, tick uint32) {
	w.ahead = w.ahead[:0]
	w.aheadHashes = w.aheadHashes[:0]
	if w.guard == nil || w.skipIDs {
		for i := from; i < to; i++ {
			var p pointID
			w.labelSet(&p, attrs(i), mc, layout)
			w.ahead = append(w.ahead, p)
			w.aheadHashes = append(w.aheadHashes, p.hash)
		}
		if w.guard != nil {
			w.guard.Prefetch(w.aheadHashes)
		}
		return
	}
	for i := from; i < to; i++ {
		id := w.rawID(attrs(i), mc, layout)
		w.ahead = append(w.ahead, pointID{id: id, hasID: true})
		w.aheadHashes = append(w.aheadHashes, id)
	}
	w.guard.PrefetchIdentities(w.aheadHashes)
	w.aheadHashes = w.aheadHashes[:0]
	for j := range w.ahead {
		p := &w.ahead[j]
		if p.known = w.guard.SeenIdentity(p.id, tick); !p.known {
			w.labelSet(p, attrs(from+j), mc, layout)
			w.aheadHashes = append(w.aheadHashes, p.hash)
		}
	}
	if len(w.aheadHashes) > 0 {
		w.guard.Prefetch(w.aheadHashes)
	}
}

// identifyOne computes the series of one point, for the kinds of points that are rare enough
// not to be worth identifying ahead.
func (w *Walker) identifyOne(attrs pcommon.Map, mc *metricContext, layout uint64, tick uint32) pointID {
	var p pointID
	if w.guard != nil {
		p.id, p.hasID = w.rawID(attrs, mc, layout), true
		if p.known = w.guard.SeenIdentity(p.id, tick); p.known {
			return p
		}
	}
	w.labelSet(&p, attrs, mc, layout)
	return p
}

func (w *Walker) numberPoints(dps pmetric.NumberDataPointSlice, mc *metricContext, tick uint32) bool {
	n := dps.Len()
	if n == 0 {
		return false
	}
	w.dropped = append(w.dropped[:0], make([]bool, n)...)
	anyDropped := false
	attrs := func(i int) pcommon.Map { return dps.At(i).Attributes() }
	for from := 0; from < n; from += lookahead {
		to := min(from+lookahead, n)
		w.identify(from, to, attrs, mc, 0, tick)
		w.knownInRun = 0
		for i := from; i < to; i++ {
			dp := dps.At(i)
			p := &w.ahead[i-from]
			if p.known {
				w.knownInRun++
			}
			keep, folded := w.decide(dp.Attributes(), *p, mc, 0, 1, 0, tick)
			if folded != nil {
				if dp.Flags().NoRecordedValue() {
					keep = false
				} else {
					v := dp.DoubleValue()
					if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
						v = float64(dp.IntValue())
					}
					w.guard.FoldNumber(folded, dp.StartTimestamp(), dp.Timestamp(), v, tick)
				}
			}
			if !keep {
				w.dropped[i] = true
				anyDropped = true
			}
		}
		// Raw identities pay off when most points are of series seen before.
		w.skipIDs = w.guard != nil && w.knownInRun*2 < to-from
	}
	if !anyDropped {
		return false
	}
	i := 0 // RemoveIf visits the points in order
	dps.RemoveIf(func(pmetric.NumberDataPoint) bool {
		i++
		return w.dropped[i-1]
	})
	return dps.Len() == 0
}

func (w *Walker) histogramPoints(dps pmetric.HistogramDataPointSlice, mc *metricContext, tick uint32) bool {
	n := dps.Len()
	if n == 0 {
		return false
	}
	w.dropped = append(w.dropped[:0], make([]bool, n)...)
	anyDropped := false
	for i := 0; i < n; i++ {
		dp := dps.At(i)
		// A histogram point is many series, so the lookup is a smaller part of its cost than
		// of a number point's: it is not identified ahead.
		layout := HistogramLayout(dp)
		keep, folded := w.decide(dp.Attributes(), w.identifyOne(dp.Attributes(), mc, layout, tick), mc, layout, HistogramWeight(dp), 1, tick)
		if folded != nil && !dp.Flags().NoRecordedValue() {
			w.guard.FoldHistogram(folded, dp.StartTimestamp(), dp.Timestamp(), dp.ExplicitBounds(), dp.BucketCounts(), dp.Count(), dp.Sum(), tick)
		}
		if !keep {
			w.dropped[i] = true
			anyDropped = true
		}
	}
	if !anyDropped {
		return false
	}
	i := 0
	dps.RemoveIf(func(pmetric.HistogramDataPoint) bool {
		i++
		return w.dropped[i-1]
	})
	return dps.Len() == 0
}

// decide checks the label limits and the series caps for one data point. weight is the number
// of Prometheus series the point becomes, extra the labels added to some of them (le,
// quantile). It returns whether to keep the point and, when the point must be folded into an
// overflow series, the folded series.
func (w *Walker) decide(attrs pcommon.Map, id pointID, mc *metricContext, layout uint64, weight, extra int, tick uint32) (bool, *guard.FoldedSeries) {
	if id.known {
		// An admitted series, seen: its label set passed the label limits when the identity
		// was remembered, and they have not changed since.
		return true, nil
	}
	s, h := id.series, id.hash
	if s.Invalid {
		return true, nil // the exporter cannot translate it and drops it: it becomes no series
	}
	// remember: the series' labels follow from the raw identity alone (no value truncated).
	remember := true
	if v := s.Check(w.labelLimits, mc.nameLength, extra); v != identity.OK {
		if v == identity.ValueTooLong && w.truncate && mc.nameLength <= w.labelLimits.MaxValueLength &&
			w.ids.FixedValuesFit(w.labelLimits.MaxValueLength) {
			remember = false
			truncateValues(attrs, w.labelLimits.MaxValueLength)
			s = w.ids.Series(attrs)
			h = MixHash(s.Hash, mc.nameHash, layout)
			v = s.Check(w.labelLimits, mc.nameLength, extra)
		}
		if v != identity.OK {
			w.refuse(labelReason(v), h, weight, mc, attrs)
			return false, nil
		}
	}
	if w.guard == nil {
		return true, nil
	}
	switch state, folded := w.guard.Seen(h, tick); state {
	case guard.Admitted:
		// An identity not known, of an admitted series: its second sighting, or another raw
		// form of the series' label set. From now on it is found by its identity alone.
		w.knownInRun++
		if remember {
			if !id.hasID {
				id.id = w.rawID(attrs, mc, layout)
			}
			w.guard.RememberIdentity(id.id, tick)
		}
		return true, nil
	case guard.Folded:
		w.counts.FoldedPoints[folded.Reason]++
		w.offenders.FoldedPoints++
		return false, folded
	}
	tenant := w.tenant(attrs, mc.resource)
	reason := w.guard.Admit(h, weight, mc.promName, tenant, tick)
	if reason == guard.ReasonNone {
		// The identity is remembered on its second sighting (above), as ordered_rw's encoder
		// caches a series: a series seen once is not re-keyed by its identity, so pure churn
		// (every point a new series) does not pay for it.
		return true, nil
	}
	if w.overflow && mc.foldable && reason != guard.ReasonMaxTrackedSeries {
		key := guard.OverflowKey{Metric: mc.promName, Tenant: tenant, Kind: mc.kind}
		folded, ok := w.guard.Fold(h, weight, reason, key, tick, w.now(), func(o *guard.Overflow) {
			m := mc.metric
			o.Name, o.Unit, o.Description = m.Name(), m.Unit(), m.Description()
			o.NonMonotonicSum = m.Type() == pmetric.MetricTypeSum && !m.Sum().IsMonotonic()
		})
		if ok {
			w.counts.FoldedPoints[reason]++
			w.counts.FoldedSeries[reason] += int64(weight)
			w.offenders.FoldedPoints++
			w.offenders.note(mc.promName, tenant, reason)
			return false, folded
		}
		reason = guard.ReasonMaxTrackedSeries
	}
	w.refuse(reason, h, weight, mc, attrs)
	return false, nil
}

func (w *Walker) refuse(reason guard.Reason, h uint64, weight int, mc *metricContext, attrs pcommon.Map) {
	w.counts.RefusedPoints[reason]++
	w.counts.RefusedSamples[reason] += int64(weight)
	if w.refused.First(h, w.refused.Tick(w.now())) {
		w.counts.RefusedSeries[reason] += int64(weight)
	}
	w.offenders.RefusedPoints++
	if len(w.offenders.Metrics) < maxLoggedNames || len(w.offenders.Tenants) < maxLoggedNames {
		w.offenders.note(mc.promName, w.tenant(attrs, mc.resource), reason)
	}
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
func (w *Walker) tenant(attrs pcommon.Map, res pcommon.Resource) string {
	if w.tenantAttr == "" {
		return ""
	}
	if v, ok := attrs.Get(w.tenantAttr); ok {
		return v.AsString()
	}
	if v, ok := res.Attributes().Get(w.tenantAttr); ok {
		return v.AsString()
	}
	return ""
}
