package tailrace

// Stats is a snapshot of a client's numbers, decoded from the JSON every language shares
// (DESIGN.md, "Stats"; the field tags are the JSON keys).
type Stats struct {
	Calls               uint64            `json:"calls"`                  // calls submitted
	Attempts            uint64            `json:"attempts"`               // attempts sent, hedges included
	HedgesSent          uint64            `json:"hedges_sent"`            // attempts beyond the first
	HedgesWon           uint64            `json:"hedges_won"`             // calls answered by a hedge
	HedgesSkippedBudget uint64            `json:"hedges_skipped_budget"`  // turned down: HedgeMaxExtraLoad spent (may go later)
	HedgesSkippedNoSlot uint64            `json:"hedges_skipped_no_slot"` // turned down: no free limiter slot (may go later)
	HedgeDelayUS        uint64            `json:"hedge_delay_us"`         // current hedge delay, µs
	Errors              map[string]uint64 `json:"errors"`                 // failed calls by kind (Code.String())
	LatencyUS           LatencyStats      `json:"latency_us"`             // call latency, µs
	InFlight            uint64            `json:"in_flight"`              // attempts holding a limiter slot
	Queued              uint64            `json:"queued"`                 // calls waiting in the limiter's queue
	RejectedQueueFull   uint64            `json:"rejected_queue_full"`    // ErrLimitQueueFull so far
	LimitTimeouts       uint64            `json:"limit_timeouts"`         // ErrLimitTimeout so far
	MaxInFlight         uint64            `json:"max_in_flight"`          // most attempts holding a slot at once
	WaitingForOrder     uint64            `json:"waiting_for_order"`      // calls held by an order key or flush
	FlushWaits          uint64            `json:"flush_waits"`            // flush calls that had to wait
	UtilizationPercent  float64           `json:"utilization_percent"`    // in flight ÷ MaxCount, last second
	Hosts               []HostStats       `json:"hosts"`                  // per host, configured hosts first
}

// LatencyStats are call latency percentiles in microseconds.
type LatencyStats struct {
	Count uint64 `json:"count"`
	P50   uint64 `json:"p50"`
	P90   uint64 `json:"p90"`
	P99   uint64 `json:"p99"`
	P999  uint64 `json:"p999"`
	Max   uint64 `json:"max"`
}

// HostStats are one host's numbers.
type HostStats struct {
	URL       string `json:"url"`
	InFlight  uint64 `json:"in_flight"`
	Attempts  uint64 `json:"attempts"`
	Errors    uint64 `json:"errors"`
	Ejections uint64 `json:"ejections"`
	Ejected   bool   `json:"ejected"`
}
