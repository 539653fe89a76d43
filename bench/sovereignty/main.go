// Command sovereignty benchmarks the sovereignty assessment at the scale of
// a national cloud: every environment (10,000 by default) assessed against
// its provider's profile with the shipped Rego criteria, and the exposure
// report built, on all cores — then the national concentration and one
// outage's blast radius over the same placements. It prints time, time per
// environment, allocation and peak heap.
//
//	go run ./bench/sovereignty              # 10,000 environments
//	go run ./bench/sovereignty -envs 1000   # quicker
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/sovereignty"
)

func main() {
	n := flag.Int("envs", 10_000, "environments to assess")
	workers := flag.Int("workers", runtime.GOMAXPROCS(0), "environments assessed at once")
	flag.Parse()
	ctx := context.Background()
	profiles, err := sovereignty.Examples()
	if err != nil {
		log.Fatal(err)
	}
	eng, err := sovereignty.NewEngine(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	floors := sovereignty.DefaultFloors()
	classes := []string{"level1", "level2", "level3"}

	// Environments alternate between the two example providers; every
	// fifth keeps its keys in hatoba's XKS, every 97th has a resource
	// abroad, every third has people and a break-glass grant.
	facts := make([]sovereignty.Facts, *n)
	placements := make([]sovereignty.Placement, *n)
	for i := range facts {
		p := profiles[i%len(profiles)]
		region := p.Regions.Value[0].Name
		f := sovereignty.Facts{Environment: fmt.Sprintf("env-%05d", i), Organization: fmt.Sprintf("lg-%06d", i%1700),
			Classification: classes[i%3], Connection: p.Connection, ResourceRegions: []string{region, "global"}}
		if i%5 == 0 {
			f.HYOK = sovereignty.HYOK{Connected: true, KillSwitch: "armed"}
		}
		if i%97 == 0 {
			f.ResourceRegions = append(f.ResourceRegions, p.Regions.Value[len(p.Regions.Value)-1].Name)
		}
		if i%3 == 0 {
			f.People = []sovereignty.Person{{ID: "p1", Name: "山田 太郎", Role: "administrator"},
				{ID: "c1", Name: "中央 運用", Role: "break-glass", Central: true, Grant: "g1", At: time.Now()}}
		}
		facts[i] = f
		placements[i] = sovereignty.Placement{Environment: f.Environment, Organization: f.Organization, Prefecture: fmt.Sprintf("%02d", 1+i%47),
			System: fmt.Sprintf("system-%d", i%7), Provider: p.Connection, Region: region, Zones: []string{fmt.Sprintf("%s-az%d", region, 1+i%3)}}
	}

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > peak.Load() {
					peak.Store(m.HeapAlloc)
				}
			}
		}
	}()
	start := time.Now()
	var next atomic.Int64
	var breaches atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, *workers)
	for range *workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(facts) {
					return
				}
				f := facts[i]
				p := profiles[i%len(profiles)]
				a, err := eng.Assess(ctx, p, f, floors[f.Classification], time.Now())
				if err != nil {
					errs <- err
					return
				}
				breaches.Add(int64(len(a.Breaches)))
				_ = sovereignty.Expose(a, p, f)
			}
		})
	}
	wg.Wait()
	assess := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		log.Fatal(err)
	}
	start = time.Now()
	cs := sovereignty.Concentrations(placements)
	blast := sovereignty.BlastRadius(placements, sovereignty.Outage{Provider: "sim", Zone: "ap-northeast-1-az1"})
	national := time.Since(start)
	close(stop)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)

	fmt.Printf("sovereignty: %d environments, %d workers, GOMAXPROCS %d, %s\n\n", *n, *workers, runtime.GOMAXPROCS(0), runtime.Version())
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "step\ttime\tper environment\t")
	fmt.Fprintf(tw, "assess + exposure report\t%s\t%s\t\n", assess.Round(time.Millisecond), (assess / time.Duration(*n)).Round(time.Microsecond))
	fmt.Fprintf(tw, "concentration (3 views) + one zone's blast radius\t%s\t%s\t\n", national.Round(time.Millisecond), (national / time.Duration(*n)).Round(time.Nanosecond))
	if err := tw.Flush(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("\nallocated %.1f MiB in all (%.1f KiB per environment), peak heap %.1f MiB\n",
		float64(after.TotalAlloc-before.TotalAlloc)/(1<<20), float64(after.TotalAlloc-before.TotalAlloc)/1024/float64(*n), float64(peak.Load())/(1<<20))
	fmt.Printf("floor breaches: %d; provider HHI %.0f; systems stopped by the zone outage: %d\n", breaches.Load(), cs[0].HHI, len(blast))
}
