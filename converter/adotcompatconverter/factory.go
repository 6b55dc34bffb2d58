// Package adotcompatconverter rewrites settings that ADOT-era configs (and the operating guide)
// use but the v0.165 collector retired, to their current equivalents, and says so in one warning
// per rewrite. Where the meaning cannot be preserved it leaves the config alone, so `validate`
// fails with the upstream error, and adds a hint of its own.
package adotcompatconverter // import "github.com/otelcol-fleet/otelcol-fleet/converter/adotcompatconverter"

import (
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/featuregate"
	"go.uber.org/zap"
)

// gateID is the switch that turns the converter off:
// `otelcol-fleet --feature-gates=-otelcolfleet.adotCompat ...`.
const gateID = "otelcolfleet.adotCompat"

// Gate is on by default: an ADOT config should run unchanged unless the operator opts out.
var Gate = featuregate.GlobalRegistry().MustRegister(
	gateID,
	featuregate.StageBeta,
	featuregate.WithRegisterDescription("Rewrite settings retired since ADOT-era configs (metrics.address, "+
		"the logging exporter, memory ballast, awsprometheusremotewrite, sending_queue on remote write) "+
		"to their current equivalents, with a warning for each."),
)

// NewFactory returns the factory OCB wires into the distribution's config resolver.
func NewFactory() confmap.ConverterFactory {
	return confmap.NewConverterFactory(newConverter)
}

func newConverter(set confmap.ConverterSettings) confmap.Converter {
	logger := set.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	return &converter{logger: logger, report: defaultReporter(logger)}
}
