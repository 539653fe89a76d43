package web

import (
	"fmt"
	"html/template"
	"strings"
)

// Small charts drawn on the server as SVG, so the console needs no
// JavaScript to show them and the Content-Security-Policy stays strict:
// colours come from console.css classes (an inline style would be
// refused), every chart has a title a screen reader announces, and every
// page that shows one has the same numbers in a table beside it.

// series is one line of a chart.
type series struct {
	// Key names the series in CSS (chart__line--KEY) and in the data-series
	// attribute the browser tests read.
	Key    string
	Label  string
	Values []float64
}

const (
	chartWidth   = 640
	chartHeight  = 220
	chartLeft    = 44 // room for the y axis' numbers
	chartRight   = 12
	chartTop     = 12
	chartBottom  = 28 // room for the dates
	sparkWidth   = 160
	sparkHeight  = 36
	sparkPadding = 3
)

// niceMax is the axis' top: max rounded up to 1, 2 or 5 times a power of ten.
func niceMax(max float64) float64 {
	if max <= 0 {
		return 1
	}
	p := 1.0
	for p*10 <= max {
		p *= 10
	}
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= max {
			return m * p
		}
	}
	return 10 * p
}

func formatNumber(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.1f", v)
}

// plotX is the x of the i-th of n points.
func plotX(i, n int) float64 {
	inner := float64(chartWidth - chartLeft - chartRight)
	if n <= 1 {
		return chartLeft + inner/2
	}
	return chartLeft + inner*float64(i)/float64(n-1)
}

func plotY(v, top float64) float64 {
	inner := float64(chartHeight - chartTop - chartBottom)
	return chartTop + inner*(1-v/top)
}

// chartFrame draws the axes' grid and labels: three horizontal lines (0,
// half, top) and the first, middle and last of labels under the plot.
func chartFrame(b *strings.Builder, top float64, labels []string) {
	for _, f := range []float64{0, 0.5, 1} {
		if f == 0.5 && top < 2 {
			continue // no half of a count
		}
		y := plotY(top*f, top)
		fmt.Fprintf(b, `<line class="chart__grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, chartLeft, chartWidth-chartRight, y, y)
		fmt.Fprintf(b, `<text class="chart__tick" x="%d" y="%.1f" text-anchor="end">%s</text>`, chartLeft-6, y+4, formatNumber(top*f))
	}
	n := len(labels)
	for _, i := range []int{0, n / 2, n - 1} {
		if i < 0 || i >= n {
			continue
		}
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case n - 1:
			anchor = "end"
		}
		fmt.Fprintf(b, `<text class="chart__tick" x="%.1f" y="%d" text-anchor="%s">%s</text>`, plotX(i, n), chartHeight-8, anchor, template.HTMLEscapeString(labels[i]))
	}
}

// chartOpen starts an SVG that is one image to assistive technology,
// named by title; id ties the table beside it to it.
func chartOpen(b *strings.Builder, id, title string, w, h int) {
	id = template.HTMLEscapeString(id)
	fmt.Fprintf(b, `<svg class="chart" id="%s" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t" focusable="false"><title id="%s-t">%s</title>`,
		id, w, h, id, id, template.HTMLEscapeString(title))
}

// lineChart draws each series as a line over the labels (one per point).
func lineChart(id, title string, labels []string, ss []series) template.HTML {
	top := 0.0
	for _, s := range ss {
		for _, v := range s.Values {
			top = max(top, v)
		}
	}
	top = niceMax(top)
	var b strings.Builder
	chartOpen(&b, id, title, chartWidth, chartHeight)
	chartFrame(&b, top, labels)
	for _, s := range ss {
		pts := make([]string, len(s.Values))
		for i, v := range s.Values {
			pts[i] = fmt.Sprintf("%.1f,%.1f", plotX(i, len(s.Values)), plotY(v, top))
		}
		key := template.HTMLEscapeString(s.Key)
		fmt.Fprintf(&b, `<polyline class="chart__line chart__line--%s" data-series="%s" points="%s"/>`, key, key, strings.Join(pts, " "))
		if len(s.Values) == 1 {
			// A line of one point draws nothing: ring the point.
			fmt.Fprintf(&b, `<circle class="chart__line chart__line--%s" cx="%.1f" cy="%.1f" r="4"/>`, key, plotX(0, 1), plotY(s.Values[0], top))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // G203: every text and attribute above is escaped or a number
}

// barChart draws one bar per label.
func barChart(id, title string, labels []string, values []float64) template.HTML {
	top := 0.0
	for _, v := range values {
		top = max(top, v)
	}
	top = niceMax(top)
	var b strings.Builder
	chartOpen(&b, id, title, chartWidth, chartHeight)
	chartFrame(&b, top, labels)
	n := len(values)
	inner := float64(chartWidth - chartLeft - chartRight)
	step := inner / float64(max(n, 1))
	for i, v := range values {
		h := float64(chartHeight-chartTop-chartBottom) * v / top
		fmt.Fprintf(&b, `<rect class="chart__bar" data-value="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`,
			formatNumber(v), chartLeft+step*float64(i)+step*0.15, plotY(v, top), step*0.7, h)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // G203: every text and attribute above is escaped or a number
}

// sparkline draws values (0…100, a score) as a small line with its last
// point marked; label says in words what it shows.
func sparkline(id, label string, values []float64) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="sparkline" id="%s" viewBox="0 0 %d %d" role="img" aria-label="%s" focusable="false" data-points="%d">`,
		template.HTMLEscapeString(id), sparkWidth, sparkHeight, template.HTMLEscapeString(label), len(values))
	x := func(i int) float64 {
		if len(values) <= 1 {
			return sparkWidth / 2
		}
		return sparkPadding + float64(sparkWidth-2*sparkPadding)*float64(i)/float64(len(values)-1)
	}
	y := func(v float64) float64 {
		return sparkPadding + float64(sparkHeight-2*sparkPadding)*(1-v/100)
	}
	pts := make([]string, len(values))
	for i, v := range values {
		pts[i] = fmt.Sprintf("%.1f,%.1f", x(i), y(v))
	}
	fmt.Fprintf(&b, `<line class="sparkline__base" x1="0" x2="%d" y1="%.1f" y2="%.1f"/>`, sparkWidth, y(100), y(100))
	if len(values) > 1 {
		fmt.Fprintf(&b, `<polyline class="sparkline__line" points="%s"/>`, strings.Join(pts, " "))
	}
	if n := len(values); n > 0 {
		fmt.Fprintf(&b, `<circle class="sparkline__dot" cx="%.1f" cy="%.1f" r="3"/>`, x(n-1), y(values[n-1]))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // G203: every text and attribute above is escaped or a number
}

// chartData is a chart's numbers as its table shows them, newest first.
type chartData struct {
	ID, Caption string
	Series      []series
	Rows        []chartRow
}

type chartRow struct {
	Day   string
	Cells []chartCell
}

type chartCell struct{ Key, Value string }

// newChartTable lays series out by day, the latest day first: that is
// the row a reader looks for.
func newChartTable(id, caption string, days []string, ss []series) chartData {
	d := chartData{ID: id, Caption: caption, Series: ss}
	for i := len(days) - 1; i >= 0; i-- {
		row := chartRow{Day: days[i]}
		for _, s := range ss {
			v := ""
			if i < len(s.Values) {
				v = formatNumber(s.Values[i])
			}
			row.Cells = append(row.Cells, chartCell{Key: s.Key, Value: v})
		}
		d.Rows = append(d.Rows, row)
	}
	return d
}
