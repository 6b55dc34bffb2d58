package distribution

import (
	"testing"

	"go.uber.org/goleak"
)

// Every binary a test starts is stopped in its cleanup; nothing may outlive the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
