package vending

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the vending workflow's Prometheus metrics.
type Metrics struct {
	vended          *prometheus.CounterVec
	accountsCreated *prometheus.CounterVec
	vendSeconds     *prometheus.HistogramVec
	stepErrors      *prometheus.CounterVec
	providerCalls   *prometheus.CounterVec
	slotWait        *prometheus.HistogramVec
	takeovers       prometheus.Counter
	jobsResumed     prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg, if not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		vended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hatoba_vend_environments_ready_total", Help: "Environments that became ready.",
		}, []string{"provider"}),
		accountsCreated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hatoba_vend_accounts_active_total", Help: "Provider accounts that became active.",
		}, []string{"provider"}),
		vendSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hatoba_vend_duration_seconds", Help: "Time from request to ready.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 16),
		}, []string{"provider"}),
		stepErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hatoba_vend_step_errors_total", Help: "Failed step attempts by class.",
		}, []string{"provider", "step", "class"}),
		providerCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hatoba_vend_step_runs_total", Help: "Step runs against a provider.",
		}, []string{"provider", "step"}),
		slotWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hatoba_vend_slot_wait_seconds", Help: "Time from an environment's request to its provider slot.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16),
		}, []string{"provider"}),
		takeovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hatoba_vend_replica_takeovers_total", Help: "Stopped replicas whose slots and jobs this replica took over.",
		}),
		jobsResumed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hatoba_vend_jobs_resumed_total", Help: "Running jobs of stopped replicas made available again.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.vended, m.accountsCreated, m.vendSeconds, m.stepErrors, m.providerCalls, m.slotWait, m.takeovers, m.jobsResumed)
	}
	return m
}
