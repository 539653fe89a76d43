package audit

// SetBatchSize sets how many queued entries one integration transaction
// takes, so tests can make several batches out of a few entries.
func (l *Log) SetBatchSize(n int) { l.batch = n }
