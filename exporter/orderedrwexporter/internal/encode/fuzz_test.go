package encode

import (
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// fuzzInput reads choices from the fuzzer's bytes; past the end, every choice is 0.
type fuzzInput struct{ data []byte }

func (f *fuzzInput) next() int {
	if len(f.data) == 0 {
		return 0
	}
	b := f.data[0]
	f.data = f.data[1:]
	return int(b)
}

func (f *fuzzInput) pick(options []string) string { return options[f.next()%len(options)] }

// The names and values the fuzzer combines: the ones sanitising treats specially.
var (
	fuzzNames = []string{"", "_", "__", "a", "a.b", "a_b", "a-b", "9x", "le", "quantile", "__name__", "job",
		"instance", "service.name", "service.namespace", "service.instance.id", "otel_scope_name",
		"collector_gateway", "ünï", "bad\xff", "http.requests_total", "m.ratio", "x__y", "name", "version"}
	fuzzValues = []string{"", "v", "1", "a;b", "ünï", "bad\xfe", "+Inf"}
	fuzzUnits  = []string{"", "1", "s", "ms", "By", "{request}", "By/s", "%", "bad\xff"}
)

// fuzzSettings and fuzzMetrics build a push from the fuzzer's bytes.
func fuzzSettings(f *fuzzInput) Settings {
	flags := f.next()
	set := Settings{MaxSeries: 1 + f.next()%64, IdleTimeout: time.Minute}
	set.Translator.DisableScopeInfo = flags&1 != 0
	set.Translator.DisableTargetInfo = flags&2 != 0
	set.Translator.AddMetricSuffixes = flags&4 != 0 //nolint:staticcheck // the translator's own setting
	set.Translator.ConvertExplicitHistogramsToNHCB = flags&8 != 0
	set.Translator.KeepClassicHistograms = flags&16 != 0
	if flags&32 != 0 {
		set.Translator.Namespace = f.pick([]string{"ns", "n.s", "9"})
	}
	if flags&64 != 0 {
		set.StampLabel, set.StampValue = f.pick([]string{"collector_gateway", "job", "a"}), "gw"
	}
	if flags&128 != 0 {
		set.Translator.ExternalLabels = map[string]string{f.pick([]string{"cluster", "job", "a_b"}): "ext"}
	}
	set.Translator.TranslationStrategy = f.pick([]string{"", "UnderscoreEscapingWithSuffixes", "UnderscoreEscapingWithoutSuffixes",
		"NoUTF8EscapingWithSuffixes", "NoTranslation"})
	return set
}

func fuzzAttributes(f *fuzzInput, m pcommon.Map) {
	for range f.next() % 4 {
		key := f.pick(fuzzNames)
		switch f.next() % 4 {
		case 0:
			m.PutInt(key, int64(f.next()%3))
		case 1:
			m.PutBool(key, f.next()%2 == 0)
		default:
			m.PutStr(key, f.pick(fuzzValues))
		}
	}
}

func fuzzMetrics(f *fuzzInput) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for range 1 + f.next()%2 {
		rm := md.ResourceMetrics().AppendEmpty()
		fuzzAttributes(f, rm.Resource().Attributes())
		for range 1 + f.next()%2 {
			sm := rm.ScopeMetrics().AppendEmpty()
			sm.Scope().SetName(f.pick(fuzzValues))
			sm.Scope().SetVersion(f.pick(fuzzValues))
			fuzzAttributes(f, sm.Scope().Attributes())
			for range 1 + f.next()%3 {
				fuzzMetric(f, sm.Metrics().AppendEmpty())
			}
		}
	}
	return md
}

func fuzzMetric(f *fuzzInput, m pmetric.Metric) {
	m.SetName(f.pick(fuzzNames))
	m.SetUnit(f.pick(fuzzUnits))
	temporality := pmetric.AggregationTemporalityCumulative
	if f.next()%8 == 0 {
		temporality = pmetric.AggregationTemporalityDelta
	}
	points := f.next() % 3
	ts := func() pcommon.Timestamp { return testStart + pcommon.Timestamp(f.next()%4)*1e6 }
	flags := func() pmetric.DataPointFlags {
		return pmetric.DefaultDataPointFlags.WithNoRecordedValue(f.next()%5 == 0)
	}
	switch f.next() % 6 {
	case 0, 1:
		var dps pmetric.NumberDataPointSlice
		if f.next()%2 == 0 {
			dps = m.SetEmptyGauge().DataPoints()
		} else {
			s := m.SetEmptySum()
			s.SetIsMonotonic(f.next()%2 == 0)
			s.SetAggregationTemporality(temporality)
			dps = s.DataPoints()
		}
		for range points {
			dp := dps.AppendEmpty()
			fuzzAttributes(f, dp.Attributes())
			dp.SetTimestamp(ts())
			dp.SetFlags(flags())
			if f.next()%2 == 0 {
				dp.SetIntValue(int64(f.next()))
			} else {
				dp.SetDoubleValue(float64(f.next()) / 7)
			}
		}
	case 2, 3:
		h := m.SetEmptyHistogram()
		h.SetAggregationTemporality(temporality)
		for range points {
			dp := h.DataPoints().AppendEmpty()
			fuzzAttributes(f, dp.Attributes())
			dp.SetTimestamp(ts())
			dp.SetFlags(flags())
			for i := range f.next() % 4 {
				dp.ExplicitBounds().Append(float64(i) + float64(f.next())/16)
			}
			for range f.next() % 5 {
				dp.BucketCounts().Append(uint64(f.next()))
			}
			dp.SetCount(uint64(f.next()))
			if f.next()%2 == 0 {
				dp.SetSum(float64(f.next()))
			}
		}
	case 4:
		s := m.SetEmptySummary()
		for range points {
			dp := s.DataPoints().AppendEmpty()
			fuzzAttributes(f, dp.Attributes())
			dp.SetTimestamp(ts())
			dp.SetFlags(flags())
			dp.SetCount(uint64(f.next()))
			dp.SetSum(float64(f.next()))
			for range f.next() % 3 {
				q := dp.QuantileValues().AppendEmpty()
				q.SetQuantile(float64(f.next()) / 255)
				q.SetValue(float64(f.next()))
			}
		}
	case 5:
		h := m.SetEmptyExponentialHistogram()
		h.SetAggregationTemporality(temporality)
		for range points {
			dp := h.DataPoints().AppendEmpty()
			fuzzAttributes(f, dp.Attributes())
			dp.SetTimestamp(ts())
			dp.SetScale(int32(f.next()%4) - 1)
			dp.SetCount(uint64(f.next()))
			dp.Positive().BucketCounts().FromRaw([]uint64{uint64(f.next()), 1})
		}
	}
}

// FuzzEncoderMatchesTranslator requires the encoder's series to be the translator's, for pushes
// and settings built from the fuzzer's bytes: two pushes, each twice (the second time from the
// cache).
//
//	go test -run '^$' -fuzz FuzzEncoderMatchesTranslator ./exporter/orderedrwexporter/internal/encode/
func FuzzEncoderMatchesTranslator(f *testing.F) {
	for _, seed := range [][]byte{
		{},
		{0, 10, 1, 2, 1, 0, 1, 1, 1, 2, 2},
		{4, 40, 2, 3, 4, 2, 3, 2, 2, 3, 0, 1, 2, 2, 1, 5, 6, 7, 8, 9, 10, 11, 12},
		{0x27, 5, 0, 1, 1, 3, 3, 2, 2, 8, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
		{0x48, 3, 1, 3, 0, 1, 6, 2, 2, 3, 1, 8, 0, 1, 1, 9, 2, 10, 3, 7},
		{0x91, 7, 2, 4, 1, 2, 0, 4, 0, 2, 2, 8, 2, 9, 1, 4, 2, 4, 3},
		{0xff, 1, 1, 2, 5, 0, 0, 3, 7, 2, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &fuzzInput{data: data}
		set := fuzzSettings(in)
		enc := New(set)
		// Two pushes of different data to one encoder: the second finds some series cached.
		requireSame(t, enc, fuzzMetrics(in), set)
		requireSame(t, enc, fuzzMetrics(in), set)
	})
}
