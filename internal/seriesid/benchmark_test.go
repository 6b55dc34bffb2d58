package seriesid

import (
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// BenchmarkPoint is the per-point cost of the identity, as both callers pay it: a point with 1
// and with 5 attributes of typical lengths (keys of 4–16 bytes, values of 2–36).
//
//	go test -run '^$' -bench BenchmarkPoint ./internal/seriesid/
func BenchmarkPoint(b *testing.B) {
	all := []string{"k8s.pod.name", "checkout-7d9f8b6c5d-x2x4q", "http.method", "GET", "status", "200",
		"http.route", "/api/v1/orders/{id}", "instance.uuid", "3f2b8c1e-9a4d-4e6b-8f0a-1c2d3e4f5a6b"}
	for _, n := range []int{1, 5} {
		m := pcommon.NewMap()
		for i := 0; i < n; i++ {
			m.PutStr(all[2*i], all[2*i+1])
		}
		b.Run(fmt.Sprintf("attributes=%d", n), func(b *testing.B) {
			var sum uint64
			for b.Loop() {
				sum += Point(42, m)
			}
			sink = sum
		})
	}
}

var sink uint64
