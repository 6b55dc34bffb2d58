package signals

import (
	"fmt"
	"io/fs"
	"math"
	"strconv"
	"strings"

	"github.com/otelcol-fleet/otelcol-fleet/internal/memlimit"
)

// Where a memory limit came from, as shown in /status.
const (
	LimitSourceMemoryLimiter = "memory_limiter"
	LimitSourceCgroup        = "cgroup"
	LimitSourceNone          = "none"
)

// MemoryLimit is what resident memory is compared to.
type MemoryLimit struct {
	Bytes  uint64
	Source string
	// Detail says which setting gave the limit, e.g. "memory_limiter/gw limit_mib=512".
	Detail string
}

// mib is memory_limiter's unit for `limit_mib`.
const mib = 1 << 20

// ResolveMemoryLimit picks the limit: the smallest memory_limiter limit found in the collector's
// effective `processors` section, else the cgroup's, else none. processors may be nil (no
// config snapshot yet).
func ResolveMemoryLimit(processors map[string]any, root fs.FS) MemoryLimit {
	best := MemoryLimit{Source: LimitSourceNone}
	for id, raw := range processors {
		if id != "memory_limiter" && !strings.HasPrefix(id, "memory_limiter/") {
			continue
		}
		cfg, _ := raw.(map[string]any)
		var limit uint64
		var detail string
		if v := number(cfg["limit_mib"]); v > 0 {
			limit = uint64(v) * mib
			detail = fmt.Sprintf("%s limit_mib=%d", id, uint64(v))
		} else if p := number(cfg["limit_percentage"]); p > 0 {
			total, err := memlimit.TotalMemory(root)
			if err != nil || total == 0 {
				continue
			}
			limit = uint64(float64(total) * p / 100)
			detail = fmt.Sprintf("%s limit_percentage=%g of %d bytes", id, p, total)
		}
		if limit > 0 && (best.Bytes == 0 || limit < best.Bytes) {
			best = MemoryLimit{Bytes: limit, Source: LimitSourceMemoryLimiter, Detail: detail}
		}
	}
	if best.Bytes > 0 {
		return best
	}
	if v, ok := memlimit.CgroupLimit(root); ok {
		return MemoryLimit{Bytes: v, Source: LimitSourceCgroup, Detail: "cgroup memory limit"}
	}
	return best
}

// number reads a YAML scalar as a float: the effective config may hold ints, floats or strings.
func number(v any) float64 {
	switch n := v.(type) {
	case int:
		return float64(n)
	case int64:
		return float64(n)
	case uint64:
		return float64(n)
	case uint32:
		return float64(n)
	case float64:
		if math.IsNaN(n) {
			return 0
		}
		return n
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		if err == nil {
			return f
		}
	}
	return 0
}
