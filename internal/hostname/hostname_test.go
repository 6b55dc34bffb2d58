package hostname

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGetPrefersHOSTNAME(t *testing.T) {
	t.Setenv("HOSTNAME", "gateway-7f9c")
	got, err := Get()
	require.NoError(t, err)
	require.Equal(t, "gateway-7f9c", got)
}

func TestGetFallsBackToKernelName(t *testing.T) {
	t.Setenv("HOSTNAME", "")
	want, err := os.Hostname()
	require.NoError(t, err)
	got, err := Get()
	require.NoError(t, err)
	require.Equal(t, want, got)
}
