package identity

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

func seriesOf(t *testing.T, b *Builder, attrs map[string]any) Series {
	m := pcommon.NewMap()
	require.NoError(t, m.FromRaw(attrs))
	return b.Series(m)
}

func TestSeriesIsOrderIndependentAndDistinguishesValues(t *testing.T) {
	b := NewBuilder(Settings{WithSuffixes: true})
	res := pcommon.NewResource()
	res.Attributes().PutStr("service.name", "api")
	b.SetResource(res)
	b.SetScope(pcommon.NewInstrumentationScope())

	m1 := pcommon.NewMap()
	m1.PutStr("a", "1")
	m1.PutStr("b", "2")
	m2 := pcommon.NewMap()
	m2.PutStr("b", "2")
	m2.PutStr("a", "1")
	require.Equal(t, b.Series(m1), b.Series(m2))

	m3 := pcommon.NewMap()
	m3.PutStr("a", "2")
	m3.PutStr("b", "1")
	require.NotEqual(t, b.Series(m1).Hash, b.Series(m3).Hash, "values swapped between names")

	// An attribute named job is replaced by the job label from service.name.
	m4 := pcommon.NewMap()
	m4.PutStr("a", "1")
	m4.PutStr("b", "2")
	m4.PutStr("job", "other")
	require.Equal(t, b.Series(m1), b.Series(m4))
}

func TestSeriesCountsAndChecksLabels(t *testing.T) {
	b := NewBuilder(Settings{ExternalLabels: map[string]string{"cluster": "eu-1"}})
	b.SetResource(pcommon.NewResource())
	b.SetScope(pcommon.NewInstrumentationScope())
	s := seriesOf(t, b, map[string]any{"http.method": "GET", "code": 200, "empty": ""})
	require.Equal(t, 3, s.Labels, "http_method, code and the external label; empty values are no label")
	require.Equal(t, len("http_method"), s.MaxNameLength)
	require.Equal(t, OK, s.Check(Limits{MaxLabels: 4}, 10, 0), "3 labels and __name__")
	require.Equal(t, TooManyLabels, s.Check(Limits{MaxLabels: 4}, 10, 1), "plus le")
	require.Equal(t, NameTooLong, s.Check(Limits{MaxNameLength: 10}, 10, 0))
	require.Equal(t, ValueTooLong, s.Check(Limits{MaxValueLength: 9}, 10, 0), "the metric name is a label value too")
}

func TestInvalidAttributeNameMakesNoSeries(t *testing.T) {
	b := NewBuilder(Settings{})
	b.SetResource(pcommon.NewResource())
	b.SetScope(pcommon.NewInstrumentationScope())
	require.True(t, seriesOf(t, b, map[string]any{"___": "x"}).Invalid, "the translator rejects a name of underscores only")
	require.False(t, seriesOf(t, b, map[string]any{"0abc": "x"}).Invalid, "a leading digit gets key_ in front")
}
