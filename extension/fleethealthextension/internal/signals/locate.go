package signals

import (
	"fmt"
	"net"
	"strconv"
)

// TelemetryURL finds where the collector serves its own telemetry in its effective configuration
// (conf is the whole of it): the first pull Prometheus reader in service::telemetry::metrics, with
// a wildcard host read as localhost. ok is false when there is none.
func TelemetryURL(conf map[string]any) (string, bool) {
	readers, _ := dig(conf, "service", "telemetry", "metrics", "readers").([]any)
	for _, r := range readers {
		rm, _ := r.(map[string]any)
		prom, _ := dig(rm, "pull", "exporter", "prometheus").(map[string]any)
		if prom == nil {
			continue
		}
		host := fmt.Sprint(prom["host"])
		switch host {
		case "", "<nil>", "0.0.0.0", "::", "[::]":
			host = "localhost"
		}
		port := fmt.Sprint(prom["port"])
		if _, err := strconv.Atoi(port); err != nil {
			continue
		}
		return "http://" + net.JoinHostPort(host, port) + "/metrics", true
	}
	return "", false
}

func dig(m map[string]any, keys ...string) any {
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}
