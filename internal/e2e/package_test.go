package e2e

import (
	"testing"

	"go.uber.org/goleak"
)

// Every process a scenario starts is stopped in its cleanup; nothing may outlive the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
