package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

func TestRegistryStates(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	r := NewRegistry(30*time.Second, 10*time.Minute, 10, clock.Now)
	require.NoError(t, r.Record(Report{ID: "agent-b", Role: "agent", Ready: true, Verdict: "ready"}))
	require.NoError(t, r.Record(Report{ID: "agent-a", Role: "agent", Ready: false, Verdict: "not_ready", Reasons: []string{"exporter x queue full"}}))
	require.Equal(t, map[string]int{StateReady: 1, StateNotReady: 1, StateMissing: 0}, r.Counts())

	clock.t = clock.t.Add(20 * time.Second)
	require.NoError(t, r.Record(Report{ID: "agent-b", Role: "agent", Ready: true, Verdict: "ready"}))
	clock.t = clock.t.Add(10 * time.Second)
	members := r.Members()
	require.Len(t, members, 2)
	require.Equal(t, "agent-a", members[0].ID)
	require.Equal(t, StateMissing, members[0].State, "silent for stale_after")
	require.InDelta(t, 30, members[0].AgeSeconds, 1e-9)
	require.Equal(t, StateReady, members[1].State)
	require.InDelta(t, 10, members[1].AgeSeconds, 1e-9)

	// Forgotten after forget_after.
	clock.t = clock.t.Add(10 * time.Minute)
	require.Empty(t, r.Members())
}

func TestRegistryLimits(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	r := NewRegistry(time.Second, time.Minute, 2, clock.Now)
	require.NoError(t, r.Record(Report{ID: "a"}))
	require.NoError(t, r.Record(Report{ID: "b"}))
	require.ErrorIs(t, r.Record(Report{ID: "c"}), ErrMemberLimit)
	require.NoError(t, r.Record(Report{ID: "a", Ready: true}), "known members always update")
	clock.t = clock.t.Add(time.Minute)
	require.NoError(t, r.Record(Report{ID: "c"}), "forgotten members free their place")

	require.ErrorContains(t, r.Record(Report{}), "no id")
	long := make([]byte, maxIDLength+1)
	require.Error(t, r.Record(Report{ID: string(long)}))
	rep := Report{ID: "d", Reasons: make([]string, 50)}
	require.NoError(t, rep.Validate())
	require.Len(t, rep.Reasons, maxReasons)
}

func TestReportURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://gw:13133":             "http://gw:13133/fleet",
		"http://gw:13133/":            "http://gw:13133/fleet",
		"https://gw.example/x/fleet":  "https://gw.example/x/fleet",
		"http://127.0.0.1:9/custom?a": "http://127.0.0.1:9/custom?a",
	} {
		got, err := ReportURL(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got)
	}
	for _, bad := range []string{"gw:13133", "ftp://gw/", "http://", "::"} {
		_, err := ReportURL(bad)
		require.Error(t, err, bad)
	}
}

func TestPush(t *testing.T) {
	var got Report
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, http.MethodPost, r.Method)
		require.Equal(t, "application/json", r.Header.Get("Content-Type"))
		if r.URL.Path != "/fleet" {
			http.Error(w, "no such path", http.StatusNotFound)
			return
		}
		require.NoError(t, json.NewDecoder(r.Body).Decode(&got))
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	u, err := ReportURL(srv.URL)
	require.NoError(t, err)
	p := &Pusher{URL: u, Client: srv.Client()}
	require.NoError(t, p.Push(context.Background(), Report{ID: "m1", Role: "agent", Ready: true, Verdict: "ready", Signals: map[string]float64{"queue": 0.5}}))
	require.Equal(t, "m1", got.ID)
	require.InDelta(t, 0.5, got.Signals["queue"], 0)

	p.URL = srv.URL + "/elsewhere"
	require.ErrorContains(t, p.Push(context.Background(), Report{ID: "m1"}), "status 404: no such path")
}

func TestRenderPage(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, RenderPage(&buf, View{
		GeneratedAt:       time.Unix(0, 0).UTC(),
		StaleAfterSeconds: 30,
		Counts:            map[string]int{StateReady: 1, StateNotReady: 0, StateMissing: 1},
		Members: []Member{
			{Report: Report{ID: "gw-1", Role: "gateway", Ready: true, Verdict: "ready", Signals: map[string]float64{"queue": 0.25}}, State: StateReady, Self: true},
			{Report: Report{ID: "<script>alert(1)</script>", Role: "agent", Verdict: "not_ready", Reasons: []string{"queue full"}}, State: StateMissing, AgeSeconds: 42},
		},
	}))
	page := buf.String()
	require.Contains(t, page, `<tr data-member="gw-1" data-state="ready"><td>gw-1 (this collector)</td><td>gateway</td><td class="state-ready">ready</td><td>ready</td>`)
	require.Contains(t, page, "queue 25%")
	require.Contains(t, page, "missing: 1")
	require.Contains(t, page, "42s ago")
	require.Contains(t, page, "&lt;script&gt;alert(1)&lt;/script&gt;")
	require.NotContains(t, page, "<script>alert(1)")
	require.NotContains(t, page, "http://", "self-contained: nothing loaded from elsewhere")
}
