// Package memlimit tells the memory the collector runs under, from which ordered_rw derives the
// default of its memory budget (`ordering.max_buffered_bytes`): the Go runtime's soft limit
// (GOMEMLIMIT) when one is set, else the container's cgroup memory limit, else the host's memory.
// The cgroup and host readings are memory_limiter's (collector internal/memorylimiter v0.165.0,
// iruntime.TotalMemory, which is internal and cannot be imported), and the same as
// fleet_health's internal/signals, which components may not import either.
package memlimit // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/memlimit"

import (
	"bufio"
	"bytes"
	"errors"
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

// Limit is the memory the collector runs under.
type Limit struct {
	Bytes  uint64
	Source string
}

// cgroup and proc files, relative to the file system root: cgroup v2 first, then v1.
const (
	cgroupV2Max   = "sys/fs/cgroup/memory.max"
	cgroupV1Limit = "sys/fs/cgroup/memory/memory.limit_in_bytes"
	procMeminfo   = "proc/meminfo"
	// cgroup v1 reports "no limit" as a huge page-aligned number; anything above this is none.
	cgroupV1Unlimited = 1 << 62
)

// Get returns the memory the collector runs under.
func Get() (Limit, error) {
	// A negative argument reads the limit without changing it; math.MaxInt64 is "none".
	return get(os.DirFS("/"), debug.SetMemoryLimit(-1))
}

func get(root fs.FS, goMemLimit int64) (Limit, error) {
	if goMemLimit > 0 && goMemLimit < math.MaxInt64 {
		return Limit{Bytes: uint64(goMemLimit), Source: SourceGOMEMLIMIT}, nil
	}
	if v, ok := cgroupLimit(root); ok {
		return Limit{Bytes: v, Source: SourceCgroup}, nil
	}
	total, err := hostMemory(root)
	if err != nil {
		return Limit{}, err
	}
	return Limit{Bytes: total, Source: SourceHost}, nil
}

// cgroupLimit reads the container's memory limit; ok is false when there is none.
func cgroupLimit(root fs.FS) (uint64, bool) {
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

// hostMemory is MemTotal of /proc/meminfo.
func hostMemory(root fs.FS) (uint64, error) {
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
	return 0, errors.New("no MemTotal in /proc/meminfo")
}
