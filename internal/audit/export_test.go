package audit

// SetBatchSize sets how many queued entries one integration transaction
// takes, so tests can make several batches out of a few entries.
func (l *Log) SetBatchSize(n int) { l.batch = n }

// WithScanBatch makes Verify's reader pass n entries at a time.
func WithScanBatch(o VerifyOptions, n int) VerifyOptions {
	o.scanBatch = n
	return o
}
