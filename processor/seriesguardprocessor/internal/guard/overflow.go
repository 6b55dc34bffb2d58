package guard // import "github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/guard"

import (
	"math"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Kind is how an overflow series combines the series it absorbs.
type Kind uint8

const (
	// KindGauge (gauges and non-monotonic sums): the overflow value is the sum of the latest
	// values of the folded series seen within the idle timeout. A folded series that expires leaves
	// the sum.
	KindGauge Kind = iota
	// KindCounter (cumulative monotonic sums): the overflow value only grows, by each folded
	// series' increase since its previous point; after a reset of a folded series its new value
	// is the increase. The first point of a folded series is its baseline and adds nothing, as
	// Prometheus' rate() ignores the first sample of a series. rate() over the overflow series is
	// therefore the sum of the rates of what it absorbed, and it never resets while the
	// processor runs.
	KindCounter
	// KindHistogram (cumulative explicit-bucket histograms): as KindCounter, for the count, the
	// sum and every bucket. The overflow series keeps the bucket bounds of the first series it
	// absorbed; a series with other bounds adds each bucket's increase to the first overflow
	// bucket whose bound is at or above that bucket's bound (a value is never reported below
	// its true bucket).
	KindHistogram
)

// OverflowKey identifies an overflow series: one per metric, tenant and kind.
type OverflowKey struct {
	Metric string // Prometheus base name
	Tenant string
	Kind   Kind
}

// Overflow accumulates the folded series of one metric (and tenant).
type Overflow struct {
	Key OverflowKey
	// Name, Unit and Description of the OTLP metric the first folded series belonged to: the
	// overflow metric is emitted under it so that it translates to the same Prometheus name.
	Name, Unit, Description string
	// NonMonotonicSum: a KindGauge overflow emitted as a cumulative non-monotonic sum.
	NonMonotonicSum bool
	// Start is the start time of the overflow series: when it was created.
	Start pcommon.Timestamp

	Value   float64
	Bounds  []float64
	Buckets []uint64
	Count   uint64
	Sum     float64

	members     int
	lastTouched uint32
	pending     bool
	pendingTime pcommon.Timestamp
	lastEmitted pcommon.Timestamp
}

// FoldedSeries is a series absorbed by an overflow series, remembered to fold its cumulative
// values correctly.
type FoldedSeries struct {
	lastSeen uint32
	weight   uint16
	overflow *Overflow

	primed  bool
	start   pcommon.Timestamp
	value   float64
	count   uint64
	sum     float64
	buckets []uint64
	mapping []int // source bucket -> overflow bucket
	// Reason is why the series was refused and folded.
	Reason Reason
}

// Overflow returns the overflow series the folded series feeds.
func (f *FoldedSeries) Overflow() *Overflow { return f.overflow }

// Fold starts folding a refused series into the overflow series of key, creating the latter
// with init when it does not exist. It returns false when max_tracked_series leaves no room.
func (g *Guard) Fold(hash uint64, weight int, reason Reason, key OverflowKey, now uint32, wallNow time.Time, init func(*Overflow)) (*FoldedSeries, bool) {
	weight = clampWeight(weight)
	if g.limits.MaxTracked > 0 && g.tracked+int64(weight) > int64(g.limits.MaxTracked) {
		return nil, false
	}
	o, ok := g.overflows[key]
	if !ok {
		key = OverflowKey{Metric: strings.Clone(key.Metric), Tenant: strings.Clone(key.Tenant), Kind: key.Kind}
		o = &Overflow{Key: key, Start: pcommon.NewTimestampFromTime(wallNow)}
		init(o)
		g.overflows[key] = o
	}
	f := &FoldedSeries{lastSeen: now, weight: uint16(weight), overflow: o, Reason: reason}
	o.members++
	g.folded[hash] = f
	g.tracked += int64(weight)
	return f, true
}

func (o *Overflow) touch(ts pcommon.Timestamp, now uint32, pending *[]*Overflow) {
	o.lastTouched = now
	if !o.pending {
		o.pending = true
		o.pendingTime = ts
		*pending = append(*pending, o)
	} else if ts > o.pendingTime {
		o.pendingTime = ts
	}
}

// forget removes an expired folded series: a gauge no longer counts its last value.
func (o *Overflow) forget(f *FoldedSeries) {
	o.members--
	if o.Key.Kind == KindGauge && f.primed {
		o.Value -= f.value
	}
}

// FoldNumber folds a number point (gauge or sum) of a folded series.
func (g *Guard) FoldNumber(f *FoldedSeries, start, ts pcommon.Timestamp, v float64, now uint32) {
	o := f.overflow
	if math.IsNaN(v) {
		return // a staleness marker or a missing value: nothing to add
	}
	switch o.Key.Kind {
	case KindGauge:
		if f.primed {
			o.Value += v - f.value
		} else {
			o.Value += v
		}
	case KindCounter:
		if f.primed {
			if v < f.value || (start != 0 && f.start != 0 && start != f.start) {
				o.Value += v // the folded series reset: all of its new value is increase
			} else {
				o.Value += v - f.value
			}
		}
	}
	f.value, f.start, f.primed = v, start, true
	o.touch(ts, now, &g.pending)
}

// FoldHistogram folds a cumulative histogram point of a folded series.
func (g *Guard) FoldHistogram(f *FoldedSeries, start, ts pcommon.Timestamp, bounds pcommon.Float64Slice, counts pcommon.UInt64Slice, count uint64, sum float64, now uint32) {
	o := f.overflow
	if o.Bounds == nil {
		o.Bounds = bounds.AsRaw()
		if o.Bounds == nil {
			o.Bounds = []float64{}
		}
		o.Buckets = make([]uint64, len(o.Bounds)+1)
	}
	if f.mapping == nil {
		f.mapping = make([]int, counts.Len())
		for i := range f.mapping {
			if i < bounds.Len() {
				f.mapping[i] = sort.SearchFloat64s(o.Bounds, bounds.At(i))
			} else {
				f.mapping[i] = len(o.Bounds)
			}
		}
	}
	if f.primed {
		reset := count < f.count || (start != 0 && f.start != 0 && start != f.start)
		for i := 0; i < counts.Len() && i < len(f.mapping); i++ {
			c := counts.At(i)
			switch {
			case reset:
				o.Buckets[f.mapping[i]] += c
			case i < len(f.buckets) && c >= f.buckets[i]:
				o.Buckets[f.mapping[i]] += c - f.buckets[i]
			}
		}
		if reset {
			o.Count += count
			o.Sum += sum
		} else {
			o.Count += count - f.count
			o.Sum += sum - f.sum
		}
	}
	f.buckets = append(f.buckets[:0], counts.AsRaw()...)
	f.count, f.sum, f.start, f.primed = count, sum, start, true
	o.touch(ts, now, &g.pending)
}

// TakePending returns the overflow series touched since the last call, each with the timestamp
// to emit it at: the newest timestamp folded into it, never at or before the previous emission
// (Prometheus rejects a second, different sample at the same timestamp).
func (g *Guard) TakePending(fn func(o *Overflow, ts pcommon.Timestamp)) {
	for _, o := range g.pending {
		ts := o.pendingTime
		if o.lastEmitted != 0 && ts <= o.lastEmitted {
			ts = o.lastEmitted + pcommon.Timestamp(time.Millisecond)
		}
		o.lastEmitted = ts
		o.pending = false
		fn(o, ts)
	}
	g.pending = g.pending[:0]
}
