// Package encode turns pmetric.Metrics into the series ordered_rw's engine takes, without
// contrib's translator on the hot path: the labels of each series are built once, by the
// translator's rules over its public namers, encoded as remote write carries them (the block
// every later stage keeps and requests append, sample.Labels), cached by a hash of the series'
// identity (see identity.go), and reused by every later push, so that a sample costs hashing its
// identity, a table lookup and appending its timestamp and value. Cached series not seen for the
// idle timeout are swept; the cache is bounded.
//
// The cached series' label blocks are not on the Go heap: they are bump-allocated in chunks of
// anonymous memory (arena.go, internal/offheap), so that they cost their size in resident memory
// rather than twice it (the heap's GC headroom), and so that the identities table holds no Go
// pointer and is mapped outside the heap too (internal/seriestable). At 200k series that was
// 23.5 MB of label blocks and 5.4 MB of table on the heap. The garbage collector no longer gives
// a block its lifetime; sample.Epochs does: a chunk whose blocks no cached series has any more is
// retired, and unmapped only once no push's output, no batch or release made of one (pinned), and
// no hold-back series (scanned) can read it. Memory is never reused in place. A block read after
// its chunk was unmapped would fault; one in a chunk mapped again at the same address would be
// another series' labels, silently: arena.go's reclaim says why neither happens, and the tests
// of arena_test.go and ordering's labels_test.go fail if a chunk is unmapped an epoch early.
// Series seen once, beyond the cache's bound, or translated by the fallback and not cached, keep
// heap blocks (sample.NewLabels), as their output is all that refers to them.
//
// What the encoder does not do itself (exponential histograms, NHCB conversion, the rare label
// sets only the translator's map order decides) goes to the translator
// (prometheusremotewrite.FromMetrics), one metric at a time, counted by reason. The translator
// is also the reference: encode_test.go requires identical series from both.
package encode

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	prometheustranslator "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheus"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheusremotewrite"
	"github.com/prometheus/otlptranslator"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/internal/seriestable"
)

// Settings are the translator's settings, plus the stamp and the cache's bounds.
type Settings struct {
	// Translator is what the upstream translator is given; also the fallback's settings.
	// Its ExternalLabels must be sanitised already (as upstream's exporter does) and must not
	// contain the stamp.
	Translator prometheusremotewrite.Settings
	// StampLabel, if set, is set to StampValue on every series, over any label of that name.
	StampLabel, StampValue string
	// IdleTimeout is how long a cached series is kept after it was last seen.
	IdleTimeout time.Duration
	// MaxSeries bounds the cached series; beyond it, new series are encoded without caching.
	MaxSeries int
}

// Reason is why a metric was sent to the translator.
type Reason int

// The reasons, indexes of Result.Fallback.
const (
	ReasonExponentialHistogram Reason = iota
	ReasonNHCB
	ReasonReservedLabel
	numReasons
)

// String is the reason's telemetry attribute value.
func (r Reason) String() string {
	switch r {
	case ReasonExponentialHistogram:
		return "exponential_histogram"
	case ReasonNHCB:
		return "nhcb"
	case ReasonReservedLabel:
		return "reserved_label"
	}
	return "unknown"
}

// Result is what one Encode made.
type Result struct {
	Series []sample.Series
	// Fallback counts the data points of the metrics the translator encoded, by Reason.
	Fallback [numReasons]int
	// Exemplars is true if the translator would have attached exemplars to some series.
	Exemplars bool
	// Err is what the translator would have reported: metrics or points not encoded.
	Err error
}

// Encoder encodes pushes; it is safe for concurrent use (one push at a time).
type Encoder struct {
	set             Settings
	fallbackSet     prometheusremotewrite.Settings
	metricNamer     otlptranslator.MetricNamer
	labelNamer      otlptranslator.LabelNamer
	external        []prompb.Label
	keepIdentifying bool
	idleSeconds     uint32

	mu sync.Mutex
	// identities holds an entry per cached identity hash: the series' labels, or a link to the
	// entry that has them when another identity came first with the same label set. byLabels
	// finds the entry that has a label set by the hash of its labels, so that the identities of
	// one label set share one series; it is used to add and sweep series only. A sample of a
	// cached series reads one slot (two for a linked identity).
	identities *seriestable.Table[entry]
	byLabels   seriestable.Index
	// seen holds the identities seen once, with when: a series is cached when seen again
	// within the idle timeout, so that series seen once (churn) cost 16 bytes here and no
	// labels kept, their labels built as the translator builds them, for one push.
	seen      *seriestable.Table[uint32]
	names     map[nameKey]string
	start     time.Time
	now       uint32 // seconds since start, of the current push
	lastSweep uint32
	builder   labelBuilder
	buf       []byte
	ids       []uint64 // numbers' identities of a run of points
	// disordered counts the lookups of the current run of points (numbers) that did not find
	// their series in the slot after the previous one's: many, and the next run is prefetched.
	disordered int

	// labels are the cached series' label blocks, outside the Go heap; epochs say when a chunk
	// of them may be unmapped.
	labels arena
	epochs *sample.Epochs

	// The current push's output, from outputs, which also keep the epoch of each output lent.
	out     []sample.Series
	points  []sample.Point
	outputs outputs
	errs    []error
	// uncached finds the series of this push that are not cached (the cache is full) by the
	// hash of their labels, to merge them as cached series are.
	uncached map[uint64]int32
}

// entry is a cached identity (its key in the table is the identity's hash) and its series: a
// 40-byte slot with the key. A series added by the fallback, which has no identity, is keyed by
// its labels' hash. It holds no Go pointer (its labels are a block of the arena, outside the
// heap), so that the table's chunks are mapped outside the heap too (internal/offheap).
type entry struct {
	// hash (sample.HashLabels) and labels are the series': empty in a link.
	hash   uint64
	labels block
	// lastSeen is when the entry's identity (or, for the entry that has the labels, any of the
	// series' identities) was last seen: a series outlives the links to it.
	lastSeen uint32
	// index, 0 or more, is where the series was last started in a push's output: it is this
	// push's series when out[index] has the series' hash (see appendPoint), so that no push
	// number is kept. Below 0, the entry is a link to the slot ^index, which has the labels.
	index int32
}

// linked says whether the entry is a link, and to which slot.
func (v *entry) linked() (uint32, bool) { return uint32(^v.index), v.index < 0 }

type nameKey struct {
	name, unit string
	typ        otlptranslator.MetricType
}

// prefetchRun is the points whose table reads are started together: their index entries and
// slots stay in the caches until their lookups (series_guard's walk looks ahead as far).
const prefetchRun = 256

// keepSeen is the slots of the table of series seen once that it keeps when it empties: a few
// tens of kilobytes, which a trickle of new series would otherwise allocate again and again.
const keepSeen = 4096

// maxNames bounds the cache of translated metric names; it is emptied when full.
const maxNames = 10_000

// New returns an encoder.
func New(set Settings) *Encoder {
	metricNamer, labelNamer := Namers(set.Translator)
	e := &Encoder{
		set:             set,
		fallbackSet:     set.Translator,
		metricNamer:     metricNamer,
		labelNamer:      labelNamer,
		keepIdentifying: prometheustranslator.KeepIdentifyingResourceAttributesGate.IsEnabled(),
		idleSeconds:     uint32(max(set.IdleTimeout/time.Second, 1)),
		identities:      seriestable.New[entry](),
		seen:            seriestable.New[uint32](),
		names:           map[nameKey]string{},
		start:           time.Now(),
	}
	// target_info is the encoder's: the fallback encodes one metric at a time.
	e.fallbackSet.DisableTargetInfo = true
	for name, v := range set.Translator.ExternalLabels {
		e.external = append(e.external, prompb.Label{Name: name, Value: v})
	}
	slices.SortFunc(e.external, func(x, y prompb.Label) int { return strings.Compare(x.Name, y.Name) })
	e.epochs = sample.NewEpochs(e)
	e.labels = newArena(e.epochs)
	e.byLabels = seriestable.NewIndex(func(i uint32) uint64 { return e.identities.Slot(i).hash })
	e.builder.enc = e
	return e
}

// CachedSeries is the number of label sets cached.
func (e *Encoder) CachedSeries() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.byLabels.Len()
}

// LabelMemory is what the cached series' label blocks take outside the Go heap.
type LabelMemory struct {
	// Mapped is the bytes of the chunks mapped: in use, and retired but not yet unmapped.
	Mapped int
	// Retired is the chunks that wait until nothing refers to them.
	Retired int
	// Unmapped is the chunks unmapped since the encoder was made.
	Unmapped int
}

// LabelMemory tells what the cached series' label blocks take.
func (e *Encoder) LabelMemory() LabelMemory {
	e.mu.Lock()
	defer e.mu.Unlock()
	live, retired := e.labels.bytes()
	return LabelMemory{Mapped: live + retired, Retired: len(e.labels.retired), Unmapped: e.labels.unmapped}
}

// Epochs are the encoder's: whatever keeps the label blocks of its outputs past the push
// (ordering.Engine's batches and releases) pins them, and the hold-back registers its scan.
func (e *Encoder) Epochs() *sample.Epochs { return e.epochs }

// Recycle tells that the caller is done with series, which Encode returned: their arrays are
// reused by the next pushes, and their label blocks may be unmapped once nothing pinned after
// them refers to them. Nothing may refer to them afterwards but through a pin (ordering.Engine.Push
// keeps nothing of them once it returns, but its batches and hold-back, see sample.Epochs).
// A caller that never recycles an output leaks: no label block is unmapped after it.
func (e *Encoder) Recycle(series []sample.Series) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if epoch, ok := e.outputs.recycle(series); ok {
		e.epochs.End(epoch)
	}
}

// Encode turns md into series, at now (which drives the cache's idle sweep). Once done with
// them, the caller may Recycle them. The labels of cached series are in the encoder's arena,
// outside the Go heap: whatever reads them must keep the encoder reachable (an engine given
// Epochs does) until it is done, or the arena's cleanup unmaps them under it.
func (e *Encoder) Encode(md pmetric.Metrics, now time.Time) Result {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.labels.epoch = e.epochs.Begin()
	e.now = uint32(max(now.Sub(e.start)/time.Second, 0))
	if e.now-e.lastSweep >= max(e.idleSeconds/4, 1) {
		e.sweep()
	}
	e.labels.reclaim(e.now)
	out := e.outputs.get(countSeries(md))
	e.out, e.points = out.series, out.points
	var res Result
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		e.encodeResource(rms.At(i), &res)
	}
	if out := (output{series: e.out, points: e.points}); len(out.series) > 0 {
		e.outputs.lend(out, e.labels.epoch)
	} else {
		e.outputs.keep(out)          // its series are not pushed: reused at once
		e.epochs.End(e.labels.epoch) // nothing to refer to its blocks
	}
	res.Series, e.out, e.points = e.out, nil, nil
	clear(e.uncached)
	res.Err, e.errs = errors.Join(e.errs...), e.errs[:0]
	return res
}

func (e *Encoder) sweep() {
	e.lastSweep = e.now
	idle := func(lastSeen uint32) bool { return e.now-lastSeen > e.idleSeconds }
	e.seen.Sweep(func(v *uint32) bool { return idle(*v) })
	// An entry with labels is seen whenever a link to it is, so it is never swept before them:
	// no link is left to a freed slot.
	e.identities.Sweep(func(v *entry) bool {
		if !idle(v.lastSeen) {
			return false
		}
		if _, linked := v.linked(); !linked {
			e.byLabels.Remove(v.hash)
			e.labels.drop(v.labels)
		}
		return true
	})
	e.byLabels.Shrink(e.identities.Slots())
}

// countSeries is about how many series md makes, to size the output once.
func countSeries(md pmetric.Metrics) int {
	n := 0
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		n++ // target_info
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					n += m.Gauge().DataPoints().Len()
				case pmetric.MetricTypeSum:
					n += m.Sum().DataPoints().Len()
				case pmetric.MetricTypeHistogram:
					dps := m.Histogram().DataPoints()
					for x := 0; x < dps.Len(); x++ {
						n += 3 + dps.At(x).ExplicitBounds().Len()
					}
				case pmetric.MetricTypeSummary:
					dps := m.Summary().DataPoints()
					for x := 0; x < dps.Len(); x++ {
						n += 2 + dps.At(x).QuantileValues().Len()
					}
				case pmetric.MetricTypeExponentialHistogram:
					n += m.ExponentialHistogram().DataPoints().Len()
				}
			}
		}
	}
	return n
}

// resourceState is what the metrics of one resource share.
type resourceState struct {
	rm       pmetric.ResourceMetrics
	attrs    pcommon.Map
	hash     uint64
	newest   pcommon.Timestamp
	scope    pmetric.ScopeMetrics
	scopeKey uint64
}

func (e *Encoder) encodeResource(rm pmetric.ResourceMetrics, res *Result) {
	r := resourceState{rm: rm, attrs: rm.Resource().Attributes()}
	r.hash = resourceHash(e.buf, r.attrs)
	sms := rm.ScopeMetrics()
	for j := 0; j < sms.Len(); j++ {
		r.scope = sms.At(j)
		r.scopeKey = scopeHash(e.buf, r.scope.Scope(), e.set.Translator.DisableScopeInfo)
		ms := r.scope.Metrics()
		for k := 0; k < ms.Len(); k++ {
			m := ms.At(k)
			r.newest = max(r.newest, newestTimestamp(m))
			e.encodeMetric(&r, m, res)
		}
	}
	if !e.set.Translator.DisableTargetInfo && r.newest != 0 {
		e.targetInfo(&r)
	}
}

// Namers are the translator's metric and label namers for its settings (contrib v0.165.1,
// getTranslationConfiguration and newPrometheusConverter): the translation strategy decides
// suffixes and UTF-8, the deprecated add_metric_suffixes only when no strategy is set.
func Namers(t prometheusremotewrite.Settings) (otlptranslator.MetricNamer, otlptranslator.LabelNamer) {
	withSuffixes, utf8 := t.AddMetricSuffixes, false //nolint:staticcheck // the translator's own setting
	switch t.TranslationStrategy {
	case "UnderscoreEscapingWithSuffixes":
		withSuffixes, utf8 = true, false
	case "UnderscoreEscapingWithoutSuffixes":
		withSuffixes, utf8 = false, false
	case "NoUTF8EscapingWithSuffixes":
		withSuffixes, utf8 = true, true
	case "NoTranslation":
		withSuffixes, utf8 = false, true
	}
	return otlptranslator.MetricNamer{WithMetricSuffixes: withSuffixes, Namespace: t.Namespace, UTF8Allowed: utf8},
		otlptranslator.LabelNamer{PreserveMultipleUnderscores: true, UTF8Allowed: utf8}
}

// MetricNamer is the namer the encoder names metrics with.
func (e *Encoder) MetricNamer() otlptranslator.MetricNamer { return e.metricNamer }

func (e *Encoder) fail(err error) { e.errs = append(e.errs, err) }

func (e *Encoder) encodeMetric(r *resourceState, m pmetric.Metric, res *Result) {
	if !ValidTemporality(m) {
		e.fail(fmt.Errorf("invalid temporality and type combination for metric %q", m.Name()))
		return
	}
	kind, typ := kindGauge, otlptranslator.MetricType(otlptranslator.MetricTypeGauge)
	switch m.Type() {
	case pmetric.MetricTypeSum:
		if m.Sum().IsMonotonic() {
			kind, typ = kindCounter, otlptranslator.MetricTypeMonotonicCounter
		} else {
			typ = otlptranslator.MetricTypeNonMonotonicCounter
		}
	case pmetric.MetricTypeHistogram:
		kind, typ = kindHistogram, otlptranslator.MetricTypeHistogram
	case pmetric.MetricTypeSummary:
		kind, typ = kindSummary, otlptranslator.MetricTypeSummary
	case pmetric.MetricTypeExponentialHistogram:
		typ = otlptranslator.MetricTypeExponentialHistogram
	}
	promName, err := e.metricName(m, typ)
	if err != nil {
		e.fail(err)
		return
	}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		e.numbers(r, m, m.Gauge().DataPoints(), kind, promName, res)
	case pmetric.MetricTypeSum:
		e.numbers(r, m, m.Sum().DataPoints(), kind, promName, res)
	case pmetric.MetricTypeHistogram:
		dps := m.Histogram().DataPoints()
		switch {
		case dps.Len() == 0:
			e.fail(fmt.Errorf("empty data points. %s is dropped", m.Name()))
		case e.set.Translator.ConvertExplicitHistogramsToNHCB:
			e.fallback(r, m, dps.Len(), ReasonNHCB, res)
		default:
			e.histogram(r, m, dps, promName, res)
		}
	case pmetric.MetricTypeSummary:
		dps := m.Summary().DataPoints()
		if dps.Len() == 0 {
			e.fail(fmt.Errorf("empty data points. %s is dropped", m.Name()))
			return
		}
		e.summary(r, m, dps, promName, res)
	case pmetric.MetricTypeExponentialHistogram:
		if n := m.ExponentialHistogram().DataPoints().Len(); n == 0 {
			e.fail(fmt.Errorf("empty data points. %s is dropped", m.Name()))
		} else {
			e.fallback(r, m, n, ReasonExponentialHistogram, res)
		}
	default:
		e.fail(errors.New("unsupported metric type"))
	}
}

// metricName is the translator's name for m, from a small cache: building it allocates.
func (e *Encoder) metricName(m pmetric.Metric, typ otlptranslator.MetricType) (string, error) {
	key := nameKey{name: m.Name(), unit: m.Unit(), typ: typ}
	if name, ok := e.names[key]; ok {
		return name, nil
	}
	name, err := e.metricNamer.Build(otlptranslator.Metric{Name: key.name, Unit: key.unit, Type: typ})
	if err != nil {
		return "", err
	}
	if len(e.names) >= maxNames {
		clear(e.names)
	}
	name = strings.Clone(name)
	e.names[nameKey{name: strings.Clone(key.name), unit: strings.Clone(key.unit), typ: typ}] = name
	return name, nil
}

// timestampMillis is the translator's conversion (convertTimeStamp): nanoseconds as a signed
// count, divided.
func timestampMillis(ts pcommon.Timestamp) int64 { return int64(ts) / int64(time.Millisecond) }

var staleNaN = math.Float64frombits(value.StaleNaN)

func (e *Encoder) numbers(r *resourceState, m pmetric.Metric, dps pmetric.NumberDataPointSlice, kind byte, promName string, res *Result) {
	if dps.Len() == 0 {
		e.fail(fmt.Errorf("empty data points. %s is dropped", m.Name()))
		return
	}
	mh := metricHash(e.buf, r.hash, r.scopeKey, kind, promName)
	prev := seriestable.NoSlot
	prefetch := false
	for x := 0; x < dps.Len(); x++ {
		// Out of the order in which they were cached, the identities of a run of points are
		// hashed first and their table reads started together, so that their cache misses
		// overlap. In that order (most runs) a lookup reads the slot after the last one, which
		// the CPU has on its way: the run is looked up as it comes.
		if x%prefetchRun == 0 {
			prefetch, e.disordered = e.disordered > prefetchRun/16, 0
			if prefetch {
				e.ids = e.ids[:0]
				for y := x; y < min(x+prefetchRun, dps.Len()); y++ {
					e.ids = append(e.ids, pointHash(mh, dps.At(y).Attributes()))
				}
				e.identities.Prefetch(prev, e.ids)
			}
		}
		pt := dps.At(x)
		var id uint64
		if prefetch {
			id = e.ids[x%prefetchRun]
		} else {
			id = pointHash(mh, pt.Attributes())
		}
		slot, ok := e.lookup(&prev, id)
		if !ok {
			if err := e.builder.base(r.attrs, pt.Attributes(), r.scope.Scope(), false); err != nil {
				e.fail(err)
				continue
			}
			slot = e.add(&prev, id, e.builder.finish(len(e.builder.labels), nameLabel, promName))
		}
		v := 0.0
		switch pt.ValueType() {
		case pmetric.NumberDataPointValueTypeInt:
			v = float64(pt.IntValue())
		case pmetric.NumberDataPointValueTypeDouble:
			v = pt.DoubleValue()
		}
		if pt.Flags().NoRecordedValue() {
			v = staleNaN
		}
		e.appendPoint(slot, sample.Point{T: timestampMillis(pt.Timestamp()), V: v})
		if kind == kindCounter && pt.Exemplars().Len() > 0 {
			res.Exemplars = true
		}
	}
}

// slotRef is the slot of a series' labels, or an uncached series (seen once, or the cache was
// full) when uncached is set: its labels and their hash.
type slotRef struct {
	slot     uint32
	uncached bool
	set      labelSet
}

// lookup finds the series of identity id; prev is the slot of the identity before it.
func (e *Encoder) lookup(prev *uint32, id uint64) (slotRef, bool) {
	i, ok := e.identities.Lookup(*prev, id)
	if !ok {
		return slotRef{}, false
	}
	if i != *prev+1 {
		e.disordered++
	}
	*prev = i
	ident := e.identities.Slot(i)
	if to, linked := ident.linked(); linked {
		ident.lastSeen = e.now
		i = to
	}
	return slotRef{slot: i}, true
}

// add caches set as the series of identity id, or returns it uncached if the identity is seen
// for the first time or the cache is full.
func (e *Encoder) add(prev *uint32, id uint64, set labelSet) slotRef {
	cached, ok := e.byLabels.Lookup(set.hash)
	if !e.admit(id) || e.identities.Len() >= e.set.MaxSeries {
		if ok {
			return slotRef{slot: cached}
		}
		return slotRef{uncached: true, set: set}
	}
	i, _ := e.identities.Find(*prev, id)
	*prev = i
	if ok {
		// Another identity of this label set came first: a link to its entry.
		*e.identities.Slot(i) = entry{labels: block{chunk: noChunk}, lastSeen: e.now, index: ^int32(cached)}
		return slotRef{slot: cached}
	}
	e.cache(i, set)
	return slotRef{slot: i}
}

// cache sets slot i, just added, to the series of set, which no entry has.
func (e *Encoder) cache(i uint32, set labelSet) {
	v := entry{labels: e.labels.add(set.labels), hash: set.hash, lastSeen: e.now}
	if index, ok := e.uncached[set.hash]; ok {
		// Already in this push's output, uncached: the points of both go there.
		v.index = index
	}
	*e.identities.Slot(i) = v
	e.byLabels.Insert(set.hash, i, e.identities.Slots())
}

// admit says whether to cache the series of identity id: on its second sighting (or when the
// table of first sightings is full).
func (e *Encoder) admit(id uint64) bool {
	if i, ok := e.seen.Lookup(seriestable.NoSlot, id); ok {
		e.seen.Remove(i)
		if e.seen.Len() == 0 && e.seen.Slots() > keepSeen {
			// Every series seen once was seen again (a steady state): the table's peak memory
			// (26 bytes per series that passed through it) goes back now, not at the next
			// sweep, a quarter of the idle timeout away.
			e.seen.Release()
		}
		return true
	}
	if e.seen.Len() >= e.set.MaxSeries {
		return true
	}
	i, _ := e.seen.Find(seriestable.NoSlot, id)
	*e.seen.Slot(i) = e.now
	return false
}

// seriesOf returns the cached series of set (a series of the fallback, which has no identity),
// adding it, keyed by its labels' hash, if the cache has room; else set uncached.
func (e *Encoder) seriesOf(set labelSet) slotRef {
	if i, ok := e.byLabels.Lookup(set.hash); ok {
		return slotRef{slot: i}
	}
	if e.identities.Len() >= e.set.MaxSeries {
		return slotRef{uncached: true, set: set}
	}
	i, added := e.identities.Find(seriestable.NoSlot, set.hash)
	if !added {
		// An identity whose hash is this labels' hash: a 64-bit collision, left uncached.
		return slotRef{uncached: true, set: set}
	}
	e.cache(i, set)
	return slotRef{slot: i}
}

// appendPoint appends p to its series in this push's output, which it starts if the series has
// none yet (a series of several points in one push: colliding names, or several pushes' worth).
func (e *Encoder) appendPoint(ref slotRef, p sample.Point) {
	if ref.uncached {
		hash := ref.set.hash
		if i, ok := e.uncached[hash]; ok {
			ser := &e.out[i]
			ser.Points = append(ser.Points[:len(ser.Points):len(ser.Points)], p)
			return
		}
		if e.uncached == nil {
			e.uncached = map[uint64]int32{}
		}
		e.uncached[hash] = int32(len(e.out))
		e.startSeries(hash, ref.set.labels, p)
		return
	}
	s := e.identities.Slot(ref.slot)
	s.lastSeen = e.now
	// The series of one push's output have distinct hashes (byLabels and uncached keep one
	// series per hash), so the hash decides.
	if i := int(s.index); i < len(e.out) && e.out[i].Hash == s.hash {
		ser := &e.out[i]
		ser.Points = append(ser.Points[:len(ser.Points):len(ser.Points)], p)
		return
	}
	s.index = int32(len(e.out))
	e.startSeries(s.hash, e.labels.use(&s.labels), p)
}

func (e *Encoder) startSeries(hash uint64, labels sample.Labels, p sample.Point) {
	first := len(e.points)
	e.points = append(e.points, p)
	e.out = append(e.out, sample.Series{Hash: hash, Labels: labels, Points: e.points[first : first+1 : first+1]})
}

func (e *Encoder) histogram(r *resourceState, m pmetric.Metric, dps pmetric.HistogramDataPointSlice, promName string, res *Result) {
	mh := metricHash(e.buf, r.hash, r.scopeKey, kindHistogram, promName)
	if e.reservedLabel(r, mh, dps.Len(), func(i int) pcommon.Map { return dps.At(i).Attributes() }, leLabel) {
		e.fallback(r, m, dps.Len(), ReasonReservedLabel, res)
		return
	}
	sumName, countName, bucket := promName+"_sum", promName+"_count", promName+"_bucket"
	prev := seriestable.NoSlot
	for x := 0; x < dps.Len(); x++ {
		pt := dps.At(x)
		var id uint64
		id = pointHash(mh, pt.Attributes())
		p := point{enc: e, r: r, attrs: pt.Attributes(), prev: &prev, id: id, t: timestampMillis(pt.Timestamp()), stale: pt.Flags().NoRecordedValue()}
		if pt.HasSum() {
			if !p.emit(subSum, 0, pt.Sum(), sumName) {
				continue
			}
		}
		if !p.emit(subCount, 0, float64(pt.Count()), countName) {
			continue
		}
		var cumulative uint64
		bounds, counts := pt.ExplicitBounds(), pt.BucketCounts()
		for i := 0; i < bounds.Len() && i < counts.Len(); i++ {
			bound := bounds.At(i)
			cumulative += counts.At(i)
			p.emit(subBucket, bound, float64(cumulative), bucket, leLabel, strconv.FormatFloat(bound, 'f', -1, 64))
		}
		p.emit(subInf, 0, float64(pt.Count()), bucket, leLabel, "+Inf")
		if pt.Exemplars().Len() > 0 {
			res.Exemplars = true
		}
	}
}

func (e *Encoder) summary(r *resourceState, m pmetric.Metric, dps pmetric.SummaryDataPointSlice, promName string, res *Result) {
	mh := metricHash(e.buf, r.hash, r.scopeKey, kindSummary, promName)
	if e.reservedLabel(r, mh, dps.Len(), func(i int) pcommon.Map { return dps.At(i).Attributes() }, quantileLabel) {
		e.fallback(r, m, dps.Len(), ReasonReservedLabel, res)
		return
	}
	sumName, countName := promName+"_sum", promName+"_count"
	prev := seriestable.NoSlot
	for x := 0; x < dps.Len(); x++ {
		pt := dps.At(x)
		var id uint64
		id = pointHash(mh, pt.Attributes())
		p := point{enc: e, r: r, attrs: pt.Attributes(), prev: &prev, id: id, t: timestampMillis(pt.Timestamp()), stale: pt.Flags().NoRecordedValue()}
		if !p.emit(subSum, 0, pt.Sum(), sumName) {
			continue
		}
		p.emit(subCount, 0, float64(pt.Count()), countName)
		qs := pt.QuantileValues()
		for i := 0; i < qs.Len(); i++ {
			q := qs.At(i)
			p.emit(subQuantile, q.Quantile(), q.Value(), promName, quantileLabel, strconv.FormatFloat(q.Quantile(), 'f', -1, 64))
		}
	}
}

// reservedLabel is a first pass over the n points of a histogram or summary (attrs gives a
// point's attributes), so that a metric the translator must encode is found before any of its
// series is: a new point whose attributes give label (le, quantile) or __name__.
func (e *Encoder) reservedLabel(r *resourceState, mh uint64, n int, attrs func(int) pcommon.Map, label string) bool {
	for x := 0; x < n; x++ {
		var id uint64
		id = pointHash(mh, attrs(x))
		if _, ok := e.identities.Lookup(seriestable.NoSlot, subHash(id, subCount, 0)); ok {
			continue
		}
		if e.builder.base(r.attrs, attrs(x), r.scope.Scope(), false) == nil && e.builder.checkAppendable(label) != nil {
			return true
		}
	}
	return false
}

// point emits the series of one histogram or summary point.
type point struct {
	enc   *Encoder
	r     *resourceState
	attrs pcommon.Map
	prev  *uint32
	id    uint64
	t     int64
	stale bool
	base  int // labels of the base in enc.builder, -1 until built
	built bool
}

// emit appends one sample of the point's series sub (with bound); on a miss its labels are the
// base, then the extra label if any, then __name__ = name. false: the point's labels could not be
// built (the translator drops the point).
func (p *point) emit(sub byte, bound, v float64, name string, extra ...string) bool {
	e := p.enc
	id := subHash(p.id, sub, bound)
	ref, ok := e.lookup(p.prev, id)
	if !ok {
		if !p.built {
			if err := e.builder.base(p.r.attrs, p.attrs, p.r.scope.Scope(), false); err != nil {
				e.fail(err)
				return false
			}
			p.base, p.built = len(e.builder.labels), true
		}
		ref = e.add(p.prev, id, e.builder.finish(p.base, append(extra, nameLabel, name)...))
	}
	if p.stale {
		v = staleNaN
	}
	e.appendPoint(ref, sample.Point{T: p.t, V: v})
	return true
}

// targetInfo emits the resource's target_info series, as the translator does
// (addResourceTargetInfo): at the newest timestamp of the resource's points.
func (e *Encoder) targetInfo(r *resourceState) {
	ignore := !e.keepIdentifying
	if ignore {
		others := r.attrs.Len()
		for _, k := range [...]string{serviceNamespace, serviceName, serviceInstanceID} {
			if _, ok := r.attrs.Get(k); ok {
				others--
			}
		}
		if others == 0 {
			return
		}
	}
	var attrsID uint64
	attrsID, e.buf = attributesHash(e.buf, r.attrs)
	id := subHash(attrsID, kindTargetInfo, 0)
	prev := seriestable.NoSlot
	ref, ok := e.lookup(&prev, id)
	if !ok {
		if err := e.builder.base(r.attrs, r.attrs, pcommon.NewInstrumentationScope(), ignore); err != nil {
			e.fail(err)
			return
		}
		name := otlptranslator.TargetInfoMetricName
		if ns := e.set.Translator.Namespace; ns != "" {
			name = ns + "_" + name
		}
		e.builder.set(nameLabel, name)
		_, job := e.builder.get(jobLabel)
		_, instance := e.builder.get(instanceLabel)
		// ordered_rw gives the translator the stamp as an external label: it counts here.
		if stamp := e.set.StampLabel; !job && !instance && stamp != jobLabel && stamp != instanceLabel {
			return
		}
		ref = e.add(&prev, id, e.builder.finish(len(e.builder.labels)))
	}
	e.appendPoint(ref, sample.Point{T: timestampMillis(r.newest), V: 1})
}

// fallback encodes m with the translator, alone in a copy of its resource and scope, and adds its
// series to the output (merged with the encoder's series of the same labels).
func (e *Encoder) fallback(r *resourceState, m pmetric.Metric, points int, reason Reason, res *Result) {
	res.Fallback[reason] += points
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	r.rm.Resource().CopyTo(rm.Resource())
	rm.SetSchemaUrl(r.rm.SchemaUrl())
	sm := rm.ScopeMetrics().AppendEmpty()
	r.scope.Scope().CopyTo(sm.Scope())
	sm.SetSchemaUrl(r.scope.SchemaUrl())
	m.CopyTo(sm.Metrics().AppendEmpty())
	tss, err := prometheusremotewrite.FromMetrics(md, e.fallbackSet)
	if err != nil {
		e.fail(err)
	}
	// The translator's map has no order; its keys are the series' order.
	for i := range len(tss) {
		ts := tss[strconv.Itoa(i)]
		if ts == nil {
			continue
		}
		if len(ts.Exemplars) > 0 {
			res.Exemplars = true
		}
		labels := ts.Labels
		if e.set.StampLabel != "" {
			labels = sample.SetLabel(labels, e.set.StampLabel, e.set.StampValue)
		}
		ref := e.seriesOf(e.labelSet(labels))
		for _, s := range ts.Samples {
			e.appendPoint(ref, sample.Point{T: s.Timestamp, V: s.Value})
		}
		for j := range ts.Histograms {
			e.appendPoint(ref, sample.Point{T: ts.Histograms[j].Timestamp, H: &ts.Histograms[j]})
		}
	}
}

// ValidTemporality is the translator's isValidAggregationTemporality: remote write carries
// cumulative sums and histograms only.
func ValidTemporality(m pmetric.Metric) bool {
	switch m.Type() {
	case pmetric.MetricTypeGauge, pmetric.MetricTypeSummary:
		return true
	case pmetric.MetricTypeSum:
		return m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
	case pmetric.MetricTypeHistogram:
		return m.Histogram().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
	}
	return false
}

// newestTimestamp is the newest timestamp of m's points (target_info's timestamp).
func newestTimestamp(m pmetric.Metric) pcommon.Timestamp {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return newestOf(m.Gauge().DataPoints())
	case pmetric.MetricTypeSum:
		return newestOf(m.Sum().DataPoints())
	case pmetric.MetricTypeHistogram:
		return newestOf(m.Histogram().DataPoints())
	case pmetric.MetricTypeExponentialHistogram:
		return newestOf(m.ExponentialHistogram().DataPoints())
	case pmetric.MetricTypeSummary:
		return newestOf(m.Summary().DataPoints())
	}
	return 0
}

// newestOf is the newest timestamp of one kind of data point slice.
func newestOf[P interface{ Timestamp() pcommon.Timestamp }](dps interface {
	Len() int
	At(int) P
}) pcommon.Timestamp {
	var ts pcommon.Timestamp
	for x := 0; x < dps.Len(); x++ {
		ts = max(ts, dps.At(x).Timestamp())
	}
	return ts
}
