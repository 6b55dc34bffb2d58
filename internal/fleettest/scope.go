package fleettest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// Scope implements T outside `go test`, for the benchmark driver and the demo: cleanups
// (stopping processes, removing temporary directories) run at Close, in reverse order, once.
// A fatal error calls OnFatal; without one it ends the enclosing RunScoped, not the program.
type Scope struct {
	// Log receives Logf output (nil: discarded).
	Log io.Writer
	// OnFatal, when set, handles Fatal, Fatalf and Skipf instead of RunScoped.
	OnFatal func(msg string)

	mu       sync.Mutex
	closing  sync.Mutex // held through Close: a second caller waits for the first to finish
	cleanups []func()
	dirs     []string
	errs     []string
}

type scopeFailure struct{ msg string }

func (s *Scope) Helper() {}

func (s *Scope) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

func (s *Scope) TempDir() string {
	dir, err := os.MkdirTemp("", "otelcol-fleet-")
	if err != nil {
		s.Fatal(err)
	}
	s.mu.Lock()
	s.dirs = append(s.dirs, dir)
	s.mu.Unlock()
	return dir
}

func (s *Scope) Logf(format string, args ...any) {
	if s.Log != nil {
		fmt.Fprintf(s.Log, format+"\n", args...)
	}
}

func (s *Scope) Errorf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, fmt.Sprintf(format, args...))
}

func (s *Scope) Fatal(args ...any)                 { s.fail(fmt.Sprint(args...)) }
func (s *Scope) Fatalf(format string, args ...any) { s.fail(fmt.Sprintf(format, args...)) }
func (s *Scope) Skipf(format string, args ...any)  { s.fail("skipped: " + fmt.Sprintf(format, args...)) }

func (s *Scope) fail(msg string) {
	if s.OnFatal != nil {
		s.OnFatal(msg)
		return
	}
	panic(scopeFailure{msg})
}

// Close runs the cleanups in reverse order and removes the temporary directories; a second
// call waits for the first, then finds nothing left to do.
func (s *Scope) Close() {
	s.closing.Lock()
	defer s.closing.Unlock()
	s.mu.Lock()
	fs, dirs := s.cleanups, s.dirs
	s.cleanups, s.dirs = nil, nil
	s.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
	for _, dir := range dirs {
		_ = os.RemoveAll(dir)
	}
}

// RunScoped runs f with a fresh Scope and returns its fatal error or the errors it reported,
// after its cleanups ran.
func RunScoped(log io.Writer, f func(s *Scope)) (err error) {
	s := &Scope{Log: log}
	defer func() {
		if r := recover(); r != nil {
			failure, ok := r.(scopeFailure)
			if !ok {
				s.Close()
				panic(r)
			}
			err = errors.New(failure.msg)
		}
		s.Close()
		if err == nil && len(s.errs) > 0 {
			err = errors.New(strings.Join(s.errs, "; "))
		}
	}()
	f(s)
	return nil
}

var _ T = (*Scope)(nil)
