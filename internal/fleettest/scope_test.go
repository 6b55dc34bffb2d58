package fleettest

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunScoped(t *testing.T) {
	var order []int
	var dir string
	err := RunScoped(nil, func(s *Scope) {
		dir = s.TempDir()
		s.Cleanup(func() { order = append(order, 1) })
		s.Cleanup(func() { order = append(order, 2) })
		s.Fatalf("stop at %d", 3)
		order = append(order, 99) // never reached
	})
	require.EqualError(t, err, "stop at 3")
	assert.Equal(t, []int{2, 1}, order, "cleanups run in reverse order, and the fatal ends f")
	_, statErr := os.Stat(dir)
	assert.True(t, os.IsNotExist(statErr), "temporary directory removed")

	err = RunScoped(nil, func(s *Scope) { s.Errorf("a"); s.Errorf("b") })
	assert.EqualError(t, err, "a; b")
	assert.NoError(t, RunScoped(nil, func(*Scope) {}))
}

func TestScopeOnFatal(t *testing.T) {
	var got string
	s := &Scope{OnFatal: func(msg string) { got = msg }}
	s.Skipf("no %s", "prometheus")
	assert.Equal(t, "skipped: no prometheus", got)
	s.Close()
	s.Close()
}
