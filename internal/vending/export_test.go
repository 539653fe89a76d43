package vending

// PlaceOf is where e's process ids mean the same process (host and PID
// namespace), as vend_replicas.host records it: a test can register a
// replica of this host whose process is gone.
func PlaceOf(e *Engine) string { return e.host }
