// Package memlimit tells the memory the collector runs under, read one way for every component:
// the container's cgroup memory limit (v2 `memory.max`, else v1 `memory.limit_in_bytes`), the
// host's memory (MemTotal of /proc/meminfo), and for Get the Go runtime's soft limit
// (GOMEMLIMIT) before both. ordered_rw derives its `ordering.max_buffered_bytes` default from Get;
// fleet_health compares resident memory to CgroupLimit and resolves memory_limiter's
// `limit_percentage` against TotalMemory.
//
// CgroupLimit and TotalMemory mirror memory_limiter's reading (collector
// internal/memorylimiter v0.165.0, iruntime.TotalMemory and cgroups.MemoryQuotaV2), which is
// internal and cannot be imported. They differ from it on purpose in two ways: the cgroup v1
// file is read at the container's own mount (/sys/fs/cgroup/memory, as inside a container with a
// cgroup namespace) rather than found through /proc/self/mountinfo, and v1's "no limit" is any
// value from 2^62 up rather than the one value 9223372036854771712, which only holds for 4 KiB
// pages (64 KiB pages round it to 9223372036854710272).
package memlimit // import "github.com/otelcol-fleet/otelcol-fleet/internal/memlimit"

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// Where a limit came from, as logged.
const (
	SourceGOMEMLIMIT = "GOMEMLIMIT"
	SourceCgroup     = "cgroup"
	SourceHost       = "host memory"
)

// The files read, relative to the file system root handed in (os.DirFS("/") in production, an
// fstest.MapFS in tests): cgroup v2 first, then v1, then the host's memory.
const (
	CgroupV2Max   = "sys/fs/cgroup/memory.max"
	CgroupV1Limit = "sys/fs/cgroup/memory/memory.limit_in_bytes"
	ProcMeminfo   = "proc/meminfo"
)

// cgroupV1Unlimited: cgroup v1 reports "no limit" as math.MaxInt64 rounded down to a page
// boundary, which depends on the page size; anything from here up is no limit.
const cgroupV1Unlimited = 1 << 62

// Limit is the memory the collector runs under.
type Limit struct {
	Bytes  uint64
	Source string
}

// Get returns the memory the collector runs under: GOMEMLIMIT when it is set, else the cgroup
// limit, else the host's memory.
func Get() (Limit, error) {
	// A negative argument reads the limit without changing it; math.MaxInt64 is "none".
	return get(os.DirFS("/"), debug.SetMemoryLimit(-1))
}

func get(root fs.FS, goMemLimit int64) (Limit, error) {
	if goMemLimit > 0 && goMemLimit < math.MaxInt64 {
		return Limit{Bytes: uint64(goMemLimit), Source: SourceGOMEMLIMIT}, nil
	}
	if v, ok := CgroupLimit(root); ok {
		return Limit{Bytes: v, Source: SourceCgroup}, nil
	}
	total, err := hostMemory(root)
	if err != nil {
		return Limit{}, err
	}
	return Limit{Bytes: total, Source: SourceHost}, nil
}

// CgroupLimit reads the container's memory limit; ok is false when there is none: no cgroup
// file, v2's "max", v1's page-rounded MaxInt64, 0 or a value that does not parse.
func CgroupLimit(root fs.FS) (uint64, bool) {
	if b, err := fs.ReadFile(root, CgroupV2Max); err == nil {
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0, false
		}
		v, err := strconv.ParseUint(s, 10, 64)
		return v, err == nil && v > 0
	}
	if b, err := fs.ReadFile(root, CgroupV1Limit); err == nil {
		v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		return v, err == nil && v > 0 && v < cgroupV1Unlimited
	}
	return 0, false
}

// TotalMemory is what memory_limiter's `limit_percentage` is a share of: the cgroup limit when
// there is one, else the host's memory. GOMEMLIMIT plays no part, as in memory_limiter.
func TotalMemory(root fs.FS) (uint64, error) {
	if v, ok := CgroupLimit(root); ok {
		return v, nil
	}
	return hostMemory(root)
}

// hostMemory is MemTotal of /proc/meminfo, as gopsutil's mem.VirtualMemory().Total.
func hostMemory(root fs.FS) (uint64, error) {
	b, err := fs.ReadFile(root, ProcMeminfo)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseUint(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("MemTotal in /%s: %w", ProcMeminfo, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no MemTotal in /%s", ProcMeminfo)
}
