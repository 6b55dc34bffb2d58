package encode

import (
	"errors"
	"slices"
	"strings"
	"unsafe"

	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/pcommon"
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

// finish returns the labels of a series: base (b.labels[:n]) plus extras, the stamp set, sorted,
// every string copied into one block owned by the series (pdata's strings point into the request
// they came in, which the cache must not keep alive), and their hash.
func (b *labelBuilder) finish(n int, extras ...string) []prompb.Label {
	b.labels = b.labels[:n]
	for i := 0; i+1 < len(extras); i += 2 {
		b.set(extras[i], extras[i+1])
	}
	if b.enc.set.StampLabel != "" {
		b.set(b.enc.set.StampLabel, b.enc.set.StampValue)
	}
	return b.enc.cloneSorted(b.labels)
}

// cloneSorted returns a sorted copy of labels that shares no memory with them: one slice, the
// names and the values many series share (metric name, job, instance, scope, external labels,
// le, quantile) from the interned strings, the other values in one block.
func (e *Encoder) cloneSorted(labels []prompb.Label) []prompb.Label {
	size := 0
	for _, l := range labels {
		if !sharedValue(l.Name) {
			size += len(l.Value)
		}
	}
	block := make([]byte, 0, size)
	out := make([]prompb.Label, len(labels))
	for i, l := range labels {
		out[i].Name = e.intern(l.Name)
		if sharedValue(l.Name) {
			out[i].Value = e.intern(l.Value)
			continue
		}
		start := len(block)
		block = append(block, l.Value...)
		// block never grows beyond its capacity: one array, which the strings share.
		out[i].Value = unsafe.String((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(block)), start)), len(l.Value))
	}
	slices.SortFunc(out, func(x, y prompb.Label) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// sharedValue says whether the values of label name are shared by many series.
func sharedValue(name string) bool {
	switch name {
	case nameLabel, jobLabel, instanceLabel, leLabel, quantileLabel:
		return true
	}
	return strings.HasPrefix(name, "otel_scope_")
}

// maxInterned bounds the interned strings; the table is emptied when full (the strings already
// handed out stay with their series).
const maxInterned = 1 << 16

// intern returns a copy of s that is shared with every other series that has it.
func (e *Encoder) intern(s string) string {
	if v, ok := e.interned[s]; ok {
		return v
	}
	if len(e.interned) >= maxInterned {
		clear(e.interned)
	}
	v := strings.Clone(s)
	e.interned[v] = v
	return v
}
