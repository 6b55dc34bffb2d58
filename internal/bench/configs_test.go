package bench

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// -collector-args reaches every collector pipeline, never the peer's; with variants each
// collector pipeline runs as it is and again, keyed <key>+, with the arguments.
func TestWithCollectorArgs(t *testing.T) {
	pipelines := []Pipeline{
		{Key: "b", Name: "ordered_rw", Args: []string{"--set=x=1"}},
		{Key: "v", Name: "vmagent", Agent: "/bin/vmagent"},
	}
	gate := []string{"--feature-gates=pdata.useProtoPooling"}

	assert.Equal(t, pipelines, WithCollectorArgs(pipelines, nil, true), "no arguments: unchanged")

	assert.Equal(t, []Pipeline{
		{Key: "b", Name: "ordered_rw, --feature-gates=pdata.useProtoPooling", Args: []string{"--set=x=1", gate[0]}},
		{Key: "v", Name: "vmagent", Agent: "/bin/vmagent"},
	}, WithCollectorArgs(pipelines, gate, false))

	assert.Equal(t, []Pipeline{
		{Key: "b", Name: "ordered_rw", Args: []string{"--set=x=1"}},
		{Key: "b+", Name: "ordered_rw, --feature-gates=pdata.useProtoPooling", Args: []string{"--set=x=1", gate[0]}},
		{Key: "v", Name: "vmagent", Agent: "/bin/vmagent"},
	}, WithCollectorArgs(pipelines, gate, true))
	assert.Equal(t, []string{"--set=x=1"}, pipelines[0].Args, "the input's arguments are not appended to")
}
