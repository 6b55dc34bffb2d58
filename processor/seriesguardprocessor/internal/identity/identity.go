// Package identity computes which Prometheus series a data point becomes once the contrib
// prometheusremotewrite translator (v0.165.1) has converted it, without building the series:
// it mirrors the translator's label rules and hashes the resulting label set.
//
// The rules mirrored, in the translator's order of precedence (pkg/translator/prometheusremotewrite
// createAttributes):
//   - data-point attributes with a non-empty value, names sanitized by otlptranslator.LabelNamer
//     (PreserveMultipleUnderscores); attributes whose names collide after sanitization are merged
//     into one label whose values are joined with ";" in the order of the raw names;
//   - resource attributes copied onto the data point when the exporter promotes them
//     (resource_to_telemetry_conversion / resource_constant_labels); a promoted attribute
//     replaces a data-point attribute of the same raw name;
//   - job = [service.namespace/]service.name and instance = service.instance.id, replacing
//     attributes of those names;
//   - external labels, only where no other label has that name;
//   - otel_scope_name, otel_scope_version and otel_scope_<attribute>, unless disabled, replacing
//     attributes of those names;
//   - __name__ (and le / quantile for buckets and quantiles), counted by the caller.
package identity // import "github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/identity"

import (
	"hash/maphash"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Settings are the exporter settings that decide series identity.
type Settings struct {
	Namespace        string
	WithSuffixes     bool
	DisableScopeInfo bool
	ExternalLabels   map[string]string
	// Promote selects the resource attributes copied onto data points; nil promotes none.
	Promote *Promotion
}

// Violation is the first label limit a series breaks.
type Violation uint8

const (
	// OK breaks no limit.
	OK Violation = iota
	// TooManyLabels breaks max_labels_per_series.
	TooManyLabels
	// NameTooLong breaks max_label_name_length.
	NameTooLong
	// ValueTooLong breaks max_label_value_length.
	ValueTooLong
)

// Limits are the label limits; 0 turns one off.
type Limits struct {
	MaxLabels      int
	MaxNameLength  int
	MaxValueLength int
}

// Series describes the label set shared by the series a data point produces (without __name__
// and without le / quantile).
type Series struct {
	// Hash identifies the label set; equal label sets hash equally.
	Hash uint64
	// Labels counts the labels, external labels included, __name__ excluded.
	Labels int
	// MaxNameLength and MaxValueLength are the longest label name and value.
	MaxNameLength  int
	MaxValueLength int
	// Invalid is true when an attribute name cannot be translated: the exporter drops the point.
	Invalid bool
}

// Check returns the first limit the series breaks, given the labels the metric adds: __name__
// with a value of nameLength bytes, and extra labels such as le.
func (s Series) Check(l Limits, nameLength, extra int) Violation {
	if l.MaxLabels > 0 && s.Labels+1+extra > l.MaxLabels {
		return TooManyLabels
	}
	if l.MaxNameLength > 0 && s.MaxNameLength > l.MaxNameLength {
		return NameTooLong
	}
	if l.MaxValueLength > 0 && (s.MaxValueLength > l.MaxValueLength || nameLength > l.MaxValueLength) {
		return ValueTooLong
	}
	return OK
}

type label struct {
	name, value string
	raw         string // raw attribute key, for the ";" merge order
	nameHash    uint64
	fromAttrs   bool // a data-point attribute (not promoted from the resource)
}

type metricKey struct {
	name, unit string
	typ        otlptranslator.MetricType
}

// maxCacheEntries bounds each name cache; a cache that fills is cleared.
const maxCacheEntries = 1 << 16

// Builder computes series identities. It keeps scratch space: use one Builder per goroutine.
type Builder struct {
	settings    Settings
	metricNamer otlptranslator.MetricNamer
	labelNamer  otlptranslator.LabelNamer

	metricNames map[metricKey]string
	labelNames  map[string]string // raw attribute keys that sanitization changes

	externals []label

	resourceFixed []label // job, instance
	scopeFixed    []label // otel_scope_*
	promoted      []label // promoted resource attributes
	// promotedInvalid: a promoted attribute name cannot be translated.
	promotedInvalid bool

	labels    []label
	buf       []byte
	nameCache *[nameCacheSize]cachedName
	fixed     fixedAggregate
}

// NewBuilder returns a Builder for the settings.
func NewBuilder(s Settings) *Builder {
	b := &Builder{
		settings:    s,
		metricNamer: otlptranslator.MetricNamer{WithMetricSuffixes: s.WithSuffixes, Namespace: s.Namespace},
		labelNamer:  otlptranslator.LabelNamer{PreserveMultipleUnderscores: true},
		metricNames: map[metricKey]string{},
		labelNames:  map[string]string{},
		nameCache:   new([nameCacheSize]cachedName),
	}
	for name, value := range s.ExternalLabels {
		// The exporter sanitizes external labels once at start.
		sanitized, err := b.labelNamer.Build(name)
		if err != nil {
			continue
		}
		b.externals = append(b.externals, label{name: sanitized, value: value, nameHash: hashString(sanitized)})
	}
	sort.Slice(b.externals, func(i, j int) bool { return b.externals[i].name < b.externals[j].name })
	return b
}

// MetricName returns the Prometheus base name of a metric (before _bucket, _sum, _count), or ""
// when the translator cannot name it (the exporter drops such metrics).
func (b *Builder) MetricName(m pmetric.Metric) string {
	key := metricKey{name: m.Name(), unit: m.Unit(), typ: metricType(m)}
	if name, ok := b.metricNames[key]; ok {
		return name
	}
	name, err := b.metricNamer.Build(otlptranslator.Metric{Name: key.name, Unit: key.unit, Type: key.typ})
	if err != nil {
		name = ""
	}
	if len(b.metricNames) >= maxCacheEntries {
		clear(b.metricNames)
	}
	b.metricNames[metricKey{name: strings.Clone(key.name), unit: strings.Clone(key.unit), typ: key.typ}] = name
	return name
}

// metricType mirrors prometheusremotewrite.TranslatorMetricFromOtelMetric.
func metricType(m pmetric.Metric) otlptranslator.MetricType {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return otlptranslator.MetricTypeGauge
	case pmetric.MetricTypeSum:
		if m.Sum().IsMonotonic() {
			return otlptranslator.MetricTypeMonotonicCounter
		}
		return otlptranslator.MetricTypeNonMonotonicCounter
	case pmetric.MetricTypeSummary:
		return otlptranslator.MetricTypeSummary
	case pmetric.MetricTypeHistogram:
		return otlptranslator.MetricTypeHistogram
	case pmetric.MetricTypeExponentialHistogram:
		return otlptranslator.MetricTypeExponentialHistogram
	}
	return otlptranslator.MetricTypeUnknown
}

// SetResource prepares the labels that come from a resource.
func (b *Builder) SetResource(res pcommon.Resource) {
	b.resourceFixed = b.resourceFixed[:0]
	b.promoted = b.promoted[:0]
	b.promotedInvalid = false
	attrs := res.Attributes()
	if serviceName, ok := attrs.Get("service.name"); ok {
		if job := serviceName.AsString(); job != "" {
			if ns, ok := attrs.Get("service.namespace"); ok {
				job = ns.AsString() + "/" + job
			}
			b.resourceFixed = append(b.resourceFixed, label{name: "job", value: job, nameHash: hashString("job")})
		}
	}
	if instance, ok := attrs.Get("service.instance.id"); ok {
		if v := instance.AsString(); v != "" {
			b.resourceFixed = append(b.resourceFixed, label{name: "instance", value: v, nameHash: hashString("instance")})
		}
	}
	if b.settings.Promote != nil {
		for k, v := range attrs.All() {
			if !b.settings.Promote.matches(k) {
				continue
			}
			value := v.AsString()
			if value == "" {
				continue
			}
			name := b.labelName(k)
			if name == "" {
				b.promotedInvalid = true
				continue
			}
			b.promoted = append(b.promoted, label{name: name, value: value, raw: k, nameHash: hashString(name)})
		}
	}
	b.aggregateFixed()
}

// SetScope prepares the labels that come from an instrumentation scope.
func (b *Builder) SetScope(scope pcommon.InstrumentationScope) {
	b.scopeFixed = b.scopeFixed[:0]
	if b.settings.DisableScopeInfo {
		b.aggregateFixed()
		return
	}
	if scope.Name() != "" {
		b.scopeFixed = append(b.scopeFixed, label{name: "otel_scope_name", value: scope.Name(), nameHash: hashString("otel_scope_name")})
	}
	if scope.Version() != "" {
		b.scopeFixed = append(b.scopeFixed, label{name: "otel_scope_version", value: scope.Version(), nameHash: hashString("otel_scope_version")})
	}
	for k, v := range scope.Attributes().All() {
		if k == "name" || k == "version" || k == "schema_url" {
			continue
		}
		name, err := b.labelNamer.Build("otel_scope_" + k)
		if err != nil {
			continue
		}
		b.scopeFixed = append(b.scopeFixed, label{name: name, value: v.AsString(), nameHash: hashString(name)})
	}
	b.aggregateFixed()
}

// Series computes the label set of a data point with these attributes under the current resource
// and scope.
func (b *Builder) Series(attrs pcommon.Map) Series {
	if len(b.promoted) == 0 && attrs.Len() <= maxFastAttributes {
		if s, ok := b.fastSeries(attrs); ok {
			return s
		}
	}
	return b.slowSeries(attrs)
}

// maxFastAttributes bounds the attributes fastSeries handles (its scratch is on the stack).
const maxFastAttributes = 64

// fastSeries computes the series of a point when no resource attribute is promoted, without
// building the label list. It gives up (false) when two attribute names collide after
// sanitization, which slowSeries merges as the translator does.
func (b *Builder) fastSeries(attrs pcommon.Map) (Series, bool) {
	b.buf = b.buf[:0]
	var names [maxFastAttributes]uint64
	n := 0
	s := Series{
		Labels:         b.fixed.labels,
		MaxNameLength:  b.fixed.maxName,
		MaxValueLength: b.fixed.maxValue,
		Invalid:        b.promotedInvalid,
	}
	sum := b.fixed.sum
	for k, v := range attrs.All() {
		value := b.valueString(v)
		if value == "" {
			continue
		}
		name, nameHash := b.attributeName(k)
		if name == "" {
			s.Invalid = true
			continue
		}
		for i := 0; i < n; i++ {
			if names[i] == nameHash {
				return Series{}, false
			}
		}
		names[n] = nameHash
		n++
		if overridden(nameHash, b.resourceFixed) || overridden(nameHash, b.scopeFixed) {
			continue
		}
		sum += pairHash(nameHash, value)
		s.Labels++
		s.MaxNameLength = max(s.MaxNameLength, len(name))
		s.MaxValueLength = max(s.MaxValueLength, len(value))
	}
	for i := range b.externals {
		l := &b.externals[i]
		if overriddenHash(l.nameHash, names[:n]) || overridden(l.nameHash, b.resourceFixed) || overridden(l.nameHash, b.scopeFixed) {
			continue
		}
		sum += pairHash(l.nameHash, l.value)
		s.Labels++
		s.MaxNameLength = max(s.MaxNameLength, len(l.name))
		s.MaxValueLength = max(s.MaxValueLength, len(l.value))
	}
	s.Hash = mix(sum ^ uint64(s.Labels))
	return s, true
}

func overriddenHash(nameHash uint64, by []uint64) bool {
	for _, h := range by {
		if h == nameHash {
			return true
		}
	}
	return false
}

// fixedAggregate sums up the job, instance and scope labels once per resource and scope.
type fixedAggregate struct {
	sum               uint64
	labels            int
	maxName, maxValue int
}

func (b *Builder) aggregateFixed() {
	b.fixed = fixedAggregate{}
	for _, group := range [2][]label{b.resourceFixed, b.scopeFixed} {
		for i := range group {
			l := &group[i]
			b.fixed.sum += pairHash(l.nameHash, l.value)
			b.fixed.labels++
			b.fixed.maxName = max(b.fixed.maxName, len(l.name))
			b.fixed.maxValue = max(b.fixed.maxValue, len(l.value))
		}
	}
}

// slowSeries builds the label list: promoted resource attributes and name collisions.
func (b *Builder) slowSeries(attrs pcommon.Map) Series {
	b.labels = b.labels[:0]
	b.buf = b.buf[:0]
	invalid := false
	for k, v := range attrs.All() {
		if b.promotedRaw(k) {
			continue // the promoted resource attribute replaces it
		}
		value := b.valueString(v)
		if value == "" {
			continue
		}
		name, nameHash := b.attributeName(k)
		if name == "" {
			invalid = true
			continue
		}
		b.labels = append(b.labels, label{name: name, value: value, raw: k, nameHash: nameHash, fromAttrs: true})
	}
	b.labels = append(b.labels, b.promoted...)
	if hasCollision(b.labels) {
		b.mergeCollisions()
	}

	s := Series{Invalid: invalid || b.promotedInvalid}
	var sum uint64
	add := func(l *label) {
		sum += pairHash(l.nameHash, l.value)
		s.Labels++
		s.MaxNameLength = max(s.MaxNameLength, len(l.name))
		if len(l.value) > s.MaxValueLength {
			s.MaxValueLength = len(l.value)
		}
	}
	for i := range b.labels {
		l := &b.labels[i]
		if overridden(l.nameHash, b.resourceFixed) || overridden(l.nameHash, b.scopeFixed) {
			continue
		}
		add(l)
	}
	for i := range b.resourceFixed {
		add(&b.resourceFixed[i])
	}
	for i := range b.scopeFixed {
		add(&b.scopeFixed[i])
	}
	for i := range b.externals {
		l := &b.externals[i]
		if overridden(l.nameHash, b.labels) || overridden(l.nameHash, b.resourceFixed) || overridden(l.nameHash, b.scopeFixed) {
			continue
		}
		add(l)
	}
	s.Hash = mix(sum ^ uint64(s.Labels))
	return s
}

// FixedValuesFit reports whether the labels that do not come from data-point attributes all
// fit maxValueLength (truncation cannot fix them).
func (b *Builder) FixedValuesFit(maxValueLength int) bool {
	for _, group := range [][]label{b.resourceFixed, b.scopeFixed, b.externals, b.promoted} {
		for i := range group {
			if len(group[i].value) > maxValueLength {
				return false
			}
		}
	}
	return true
}

func (b *Builder) promotedRaw(k string) bool {
	for i := range b.promoted {
		if b.promoted[i].raw == k {
			return true
		}
	}
	return false
}

func overridden(nameHash uint64, by []label) bool {
	for i := range by {
		if by[i].nameHash == nameHash {
			return true
		}
	}
	return false
}

func hasCollision(labels []label) bool {
	for i := 1; i < len(labels); i++ {
		for j := 0; j < i; j++ {
			if labels[i].nameHash == labels[j].nameHash {
				return true
			}
		}
	}
	return false
}

// mergeCollisions merges labels whose sanitized names collide the way the translator does:
// sorted by raw name, a differing value is appended after ";". It allocates; collisions are rare.
func (b *Builder) mergeCollisions() {
	sort.SliceStable(b.labels, func(i, j int) bool { return b.labels[i].raw < b.labels[j].raw })
	merged := b.labels[:0]
	for _, l := range b.labels {
		found := false
		for i := range merged {
			if merged[i].nameHash == l.nameHash {
				if merged[i].value != l.value {
					merged[i].value = merged[i].value + ";" + l.value
				}
				merged[i].fromAttrs = merged[i].fromAttrs && l.fromAttrs
				found = true
				break
			}
		}
		if !found {
			merged = append(merged, l)
		}
	}
	b.labels = merged
}

// labelName sanitizes an attribute key as otlptranslator.LabelNamer does, without allocating
// for names that are already valid. It returns "" for names the translator rejects.
func (b *Builder) labelName(k string) string {
	if validLabelName(k) {
		return k
	}
	if name, ok := b.labelNames[k]; ok {
		return name
	}
	name, err := b.labelNamer.Build(k)
	if err != nil {
		name = ""
	}
	if len(b.labelNames) >= maxCacheEntries {
		clear(b.labelNames)
	}
	b.labelNames[strings.Clone(k)] = name
	return name
}

// nameCacheSize is the number of slots of the attribute-name cache (a power of two).
const nameCacheSize = 1024

// cachedName is a slot of the attribute-name cache: a raw key, its label name and its hash.
type cachedName struct {
	raw, name string
	hash      uint64
}

// attributeName returns the label name of an attribute key and its hash. Keys repeat from point
// to point, so a small direct-mapped cache indexed by a few bytes of the key answers most calls
// with one string comparison, with neither sanitizing nor hashing. A miss allocates.
func (b *Builder) attributeName(k string) (string, uint64) {
	if k == "" {
		return "", 0
	}
	slot := &b.nameCache[(uint(len(k))*31+uint(k[0])*7+uint(k[len(k)-1])*13+uint(k[len(k)/2]))&(nameCacheSize-1)]
	if slot.raw == k {
		return slot.name, slot.hash
	}
	name := b.labelName(k)
	*slot = cachedName{raw: strings.Clone(k), name: name, hash: hashString(name)}
	return name, slot.hash
}

// validLabelName reports whether the translator keeps the name unchanged.
func validLabelName(k string) bool {
	if k == "" || (k[0] >= '0' && k[0] <= '9') {
		return false
	}
	onlyUnderscores := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c == '_':
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			onlyUnderscores = false
		default:
			return false
		}
	}
	return !onlyUnderscores
}

// valueString is pcommon.Value.AsString without allocating for strings, integers and booleans.
func (b *Builder) valueString(v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str()
	case pcommon.ValueTypeInt:
		start := len(b.buf)
		b.buf = strconv.AppendInt(b.buf, v.Int(), 10)
		return unsafe.String(&b.buf[start], len(b.buf)-start)
	case pcommon.ValueTypeBool:
		if v.Bool() {
			return "true"
		}
		return "false"
	case pcommon.ValueTypeEmpty:
		return ""
	}
	return v.AsString()
}

// seed of the label hashes: identities are compared within one process only.
var seed = maphash.MakeSeed()

// HashString hashes a metric name the way label names and values are hashed.
func HashString(s string) uint64 { return hashString(s) }

// hashString is the runtime's AES-based string hash: faster than xxhash for short strings.
func hashString(s string) uint64 { return maphash.String(seed, s) }

func pairHash(nameHash uint64, value string) uint64 {
	return mix(nameHash*0x9E3779B97F4A7C15 + hashString(value))
}

// mix is the splitmix64 finalizer. Pair hashes are combined by addition, which does not depend
// on attribute order, so no sort is needed; mixing each pair first keeps the sum well spread.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Mix combines two hashes.
func Mix(a, b uint64) uint64 {
	return mix(a ^ (b+0x9E3779B97F4A7C15)*0xff51afd7ed558ccd)
}

// HashFloats hashes a list of floats (bucket bounds) for the series layout.
func HashFloats(f pcommon.Float64Slice) uint64 {
	h := uint64(f.Len())
	for i := 0; i < f.Len(); i++ {
		h = Mix(h, math.Float64bits(f.At(i)))
	}
	return h
}

// Promotion selects promoted resource attributes as the resourcetotelemetry wrapper does.
type Promotion struct {
	all             bool
	excludeService  bool
	included        map[string]struct{}
	excluded        map[string]struct{}
	includedRegexps []*regexp.Regexp
	excludedRegexps []*regexp.Regexp
	hasIncluded     bool
	patterns        bool
}

// NewPromotion mirrors resourcetotelemetry.WrapMetricsExporter: included/excluded patterns take
// precedence over enabled; it returns nil when nothing is promoted.
func NewPromotion(enabled, excludeService bool, included, excluded []string) *Promotion {
	if len(included) > 0 || len(excluded) > 0 {
		p := &Promotion{patterns: true, hasIncluded: len(included) > 0, included: map[string]struct{}{}, excluded: map[string]struct{}{}}
		if len(included) == 1 && included[0] == "*" && len(excluded) == 0 {
			p.all = true
			return p
		}
		for _, pat := range included {
			if strings.ContainsAny(pat, "*?") {
				p.includedRegexps = append(p.includedRegexps, glob(pat))
			} else {
				p.included[pat] = struct{}{}
			}
		}
		for _, pat := range excluded {
			if strings.ContainsAny(pat, "*?") {
				p.excludedRegexps = append(p.excludedRegexps, glob(pat))
			} else {
				p.excluded[pat] = struct{}{}
			}
		}
		return p
	}
	if !enabled {
		return nil
	}
	return &Promotion{all: !excludeService, excludeService: excludeService}
}

func glob(pattern string) *regexp.Regexp {
	quoted := regexp.QuoteMeta(pattern)
	return regexp.MustCompile("(?s)^" + strings.ReplaceAll(strings.ReplaceAll(quoted, `\*`, `.*`), `\?`, `.`) + "$")
}

func (p *Promotion) matches(key string) bool {
	if p.all {
		return true
	}
	if !p.patterns {
		// enabled with exclude_service_attributes
		return key != "service.name" && key != "service.instance.id" && key != "service.namespace"
	}
	if _, ok := p.excluded[key]; ok {
		return false
	}
	for _, re := range p.excludedRegexps {
		if re.MatchString(key) {
			return false
		}
	}
	if !p.hasIncluded {
		return true
	}
	if _, ok := p.included[key]; ok {
		return true
	}
	for _, re := range p.includedRegexps {
		if re.MatchString(key) {
			return true
		}
	}
	return false
}
