package adotcompatconverter

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/confmap"
)

// d is the confmap key delimiter.
const d = "::"

func key(parts ...string) string { return strings.Join(parts, d) }

// dotted renders a confmap key the way users write it in YAML paths.
func dotted(k string) string { return strings.ReplaceAll(k, d, ".") }

// componentIDs lists the IDs under a section (exporters, processors, extensions) whose type is typ
// ("typ" or "typ/name").
func componentIDs(conf *confmap.Conf, section, typ string) []string {
	m, _ := conf.Get(section).(map[string]any)
	var ids []string
	for id := range m {
		if id == typ || strings.HasPrefix(id, typ+"/") {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// withType returns id with its type replaced ("logging/x" -> "debug/x").
func withType(id, typ string) string {
	if _, name, ok := strings.Cut(id, "/"); ok {
		return typ + "/" + name
	}
	return typ
}

// subMap returns the map at key, or an empty one (`logging:` with no body is nil).
func subMap(conf *confmap.Conf, k string) map[string]any {
	if m, ok := conf.Get(k).(map[string]any); ok {
		return m
	}
	return map[string]any{}
}

// set replaces the value at key (a delete first, so lists are replaced, never appended).
func set(conf *confmap.Conf, k string, v any) error {
	conf.Delete(k)
	parts := strings.Split(k, d)
	var m any = v
	for i := len(parts) - 1; i >= 0; i-- {
		m = map[string]any{parts[i]: m}
	}
	return conf.Merge(confmap.NewFromStringMap(m.(map[string]any)))
}

// renameComponent moves a component's config to a new ID and updates every pipeline (or the
// service's extension list) that names it.
func renameComponent(conf *confmap.Conf, section, oldID, newID string, body map[string]any) error {
	conf.Delete(key(section, oldID))
	if err := set(conf, key(section, newID), body); err != nil {
		return err
	}
	if section == "extensions" {
		return replaceInList(conf, key("service", "extensions"), oldID, newID)
	}
	pipelines, _ := conf.Get(key("service", "pipelines")).(map[string]any)
	for name := range pipelines {
		if err := replaceInList(conf, key("service", "pipelines", name, section), oldID, newID); err != nil {
			return err
		}
	}
	return nil
}

// replaceInList swaps oldID for newID in the list at k; an empty newID removes it.
func replaceInList(conf *confmap.Conf, k, oldID, newID string) error {
	list, ok := conf.Get(k).([]any)
	if !ok {
		return nil
	}
	out := make([]any, 0, len(list))
	changed := false
	for _, v := range list {
		if v == oldID {
			changed = true
			if newID == "" {
				continue
			}
			v = newID
		}
		out = append(out, v)
	}
	if !changed {
		return nil
	}
	return set(conf, k, out)
}

// rewriteTelemetryAddress: service.telemetry.metrics.address (removed in v0.123) becomes a
// Prometheus pull reader on the same host and port.
func rewriteTelemetryAddress(conf *confmap.Conf) ([]finding, error) {
	addrKey := key("service", "telemetry", "metrics", "address")
	if !conf.IsSet(addrKey) {
		return nil, nil
	}
	readersKey := key("service", "telemetry", "metrics", "readers")
	addr := fmt.Sprint(conf.Get(addrKey))
	host, portStr, err := net.SplitHostPort(addr)
	port, perr := strconv.Atoi(portStr)
	line := fmt.Sprintf("service.telemetry.metrics.readers: [{pull: {exporter: {prometheus: {host: %q, port: %s}}}}]", host, portStr)
	switch {
	case err != nil || perr != nil:
		return []finding{{oldKey: dotted(addrKey), newKey: dotted(readersKey), why: fmt.Sprintf("%q is not host:port", addr),
			line: "service.telemetry.metrics.readers: [{pull: {exporter: {prometheus: {host: <host>, port: <port>}}}}]"}}, nil
	case conf.IsSet(readersKey):
		return []finding{{oldKey: dotted(addrKey), newKey: dotted(readersKey), why: "readers are set too, and the two cannot be merged safely", line: line}}, nil
	}
	conf.Delete(addrKey)
	reader := map[string]any{"pull": map[string]any{"exporter": map[string]any{"prometheus": map[string]any{"host": host, "port": port}}}}
	if err := set(conf, readersKey, []any{reader}); err != nil {
		return nil, err
	}
	return []finding{{rewrote: true, oldKey: dotted(addrKey), newKey: dotted(readersKey), line: line}}, nil
}

// verbosityFor maps the retired `loglevel` to `verbosity` the way the logging exporter did.
func verbosityFor(loglevel any) (string, bool) {
	switch strings.ToLower(fmt.Sprint(loglevel)) {
	case "debug":
		return "detailed", true
	case "info":
		return "normal", true
	case "warn", "error":
		return "basic", true
	}
	return "", false
}

// moveLoglevel rewrites loglevel to verbosity in body; it reports a hint when it cannot.
func moveLoglevel(body map[string]any, oldKey, newKey string) (finding, bool) {
	lvl, ok := body["loglevel"]
	if !ok {
		return finding{}, true
	}
	verbosity, known := verbosityFor(lvl)
	if !known {
		return finding{oldKey: oldKey, newKey: newKey, why: fmt.Sprintf("loglevel %v has no verbosity equivalent", lvl),
			line: "verbosity: basic | normal | detailed"}, false
	}
	if v, set := body["verbosity"]; set && v != verbosity {
		return finding{oldKey: oldKey, newKey: newKey, why: fmt.Sprintf("verbosity %v is set too and disagrees", v),
			line: "verbosity: " + verbosity}, false
	}
	delete(body, "loglevel")
	body["verbosity"] = verbosity
	return finding{}, true
}

// rewriteLoggingExporter: the `logging` exporter (removed in v0.111) becomes `debug`, its loglevel
// becoming the matching verbosity.
func rewriteLoggingExporter(conf *confmap.Conf) ([]finding, error) {
	var out []finding
	for _, id := range componentIDs(conf, "exporters", "logging") {
		newID := withType(id, "debug")
		oldKey, newKey := "exporters."+id, "exporters."+newID
		if conf.IsSet(key("exporters", newID)) {
			out = append(out, finding{oldKey: oldKey, newKey: newKey, why: newKey + " exists already", line: newKey + ": {verbosity: normal}"})
			continue
		}
		body := subMap(conf, key("exporters", id))
		if hint, ok := moveLoglevel(body, oldKey+".loglevel", newKey+".verbosity"); !ok {
			out = append(out, hint)
			continue
		}
		if err := renameComponent(conf, "exporters", id, newID, body); err != nil {
			return nil, err
		}
		out = append(out, finding{rewrote: true, oldKey: oldKey, newKey: newKey, line: fmt.Sprintf("%s: %s (and %q in the pipelines)", newKey, flowMap(body), newID)})
	}
	return out, nil
}

// rewriteDebugLoglevel: debug exporter `loglevel` (removed in v0.111) becomes `verbosity`.
func rewriteDebugLoglevel(conf *confmap.Conf) ([]finding, error) {
	var out []finding
	for _, id := range componentIDs(conf, "exporters", "debug") {
		k := key("exporters", id)
		body := subMap(conf, k)
		if _, ok := body["loglevel"]; !ok {
			continue
		}
		oldKey, newKey := dotted(key(k, "loglevel")), dotted(key(k, "verbosity"))
		if hint, ok := moveLoglevel(body, oldKey, newKey); !ok {
			out = append(out, hint)
			continue
		}
		conf.Delete(key(k, "loglevel"))
		if err := set(conf, key(k, "verbosity"), body["verbosity"]); err != nil {
			return nil, err
		}
		out = append(out, finding{rewrote: true, oldKey: oldKey, newKey: newKey, line: fmt.Sprintf("%s: %v", newKey, body["verbosity"])})
	}
	return out, nil
}

// rewriteBallastSize: memory_limiter `ballast_size_mib` is gone with the ballast; the Go runtime's
// soft memory limit (GOMEMLIMIT, which the memory_limiter's limits already bound) replaced it.
func rewriteBallastSize(conf *confmap.Conf) ([]finding, error) {
	var out []finding
	for _, id := range componentIDs(conf, "processors", "memory_limiter") {
		k := key("processors", id, "ballast_size_mib")
		if !conf.IsSet(k) {
			continue
		}
		conf.Delete(k)
		out = append(out, finding{rewrote: true, oldKey: dotted(k), newKey: "(removed)",
			line: "nothing: delete ballast_size_mib; to cap the heap set the GOMEMLIMIT environment variable"})
	}
	return out, nil
}

// rewriteMemoryBallast: the memory_ballast extension (removed in v0.103) is dropped, for the same
// reason as ballast_size_mib.
func rewriteMemoryBallast(conf *confmap.Conf) ([]finding, error) {
	var out []finding
	for _, id := range componentIDs(conf, "extensions", "memory_ballast") {
		conf.Delete(key("extensions", id))
		if err := replaceInList(conf, key("service", "extensions"), id, ""); err != nil {
			return nil, err
		}
		out = append(out, finding{rewrote: true, oldKey: "extensions." + id, newKey: "(removed)",
			line: fmt.Sprintf("nothing: delete extensions.%s and its entry in service.extensions; to cap the heap set GOMEMLIMIT", id)})
	}
	return out, nil
}

// rewriteAWSPrometheusRemoteWrite: ADOT's awsprometheusremotewrite exporter became the
// prometheus_remote_write exporter authenticated by the sigv4auth extension; its aws_auth block
// moves to the extension (role_arn to assume_role.arn).
func rewriteAWSPrometheusRemoteWrite(conf *confmap.Conf) ([]finding, error) {
	var out []finding
	for _, id := range componentIDs(conf, "exporters", "awsprometheusremotewrite") {
		newID, authID := withType(id, "prometheus_remote_write"), withType(id, "sigv4auth")
		oldKey, newKey := "exporters."+id, "exporters."+newID
		body := subMap(conf, key("exporters", id))
		awsAuth, _ := body["aws_auth"].(map[string]any)
		if awsAuth == nil {
			awsAuth = map[string]any{}
		}
		sigv4 := map[string]any{}
		unknown := []string{}
		for k, v := range awsAuth {
			switch k {
			case "region", "service":
				sigv4[k] = v
			case "role_arn":
				sigv4["assume_role"] = map[string]any{"arn": v}
			default:
				unknown = append(unknown, k)
			}
		}
		line := fmt.Sprintf("extensions.%s: %s; %s: {endpoint: ..., auth: {authenticator: %s}}", authID, flowMap(sigv4), newKey, authID)
		switch {
		case conf.IsSet(key("exporters", newID)) || conf.IsSet(key("extensions", authID)):
			out = append(out, finding{oldKey: oldKey, newKey: newKey, why: newKey + " or extensions." + authID + " exists already", line: line})
			continue
		case len(unknown) > 0:
			sort.Strings(unknown)
			out = append(out, finding{oldKey: oldKey, newKey: newKey, why: "aws_auth has settings sigv4auth does not know: " + strings.Join(unknown, ", "), line: line})
			continue
		}
		if _, ok := sigv4["service"]; !ok {
			sigv4["service"] = "aps"
		}
		delete(body, "aws_auth")
		body["auth"] = map[string]any{"authenticator": authID}
		if err := renameComponent(conf, "exporters", id, newID, body); err != nil {
			return nil, err
		}
		if err := set(conf, key("extensions", authID), sigv4); err != nil {
			return nil, err
		}
		exts, _ := conf.Get(key("service", "extensions")).([]any)
		if err := set(conf, key("service", "extensions"), append(exts, authID)); err != nil {
			return nil, err
		}
		out = append(out, finding{rewrote: true, oldKey: oldKey, newKey: newKey + " + extensions." + authID,
			line: fmt.Sprintf("extensions.%s: %s; %s: {endpoint: ..., auth: {authenticator: %s}}; service.extensions: [..., %s]", authID, flowMap(sigv4), newKey, authID, authID)})
	}
	return out, nil
}

// queueKeys are the sending_queue settings remote_write_queue has with the same meaning.
var queueKeys = map[string]bool{"enabled": true, "num_consumers": true, "queue_size": true}

// rewriteRemoteWriteSendingQueue: the remote-write exporter never honoured exporterhelper's
// sending_queue; its own queue is remote_write_queue, with the same enabled, num_consumers and
// queue_size settings.
func rewriteRemoteWriteSendingQueue(conf *confmap.Conf) ([]finding, error) {
	var out []finding
	ids := append(componentIDs(conf, "exporters", "prometheus_remote_write"), componentIDs(conf, "exporters", "prometheusremotewrite")...)
	for _, id := range ids {
		k := key("exporters", id, "sending_queue")
		if !conf.IsSet(k) {
			continue
		}
		newK := key("exporters", id, "remote_write_queue")
		queue := subMap(conf, k)
		var unknown []string
		for name := range queue {
			if !queueKeys[name] {
				unknown = append(unknown, name)
			}
		}
		line := fmt.Sprintf("%s: %s", dotted(newK), flowMap(queue))
		switch {
		case conf.IsSet(newK):
			out = append(out, finding{oldKey: dotted(k), newKey: dotted(newK), why: "remote_write_queue is set too", line: dotted(newK) + ": {...}"})
			continue
		case len(unknown) > 0:
			sort.Strings(unknown)
			out = append(out, finding{oldKey: dotted(k), newKey: dotted(newK),
				why: "remote_write_queue has no " + strings.Join(unknown, ", "), line: dotted(newK) + ": {enabled, num_consumers, queue_size}"})
			continue
		}
		conf.Delete(k)
		if err := set(conf, newK, queue); err != nil {
			return nil, err
		}
		out = append(out, finding{rewrote: true, oldKey: dotted(k), newKey: dotted(newK), line: line})
	}
	return out, nil
}

// flowMap renders a small map as YAML flow style with sorted keys, for warning text.
func flowMap(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		switch v := m[k].(type) {
		case map[string]any:
			parts = append(parts, k+": "+flowMap(v))
		case string:
			parts = append(parts, fmt.Sprintf("%s: %q", k, v))
		default:
			parts = append(parts, fmt.Sprintf("%s: %v", k, v))
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
