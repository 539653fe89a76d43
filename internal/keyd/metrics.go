package keyd

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hatoba-cloud/hatoba/internal/xks"
)

// Collector reports the key service's admission and usage-record counters
// to Prometheus at scrape time (cmd/hatoba registers it):
//
//	hatoba_keyd_requests_in_flight                 gauge
//	hatoba_keyd_requests_throttled_total           counter (admission bound)
//	hatoba_keyd_usage_records_written_total        counter
//	hatoba_keyd_usage_record_failures_total        counter (requests failed closed)
//	hatoba_keyd_usage_records_refused_total        counter (queue full: throttled)
//	hatoba_keyd_usage_records_queued               gauge
//	hatoba_keyd_usage_record_failing               gauge, 1 while writes fail
//
// Alert on hatoba_keyd_usage_record_failing == 1 or a growing failures
// counter: requests are being refused because their record cannot be
// written.
type Collector struct {
	rec *Recorder
	adm *xks.Admission

	inFlight, throttled, written, failures, refused, queued, failing *prometheus.Desc
}

// NewCollector reports rec and adm (either may be nil).
func NewCollector(rec *Recorder, adm *xks.Admission) *Collector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &Collector{rec: rec, adm: adm,
		inFlight:  d("hatoba_keyd_requests_in_flight", "XKS proxy and plain encryption API requests in progress."),
		throttled: d("hatoba_keyd_requests_throttled_total", "Requests answered 429 because the in-flight bound was reached."),
		written:   d("hatoba_keyd_usage_records_written_total", "Usage records written to the audit log."),
		failures:  d("hatoba_keyd_usage_record_failures_total", "Usage records that could not be written; their requests failed closed."),
		refused:   d("hatoba_keyd_usage_records_refused_total", "Usage records refused because the record queue was full; their requests were throttled."),
		queued:    d("hatoba_keyd_usage_records_queued", "Usage records waiting to be written."),
		failing:   d("hatoba_keyd_usage_record_failing", "1 while usage records cannot be written (requests fail closed), else 0."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.inFlight, c.throttled, c.written, c.failures, c.refused, c.queued, c.failing} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if c.adm != nil {
		ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(c.adm.InFlight()))
		ch <- prometheus.MustNewConstMetric(c.throttled, prometheus.CounterValue, float64(c.adm.Throttled()))
	}
	if c.rec != nil {
		st, h := c.rec.Stats(), c.rec.Health()
		failing := 0.0
		if h.Failing {
			failing = 1
		}
		ch <- prometheus.MustNewConstMetric(c.written, prometheus.CounterValue, float64(st.Written))
		ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(st.Failed))
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(st.Refused))
		ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(st.Queued))
		ch <- prometheus.MustNewConstMetric(c.failing, prometheus.GaugeValue, failing)
	}
}
