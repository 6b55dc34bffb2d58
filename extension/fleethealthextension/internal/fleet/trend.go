package fleet

import "time"

// Trend is a member's key signals over the last minutes, oldest first, one point per TrendStep
// (the worst value reported within the step). A value of -1 means the member did not report
// that signal then.
type Trend struct {
	StepSeconds float64   `json:"step_seconds"`
	Queue       []float64 `json:"queue"`
	SendLag     []float64 `json:"send_lag"`
	Memory      []float64 `json:"memory"`
}

type trendPoint struct {
	at                     time.Time
	queue, sendLag, memory float32
}

// TrendRing is a fixed ring of TrendPoints points: its memory does not grow with reports. Not
// safe for concurrent use: the registry guards its members' rings, the extension its own.
type TrendRing struct {
	points [TrendPoints]trendPoint
	next   int // index of the next point to write
	n      int // points written, up to TrendPoints
}

func signal(signals map[string]float64, k string) float32 {
	if v, ok := signals[k]; ok {
		return float32(v)
	}
	return -1
}

// Add records a report's signals: a new point when the last is TrendStep old, else the worst
// of the two into the last point. Reports without any of the three signals add nothing.
func (t *TrendRing) Add(now time.Time, signals map[string]float64) {
	p := trendPoint{at: now, queue: signal(signals, "queue"), sendLag: signal(signals, "send_lag"), memory: signal(signals, "memory")}
	if p.queue < 0 && p.sendLag < 0 && p.memory < 0 {
		return
	}
	if t.n > 0 {
		last := &t.points[(t.next+TrendPoints-1)%TrendPoints]
		if now.Sub(last.at) < TrendStep {
			last.queue, last.sendLag, last.memory = max(last.queue, p.queue), max(last.sendLag, p.sendLag), max(last.memory, p.memory)
			return
		}
	}
	t.points[t.next] = p
	t.next = (t.next + 1) % TrendPoints
	t.n = min(t.n+1, TrendPoints)
}

// Snapshot returns the points, oldest first; nil when there are none.
func (t *TrendRing) Snapshot() *Trend {
	if t.n == 0 {
		return nil
	}
	tr := &Trend{StepSeconds: TrendStep.Seconds(), Queue: make([]float64, t.n), SendLag: make([]float64, t.n), Memory: make([]float64, t.n)}
	start := (t.next + TrendPoints - t.n) % TrendPoints
	for i := range t.n {
		p := t.points[(start+i)%TrendPoints]
		tr.Queue[i], tr.SendLag[i], tr.Memory[i] = round(p.queue), round(p.sendLag), round(p.memory)
	}
	return tr
}

// round keeps three decimals: the page draws 60 pixels, and the JSON stays small.
func round(v float32) float64 {
	if v < 0 {
		return -1
	}
	return float64(int64(float64(v)*1000+0.5)) / 1000
}
