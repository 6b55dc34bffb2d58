package orderedrwexporter // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter"

import (
	"errors"

	"github.com/prometheus/prometheus/prompb"
	prom "github.com/prometheus/prometheus/storage/remote/otlptranslator/prometheusremotewrite"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/encode"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/telemetry"
)

// countUntranslatable counts as dropped the samples of the metrics of md that the upstream
// translator leaves out with no trace but the error it returns (logged at debug):
//   - `invalid_name`: a name that normalizes to nothing or to underscores only ("", "_", "é"
//     without UTF-8 names): such metrics vanished uncounted (issue 18);
//   - `invalid_temporality`: a delta sum or histogram, which remote write cannot carry.
//
// It mirrors the checks of prometheusremotewrite.FromMetrics (contrib v0.165.1, metrics_to_prw.go
// fromMetrics: isValidAggregationTemporality, then metricNamer.Build with the settings of
// getTranslationConfiguration), and is called only when the translator returned an error, so that
// a push the translator took whole costs nothing more.
func (e *ordExporter) countUntranslatable(md pmetric.Metrics) {
	if e.engine == nil {
		return
	}
	namer := e.encoder.MetricNamer()
	rms := md.ResourceMetrics()
	for i := range rms.Len() {
		sms := rms.At(i).ScopeMetrics()
		for j := range sms.Len() {
			metrics := sms.At(j).Metrics()
			for k := range metrics.Len() {
				m := metrics.At(k)
				if !encode.ValidTemporality(m) {
					e.engine.Untranslatable(samplesOf(m), telemetry.ReasonInvalidTemporality, exampleName(m.Name()), errors.New("delta temporality: remote write carries cumulative sums and histograms only"))
					continue
				}
				if _, err := namer.Build(prom.TranslatorMetricFromOtelMetric(m)); err != nil {
					// Not the translator's error: it quotes the name whole, and the log line must
					// not (the example series' labels are cut to 64 bytes).
					e.engine.Untranslatable(samplesOf(m), telemetry.ReasonInvalidName, exampleName(m.Name()), errInvalidName)
				}
			}
		}
	}
}

// samplesOf is the number of remote-write samples m would have made: one per number data point
// and per exponential histogram (a native histogram); per classic histogram data point, a bucket
// sample per bucket (+Inf included), a count, and a sum when it has one; per summary data point,
// a sample per quantile, a count and a sum.
func samplesOf(m pmetric.Metric) int {
	n := 0
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		n = m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		n = m.Sum().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		n = m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		dps := m.Histogram().DataPoints()
		for i := range dps.Len() {
			dp := dps.At(i)
			n += dp.BucketCounts().Len() + 1
			if dp.HasSum() {
				n++
			}
		}
	case pmetric.MetricTypeSummary:
		dps := m.Summary().DataPoints()
		for i := range dps.Len() {
			n += dps.At(i).QuantileValues().Len() + 2
		}
	}
	return n
}

var errInvalidName = errors.New("the metric name normalizes to nothing or to underscores only")

func exampleName(name string) []prompb.Label { return []prompb.Label{{Name: "__name__", Value: name}} }
