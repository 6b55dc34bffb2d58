// Package pooltest helps the components' tests of the pdata.useProtoPooling feature gate. With
// the gate, the pipeline (service/internal/refconsumer) returns a batch's objects to pdata's
// pools as soon as a component's ConsumeMetrics returns, and the next unmarshal takes them again:
// a component that keeps anything of a batch beyond that reads another request's data later.
// The tests built on this package feed batches as the otlp receiver does, then poison, release
// and reuse each one, and require the same output as when the batches are left alone.
package pooltest // import "github.com/otelcol-fleet/otelcol-fleet/internal/pooltest"

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/featuregate"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/xpdata/pref"
)

// Gate is the feature gate under test.
const Gate = "pdata.useProtoPooling"

// Enable turns the gate on for the test, off again at its end (the gate is global: such tests
// are not parallel).
func Enable(tb testing.TB) {
	tb.Helper()
	SetGate(tb, true)
}

// SetGate sets the gate for the test or benchmark and turns it off at its end.
func SetGate(tb testing.TB, on bool) {
	tb.Helper()
	reg := featuregate.GlobalRegistry()
	require.NoError(tb, reg.Set(Gate, on))
	tb.Cleanup(func() { require.NoError(tb, reg.Set(Gate, false)) })
}

// Unmarshal marshals md and unmarshals it as the otlp receiver does (from the pools when the
// gate is on), marked pipeline-owned as the service marks what a receiver hands it.
func Unmarshal(tb testing.TB, md pmetric.Metrics) pmetric.Metrics {
	tb.Helper()
	var marshaler pmetric.ProtoMarshaler
	raw, err := marshaler.MarshalMetrics(md)
	require.NoError(tb, err)
	return UnmarshalRaw(tb, raw)
}

// UnmarshalRaw is Unmarshal of an already encoded request.
func UnmarshalRaw(tb testing.TB, raw []byte) pmetric.Metrics {
	tb.Helper()
	var unmarshaler pmetric.ProtoUnmarshaler
	md, err := unmarshaler.UnmarshalMetrics(raw)
	require.NoError(tb, err)
	require.True(tb, pref.MarkPipelineOwnedMetrics(md))
	return md
}

// Recycle is what happens to md once the component returned: it is poisoned, released to the
// pools (as refconsumer does), and its objects are taken again by decoy, poisoned too.
func Recycle(tb testing.TB, md pmetric.Metrics, decoy []byte) {
	tb.Helper()
	Poison(md)
	pref.UnrefMetrics(md)
	Poison(UnmarshalRaw(tb, decoy))
}

// Poison overwrites, in place, everything md carries that a component could keep: names,
// attribute values, point values and timestamps.
func Poison(md pmetric.Metrics) {
	poisonMap := func(m pcommon.Map) {
		m.Range(func(k string, v pcommon.Value) bool {
			v.SetStr("poison-" + k)
			return true
		})
		m.PutStr("poison", "poison")
	}
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		poisonMap(rms.At(i).Resource().Attributes())
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			sms.At(j).Scope().SetName("poison")
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				m.SetName("poison_" + m.Name())
				m.SetUnit("poison")
				switch m.Type() {
				case pmetric.MetricTypeGauge, pmetric.MetricTypeSum:
					var dps pmetric.NumberDataPointSlice
					if m.Type() == pmetric.MetricTypeSum {
						dps = m.Sum().DataPoints()
					} else {
						dps = m.Gauge().DataPoints()
					}
					for x := 0; x < dps.Len(); x++ {
						poisonMap(dps.At(x).Attributes())
						dps.At(x).SetDoubleValue(-1)
						dps.At(x).SetTimestamp(1)
					}
				case pmetric.MetricTypeHistogram:
					dps := m.Histogram().DataPoints()
					for x := 0; x < dps.Len(); x++ {
						poisonMap(dps.At(x).Attributes())
						dps.At(x).BucketCounts().FromRaw([]uint64{9, 9, 9})
						dps.At(x).ExplicitBounds().FromRaw([]float64{-1, -2})
						dps.At(x).SetTimestamp(1)
					}
				case pmetric.MetricTypeSummary:
					dps := m.Summary().DataPoints()
					for x := 0; x < dps.Len(); x++ {
						poisonMap(dps.At(x).Attributes())
						dps.At(x).QuantileValues().At(0).SetValue(-1)
						dps.At(x).SetTimestamp(1)
					}
				case pmetric.MetricTypeExponentialHistogram:
					dps := m.ExponentialHistogram().DataPoints()
					for x := 0; x < dps.Len(); x++ {
						poisonMap(dps.At(x).Attributes())
						dps.At(x).Positive().BucketCounts().FromRaw([]uint64{9, 9})
						dps.At(x).SetTimestamp(1)
					}
				}
			}
		}
	}
}
