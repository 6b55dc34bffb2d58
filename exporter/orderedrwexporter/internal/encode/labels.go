package encode

import (
	"errors"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
)

// The resource attributes the translator maps to job and instance (semconv's names).
const (
	serviceName       = "service.name"
	serviceNamespace  = "service.namespace"
	serviceInstanceID = "service.instance.id"

	nameLabel     = "__name__"
	jobLabel      = "job"
	instanceLabel = "instance"
	leLabel       = "le"
	quantileLabel = "quantile"
)

// errDuplicateLabel is returned when a histogram's or summary's attributes already give a label
// that the translator appends (le, quantile, __name__): it then sends a series with two labels of
// one name, in an order that depends on map iteration. Such a metric goes to the translator.
var errDuplicateLabel = errors.New("a histogram or summary attribute gives a reserved label")

// labelBuilder builds the labels of a new series, the rules of contrib's translator
// (prometheusremotewrite v0.165.1, createAttributes and createLabels) over its public namers:
// only on a cache miss, so it favours clarity over speed. It is reused between series.
type labelBuilder struct {
	enc    *Encoder
	labels []prompb.Label // unsorted while being built, names unique unless appended
	attrs  []prompb.Label
	sorted []prompb.Label // finish's scratch
}

func (b *labelBuilder) get(name string) (string, bool) {
	for i := range b.labels {
		if b.labels[i].Name == name {
			return b.labels[i].Value, true
		}
	}
	return "", false
}

func (b *labelBuilder) set(name, value string) {
	for i := range b.labels {
		if b.labels[i].Name == name {
			b.labels[i].Value = value
			return
		}
	}
	b.labels = append(b.labels, prompb.Label{Name: name, Value: value})
}

// base sets the labels every series of a point has: its attributes (those of ignore skipped),
// job and instance from the resource, the external labels, the scope's.
func (b *labelBuilder) base(resource pcommon.Map, attrs pcommon.Map, scope pcommon.InstrumentationScope, ignoreIdentifying bool) error {
	b.labels, b.attrs = b.labels[:0], b.attrs[:0]
	for k, v := range attrs.All() {
		if ignoreIdentifying && (k == serviceName || k == serviceNamespace || k == serviceInstanceID) {
			continue
		}
		if s := v.AsString(); s != "" {
			b.attrs = append(b.attrs, prompb.Label{Name: k, Value: s})
		}
	}
	// Sorted by key, so that keys that collide once sanitised join their values in one order.
	slices.SortStableFunc(b.attrs, func(x, y prompb.Label) int { return strings.Compare(x.Name, y.Name) })
	for _, a := range b.attrs {
		name, err := b.enc.labelNamer.Build(a.Name)
		if err != nil {
			return err
		}
		if old, ok := b.get(name); ok {
			if old != a.Value {
				b.set(name, old+";"+a.Value)
			}
		} else {
			b.labels = append(b.labels, prompb.Label{Name: name, Value: a.Value})
		}
	}
	if v, ok := resource.Get(serviceName); ok {
		if job := v.AsString(); job != "" {
			if ns, ok := resource.Get(serviceNamespace); ok {
				job = ns.AsString() + "/" + job
			}
			b.set(jobLabel, job)
		}
	}
	if v, ok := resource.Get(serviceInstanceID); ok {
		if instance := v.AsString(); instance != "" {
			b.set(instanceLabel, instance)
		}
	}
	for _, l := range b.enc.external {
		if _, ok := b.get(l.Name); !ok {
			b.labels = append(b.labels, l)
		}
	}
	if b.enc.set.Translator.DisableScopeInfo {
		return nil
	}
	if name := scope.Name(); name != "" {
		if key, err := b.enc.labelNamer.Build("otel_scope_name"); err == nil {
			b.set(key, name)
		}
	}
	if version := scope.Version(); version != "" {
		if key, err := b.enc.labelNamer.Build("otel_scope_version"); err == nil {
			b.set(key, version)
		}
	}
	for k, v := range scope.Attributes().All() {
		if k == "name" || k == "version" || k == "schema_url" {
			continue
		}
		if key, err := b.enc.labelNamer.Build("otel_scope_" + k); err == nil {
			b.set(key, v.AsString())
		}
	}
	return nil
}

// checkAppendable is errDuplicateLabel if appending name (and extra, if not "") to the base
// labels would give two labels of one name, as the translator's createLabels would.
func (b *labelBuilder) checkAppendable(extra string) error {
	for _, l := range b.labels {
		if l.Name == nameLabel || (extra != "" && l.Name == extra) {
			return errDuplicateLabel
		}
	}
	return nil
}

// labelSet is a series' labels, encoded, and their hash (sample.HashLabels, the block's Hash).
type labelSet struct {
	labels sample.Labels
	hash   uint64
}

// finish returns the labels of a series: base (b.labels[:n]) plus extras, the stamp set, sorted
// and encoded into one block owned by the series (pdata's strings point into the request they
// came in, which the cache must not keep alive), and their hash.
func (b *labelBuilder) finish(n int, extras ...string) labelSet {
	b.labels = b.labels[:n]
	for i := 0; i+1 < len(extras); i += 2 {
		b.set(extras[i], extras[i+1])
	}
	if b.enc.set.StampLabel != "" {
		b.set(b.enc.set.StampLabel, b.enc.set.StampValue)
	}
	// Sorted in a copy: b.labels[:n] is the base of the point's next series.
	b.sorted = append(b.sorted[:0], b.labels...)
	set := b.enc.labelSet(b.sorted)
	clear(b.sorted) // the scratch keeps no pdata string alive
	return set
}

// labelSet sorts labels by name, in place, and returns them encoded, with their hash.
func (e *Encoder) labelSet(labels []prompb.Label) labelSet {
	sample.SortLabels(labels)
	var hash uint64
	hash, e.buf = sample.HashLabels(labels, e.buf)
	return labelSet{labels: sample.NewLabels(labels), hash: hash}
}
