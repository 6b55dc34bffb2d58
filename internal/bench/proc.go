package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat: 100 on every Linux
// architecture Go supports (the kernel's HZ may differ; USER_HZ does not).
const clockTicks = 100

// ProcCPUSeconds is the CPU time (user + system, all threads) a process used so far, from
// /proc/<pid>/stat fields 14 and 15.
func ProcCPUSeconds(pid int) (float64, error) {
	t, err := ReadProcTimes(pid)
	return t.User + t.System, err
}

// ProcTimes is what /proc/<pid>/stat says a process used so far (all threads).
type ProcTimes struct {
	// User and System CPU seconds (utime, stime).
	User, System float64
	// MinorFaults is minflt: pages the process touched for the first time since they were
	// mapped (or since the Go runtime returned them to the OS), each zeroed by the kernel.
	MinorFaults int64
}

// ReadProcTimes reads fields 10 (minflt), 14 (utime) and 15 (stime) of /proc/<pid>/stat.
func ReadProcTimes(pid int) (ProcTimes, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcTimes{}, err
	}
	// The command name (field 2) is in parentheses and may contain spaces: split after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ProcTimes{}, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, b)
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state), so minflt (10), utime (14) and stime (15) are fields[7],
	// fields[11] and fields[12].
	if len(fields) < 13 {
		return ProcTimes{}, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, b)
	}
	minflt, err0 := strconv.ParseInt(fields[7], 10, 64)
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err0 != nil || err1 != nil || err2 != nil {
		return ProcTimes{}, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, b)
	}
	return ProcTimes{User: float64(utime) / clockTicks, System: float64(stime) / clockTicks, MinorFaults: minflt}, nil
}

// ProcMemory is a process' resident memory from /proc/<pid>/status, in bytes.
type ProcMemory struct {
	// PeakRSS is VmHWM, the high-water mark of the resident set over the process' life.
	PeakRSS int64
	// RSS is VmRSS, the resident set now: RSSAnon (heap, stacks, the runtime's own memory)
	// plus RSSFile (pages of the binary and other files mapped and touched) plus shared memory.
	RSS     int64
	RSSAnon int64
	RSSFile int64
}

// ReadProcMemory reads VmHWM, VmRSS, RssAnon and RssFile.
func ReadProcMemory(pid int) (ProcMemory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcMemory{}, err
	}
	defer f.Close()
	var m ProcMemory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "VmHWM:"):
			m.PeakRSS, err = parseKB(line)
		case strings.HasPrefix(line, "VmRSS:"):
			m.RSS, err = parseKB(line)
		case strings.HasPrefix(line, "RssAnon:"):
			m.RSSAnon, err = parseKB(line)
		case strings.HasPrefix(line, "RssFile:"):
			m.RSSFile, err = parseKB(line)
		}
		if err != nil {
			return ProcMemory{}, err
		}
	}
	if m.PeakRSS == 0 || m.RSS == 0 {
		return ProcMemory{}, fmt.Errorf("no VmHWM/VmRSS in /proc/%d/status", pid)
	}
	return m, sc.Err()
}

func parseKB(line string) (int64, error) {
	f := strings.Fields(line)
	if len(f) != 3 || f[2] != "kB" {
		return 0, fmt.Errorf("unexpected line %q", line)
	}
	v, err := strconv.ParseInt(f[1], 10, 64)
	return v * 1024, err
}
