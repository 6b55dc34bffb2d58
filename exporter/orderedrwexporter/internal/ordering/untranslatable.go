package ordering // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/ordering"

import (
	"github.com/prometheus/prometheus/prompb"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
)

// Untranslatable counts n samples dropped before they became series (the translator left them
// out) for reason, and logs them with the drops of the engine, example being one of their series.
func (e *Engine) Untranslatable(n int, reason string, example []prompb.Label, err error) {
	if n <= 0 {
		return
	}
	e.tel.Dropped(n, reason)
	e.drops.Note(reason, n, sample.NewLabels(example), err)
}
