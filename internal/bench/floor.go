package bench

import (
	"os"
	"sort"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/golang/snappy"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheusremotewrite"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
)

// FloorResult is the cost of the work no pipeline can avoid, measured in this process on one
// goroutine (GC threads included in the CPU time).
type FloorResult struct {
	Name          string
	Samples       int64
	Seconds       float64
	CPUSeconds    float64
	CPUPerMillion float64
	// PerCore is samples per second per core: 1e6 / CPUPerMillion.
	PerCore float64
	// RemoteWriteBytes is the compressed size of what was produced, per sample.
	BytesPerSample float64
}

// floorStep turns one OTLP request body into a snappy-compressed remote-write request and
// returns its size and the number of samples in it.
type floorStep func(body []byte) (int, int, error)

// MeasureFloor runs each floor for about d over the first n requests of load: decode the OTLP
// protobuf, build the remote-write request, marshal and snappy-compress it. "minimal" builds
// the series by hand (the least any exporter must do); "translator" uses the contrib
// prometheusremotewrite translator the stock exporter and ordered_rw both use.
func MeasureFloor(load *Load, n int, d time.Duration) ([]FloorResult, error) {
	now := time.Now().UnixMilli()
	for _, r := range load.Requests[:n] {
		r.SetTimestamp(now * int64(time.Millisecond))
	}
	steps := []struct {
		name string
		step floorStep
	}{
		{"decode OTLP + minimal remote-write encode + snappy", minimalFloor()},
		{"decode OTLP + contrib translator + marshal + snappy", translatorFloor()},
	}
	var out []FloorResult
	for _, s := range steps {
		r, err := measureFloor(s.name, s.step, load.Requests[:n], d)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func measureFloor(name string, step floorStep, reqs []*Request, d time.Duration) (FloorResult, error) {
	pid := os.Getpid()
	cpu0, err := ProcCPUSeconds(pid)
	if err != nil {
		return FloorResult{}, err
	}
	start := time.Now()
	var samples, bytes int64
	for time.Since(start) < d {
		for _, r := range reqs {
			size, n, err := step(r.Body)
			if err != nil {
				return FloorResult{}, err
			}
			samples += int64(n)
			bytes += int64(size)
		}
	}
	elapsed := time.Since(start).Seconds()
	cpu1, err := ProcCPUSeconds(pid)
	if err != nil {
		return FloorResult{}, err
	}
	res := FloorResult{Name: name, Samples: samples, Seconds: elapsed, CPUSeconds: cpu1 - cpu0}
	res.CPUPerMillion = res.CPUSeconds / (float64(samples) / 1e6)
	res.PerCore = 1e6 / res.CPUPerMillion
	res.BytesPerSample = float64(bytes) / float64(samples)
	return res, nil
}

func decodeOTLP(body []byte) (pmetric.Metrics, error) {
	req := pmetricotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		return pmetric.Metrics{}, err
	}
	return req.Metrics(), nil
}

func minimalFloor() floorStep {
	var compressed []byte
	return func(body []byte) (int, int, error) {
		md, err := decodeOTLP(body)
		if err != nil {
			return 0, 0, err
		}
		wr := prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, 0, md.DataPointCount())}
		rms := md.ResourceMetrics()
		for i := range rms.Len() {
			rm := rms.At(i)
			job := ""
			if v, ok := rm.Resource().Attributes().Get("service.name"); ok {
				job = v.AsString()
			}
			sms := rm.ScopeMetrics()
			for j := range sms.Len() {
				ms := sms.At(j).Metrics()
				for k := range ms.Len() {
					m := ms.At(k)
					if m.Type() != pmetric.MetricTypeGauge {
						continue
					}
					dps := m.Gauge().DataPoints()
					for p := range dps.Len() {
						dp := dps.At(p)
						labels := make([]prompb.Label, 0, 2+dp.Attributes().Len())
						labels = append(labels, prompb.Label{Name: "__name__", Value: m.Name()}, prompb.Label{Name: "job", Value: job})
						for k, v := range dp.Attributes().All() {
							labels = append(labels, prompb.Label{Name: k, Value: v.AsString()})
						}
						sort.Slice(labels, func(a, b int) bool { return labels[a].Name < labels[b].Name })
						wr.Timeseries = append(wr.Timeseries, prompb.TimeSeries{
							Labels:  labels,
							Samples: []prompb.Sample{{Value: dp.DoubleValue(), Timestamp: dp.Timestamp().AsTime().UnixMilli()}},
						})
					}
				}
			}
		}
		data, err := wr.Marshal()
		if err != nil {
			return 0, 0, err
		}
		compressed = snappy.Encode(compressed[:cap(compressed)], data)
		return len(compressed), len(wr.Timeseries), nil
	}
}

func translatorFloor() floorStep {
	var compressed []byte
	settings := prometheusremotewrite.Settings{AddMetricSuffixes: true}
	return func(body []byte) (int, int, error) {
		md, err := decodeOTLP(body)
		if err != nil {
			return 0, 0, err
		}
		tsMap, err := prometheusremotewrite.FromMetrics(md, settings)
		if err != nil {
			return 0, 0, err
		}
		wr := &prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, 0, len(tsMap))}
		samples := 0
		for _, ts := range tsMap {
			wr.Timeseries = append(wr.Timeseries, *ts)
			samples += len(ts.Samples)
		}
		data, err := proto.Marshal(wr)
		if err != nil {
			return 0, 0, err
		}
		compressed = snappy.Encode(compressed[:cap(compressed)], data)
		return len(compressed), samples, nil
	}
}
