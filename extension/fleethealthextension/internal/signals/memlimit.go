package signals

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"math"
	"strconv"
	"strings"
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

// cgroup files, relative to the file system root. v2 first, then v1.
const (
	cgroupV2Max   = "sys/fs/cgroup/memory.max"
	cgroupV1Limit = "sys/fs/cgroup/memory/memory.limit_in_bytes"
	procMeminfo   = "proc/meminfo"
	// cgroup v1 reports "no limit" as a huge page-aligned number; anything above this is none.
	cgroupV1Unlimited = 1 << 62
	mib               = 1 << 20
)

// CgroupLimit reads the container's memory limit; ok is false when there is none.
func CgroupLimit(root fs.FS) (uint64, bool) {
	if b, err := fs.ReadFile(root, cgroupV2Max); err == nil {
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0, false
		}
		v, err := strconv.ParseUint(s, 10, 64)
		return v, err == nil && v > 0
	}
	if b, err := fs.ReadFile(root, cgroupV1Limit); err == nil {
		v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		return v, err == nil && v > 0 && v < cgroupV1Unlimited
	}
	return 0, false
}

// TotalMemory is what memory_limiter's limit_percentage is a share of: the cgroup limit when
// there is one, else the host's memory (as memory_limiter computes it).
func TotalMemory(root fs.FS) (uint64, error) {
	if v, ok := CgroupLimit(root); ok {
		return v, nil
	}
	b, err := fs.ReadFile(root, procMeminfo)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseUint(fields[1], 10, 64)
			if err != nil {
				return 0, err
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no MemTotal in /%s", procMeminfo)
}

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
			total, err := TotalMemory(root)
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
	if v, ok := CgroupLimit(root); ok {
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
