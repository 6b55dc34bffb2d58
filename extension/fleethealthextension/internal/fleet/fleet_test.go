package fleet

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

func set(rep Report) func(*Report) { return func(r *Report) { *r = rep } }

func TestRegistryStates(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	r := NewRegistry(30*time.Second, 10*time.Minute, 10, clock.Now)
	created, err := r.Apply("b", "o", set(Report{ID: "agent-b", Role: "agent", Ready: true, Verdict: "ready"}))
	require.NoError(t, err)
	require.True(t, created)
	_, err = r.Apply("a", "o", set(Report{ID: "agent-a", Role: "agent", Ready: false, Verdict: "not_ready", Reasons: []string{"exporter x queue full"}}))
	require.NoError(t, err)
	require.Equal(t, map[string]int{StateReady: 1, StateNotReady: 1, StateMissing: 0}, r.Counts())

	clock.t = clock.t.Add(20 * time.Second)
	created, err = r.Apply("b", "o", nil)
	require.NoError(t, err)
	require.False(t, created, "a heartbeat refreshes the member")
	clock.t = clock.t.Add(10 * time.Second)
	members := r.Members()
	require.Len(t, members, 2)
	require.Equal(t, "agent-a", members[0].ID)
	require.Equal(t, StateMissing, members[0].State, "silent for stale_after")
	require.InDelta(t, 30, members[0].AgeSeconds, 1e-9)
	require.Equal(t, "not_ready", members[0].Verdict, "missing, with the last verdict it reported")
	require.Equal(t, StateReady, members[1].State)
	require.InDelta(t, 10, members[1].AgeSeconds, 1e-9)
	require.Equal(t, map[string]int{StateReady: 1, StateNotReady: 0, StateMissing: 1}, r.Counts())

	// Forgotten after forget_after.
	clock.t = clock.t.Add(10 * time.Minute)
	require.Empty(t, r.Members())
	require.False(t, r.Known("a"))
}

func TestRegistryLimits(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	r := NewRegistry(time.Second, time.Minute, 2, clock.Now)
	_, err := r.Apply("a", "o", set(Report{ID: "a"}))
	require.NoError(t, err)
	_, err = r.Apply("b", "o", set(Report{ID: "b"}))
	require.NoError(t, err)
	_, err = r.Apply("c", "o", set(Report{ID: "c"}))
	require.ErrorIs(t, err, ErrMemberLimit, "full: a new member is refused")
	clock.t = clock.t.Add(30 * time.Second)
	_, err = r.Apply("c", "o", nil)
	require.ErrorIs(t, err, ErrMemberLimit, "missing members are not evicted either, until forgotten")
	_, err = r.Apply("a", "o", set(Report{ID: "a", Ready: true}))
	require.NoError(t, err, "known members always update")
	clock.t = clock.t.Add(40 * time.Second)
	_, err = r.Apply("c", "o", nil)
	require.NoError(t, err, "forgotten members free their place")
}

// TestRegistryOwner: an instance uid belongs to whoever reported it first, until forgotten.
func TestRegistryOwner(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	r := NewRegistry(time.Second, time.Minute, 10, clock.Now)
	_, err := r.Apply("uid", "alice", set(Report{ID: "alice-agent", Ready: true}))
	require.NoError(t, err)
	_, err = r.Apply("uid", "mallory", set(Report{ID: "forged", Ready: false}))
	require.ErrorIs(t, err, ErrNotOwner)
	require.Equal(t, "alice-agent", r.Members()[0].ID, "not overwritten")
	require.True(t, r.Members()[0].Ready)
	clock.t = clock.t.Add(time.Minute)
	_, err = r.Apply("uid", "mallory", set(Report{ID: "new"}))
	require.NoError(t, err, "after forget_after the uid is free")
}

// TestRestartedMemberReplacesItsOldEntry: a collector restarts with a new instance uid and
// the same name: its old entry goes, unless someone else owned it.
func TestRestartedMemberReplacesItsOldEntry(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	r := NewRegistry(time.Second, time.Minute, 10, clock.Now)
	_, err := r.Apply("old-uid", "gw-cred", set(Report{ID: "gateway-2"}))
	require.NoError(t, err)
	_, err = r.Apply("other-owner-uid", "someone-else", set(Report{ID: "gateway-2"}))
	require.NoError(t, err)
	_, err = r.Apply("new-uid", "gw-cred", set(Report{ID: "gateway-2", Ready: true}))
	require.NoError(t, err)
	uids := []string{}
	for _, m := range r.Members() {
		uids = append(uids, m.InstanceUID)
	}
	require.ElementsMatch(t, []string{"new-uid", "other-owner-uid"}, uids)
}

// TestReportSanitize: what a member sends is bounded, whatever it sends.
func TestReportSanitize(t *testing.T) {
	rep := Report{
		ID:      strings.Repeat("é", MaxStringLength),
		Role:    strings.Repeat("r", 10*MaxStringLength),
		Reasons: make([]string, 50),
		Signals: map[string]float64{"queue": 0.5, "memory": math.NaN(), "made_up": 1, "send_lag": math.Inf(1)},
	}
	rep.Reasons[0] = strings.Repeat("x", 10*MaxReasonLength)
	rep.Sanitize()
	require.LessOrEqual(t, len(rep.ID), MaxStringLength)
	require.True(t, utf8.ValidString(rep.ID), "cut on a rune boundary")
	require.Len(t, rep.Role, MaxStringLength)
	require.Len(t, rep.Reasons, MaxReasons)
	require.Len(t, rep.Reasons[0], MaxReasonLength)
	require.Equal(t, map[string]float64{"queue": 0.5}, rep.Signals)
}

func TestTrend(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	r := NewRegistry(time.Minute, time.Hour, 10, clock.Now)
	for i := range 2 * TrendPoints {
		_, err := r.Apply("a", "o", func(rep *Report) {
			rep.ID = "a"
			rep.Signals = map[string]float64{"queue": float64(i) / 200, "memory": 0.5}
		})
		require.NoError(t, err)
		// A second report within the step keeps the worst of the two.
		_, err = r.Apply("a", "o", func(rep *Report) { rep.Signals = map[string]float64{"queue": 0, "memory": 0.25} })
		require.NoError(t, err)
		clock.t = clock.t.Add(TrendStep)
	}
	tr := r.Members()[0].Trend
	require.NotNil(t, tr)
	require.Len(t, tr.Queue, TrendPoints, "bounded: the oldest points are overwritten")
	require.InDelta(t, float64(TrendPoints)/200, tr.Queue[0], 1e-3, "oldest first")
	require.InDelta(t, float64(2*TrendPoints-1)/200, tr.Queue[TrendPoints-1], 1e-3)
	require.InDelta(t, 0.5, tr.Memory[5], 1e-3)
	require.InDelta(t, -1, tr.SendLag[5], 0, "not reported")
}

func TestSortWorstFirst(t *testing.T) {
	ms := []Member{
		{Report: Report{ID: "ok-low", Signals: map[string]float64{"queue": 0.1}}, State: StateReady},
		{Report: Report{ID: "gone"}, State: StateMissing},
		{Report: Report{ID: "ok-high", Signals: map[string]float64{"memory": 0.7}}, State: StateReady},
		{Report: Report{ID: "bad"}, State: StateNotReady},
	}
	SortWorstFirst(ms)
	ids := []string{}
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	require.Equal(t, []string{"bad", "gone", "ok-high", "ok-low"}, ids)
}

func TestSparkline(t *testing.T) {
	require.Empty(t, Sparkline("q", []float64{-1, -1}), "nothing to draw")
	svg := string(Sparkline("queue <fill>", []float64{0, 0.5, 1, -1, 2}))
	require.Contains(t, svg, `<svg class="spark" width="60" height="16"`)
	require.Contains(t, svg, `aria-label="queue &lt;fill&gt;"`)
	// Scaled to the highest value (2): 0 at the bottom, 2 at the top; -1 is a gap.
	require.Contains(t, svg, `points="0.0,15.0 15.0,11.5 30.0,8.0 60.0,1.0"`)
}

func TestRenderPage(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, RenderPage(&buf, View{
		GeneratedAt:       time.Unix(0, 0).UTC(),
		StaleAfterSeconds: 30,
		Counts:            map[string]int{StateReady: 1, StateNotReady: 0, StateMissing: 1},
		Members: []Member{
			{Report: Report{ID: "gw-1", Role: "gateway", Ready: true, Verdict: "ready", Signals: map[string]float64{"queue": 0.25}}, State: StateReady, Self: true,
				Trend: &Trend{StepSeconds: 5, Queue: []float64{0.1, 0.25}, SendLag: []float64{-1, -1}, Memory: []float64{0.3, 0.3}}},
			{Report: Report{ID: "<script>alert(1)</script>", Role: "agent", Verdict: "not_ready", Reasons: []string{"queue full"}}, State: StateMissing, AgeSeconds: 42},
		},
	}))
	page := buf.String()
	require.Contains(t, page, `<tr data-member="gw-1" data-state="ready"><td>gw-1 (this collector)</td><td>gateway</td><td class="state-ready">ready</td><td>ready</td>`)
	require.Contains(t, page, "queue 25%")
	require.Contains(t, page, `<td class="trend"><span>queue<svg class="spark"`, "the trend is drawn inline")
	require.Contains(t, page, `<span>lag</span>`, "no lag reported: no line")
	require.Contains(t, page, "missing: 1")
	require.Contains(t, page, "42s ago")
	require.Contains(t, page, "&lt;script&gt;alert(1)&lt;/script&gt;")
	require.NotContains(t, page, "<script>alert(1)")
	require.NotContains(t, page, "http://", "self-contained: nothing loaded from elsewhere")
}
