package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// result is what one run measured. Times are in milliseconds or seconds as
// the field names say; zero means not measured by that workload.
type result struct {
	Label    string `json:"label"`
	Workload string `json:"workload"`
	Clients  int    `json:"clients"`
	Senders  int    `json:"senders"`
	Messages int    `json:"messages"`
	Interval string `json:"interval"`
	// Devices is the sessions per account (-devices), when more than one.
	Devices int `json:"devices,omitempty"`

	ConnectSeconds   float64 `json:"connect_seconds"`
	Seconds          float64 `json:"seconds"`
	SendSeconds      float64 `json:"send_seconds,omitempty"`
	Expected         int64   `json:"expected,omitempty"`
	Deliveries       int64   `json:"deliveries,omitempty"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec,omitempty"`
	P50              float64 `json:"p50_ms,omitempty"`
	P90              float64 `json:"p90_ms,omitempty"`
	P99              float64 `json:"p99_ms,omitempty"`
	Max              float64 `json:"max_ms,omitempty"`
	// Answers (private) are the delivered statuses the senders received,
	// and Answer* the latency from a send to its status; Duplicates the
	// messages that reached their recipient more than once.
	Answers    int64   `json:"delivery_answers,omitempty"`
	AnswerP50  float64 `json:"answer_p50_ms,omitempty"`
	AnswerP90  float64 `json:"answer_p90_ms,omitempty"`
	AnswerP99  float64 `json:"answer_p99_ms,omitempty"`
	AnswerMax  float64 `json:"answer_max_ms,omitempty"`
	Duplicates int64   `json:"duplicates,omitempty"`

	CPUSeconds       float64 `json:"server_cpu_seconds,omitempty"`
	CPUPerDeliveryUS float64 `json:"server_cpu_per_delivery_us,omitempty"`
	// WritesPerDelivery is the server's write-like system calls in the
	// measured part per delivery (/proc/PID/io): below 1, lines shared
	// writes.
	WritesPerDelivery float64 `json:"server_writes_per_delivery,omitempty"`
	RSSBytes          int64   `json:"server_rss_bytes,omitempty"`
	// ClientCPUSeconds is the load tool's own CPU time over the same
	// window as CPUSeconds, and ClientCPUPerDeliveryUS that per delivery
	// (or per stored message): what driving the server cost on the same box.
	ClientCPUSeconds       float64 `json:"client_cpu_seconds,omitempty"`
	ClientCPUPerDeliveryUS float64 `json:"client_cpu_per_delivery_us,omitempty"`
	PeakRSSBytes           int64   `json:"server_peak_rss_bytes,omitempty"`
	RSSPerConnKiB          float64 `json:"server_rss_per_conn_kib,omitempty"`
	Stored                 int64   `json:"stored,omitempty"`
	StoredPerSec           float64 `json:"stored_per_sec,omitempty"`
	BusyRetries            int64   `json:"busy_retries"`
	// BadLines are lines from the server that were malformed or not what
	// the workload sent (a room message that is no stamp of this run):
	// counted here, never as deliveries.
	BadLines            int64   `json:"bad_lines,omitempty"`
	LoginSeconds        float64 `json:"login_seconds,omitempty"`
	BackgroundP99Before float64 `json:"background_p99_before_ms,omitempty"`
	BackgroundP99During float64 `json:"background_p99_during_ms,omitempty"`
	// Lines is what the clients received: idle, during the logins; join,
	// during the joins.
	Lines          int64   `json:"lines_received,omitempty"`
	JoinSeconds    float64 `json:"join_seconds,omitempty"`
	CPUPerJoinUS   float64 `json:"server_cpu_per_join_us,omitempty"`
	RSSGrowthBytes int64   `json:"server_rss_growth_bytes,omitempty"`

	// Latencies is an even sample of the sorted latencies, in ms.
	Latencies []float64 `json:"latencies_ms,omitempty"`
}

// setProc fills the CPU and memory figures from two samples: the load
// tool's own always, the server's with -pid.
func (r *result) setProc(before, after procSample, work int64) {
	self := after.self - before.self
	r.ClientCPUSeconds = self.Seconds()
	if work > 0 {
		r.ClientCPUPerDeliveryUS = float64(self.Nanoseconds()) / 1e3 / float64(work)
	}
	if after.rss == 0 {
		return // no -pid
	}
	cpu := after.cpu - before.cpu
	r.CPUSeconds = cpu.Seconds()
	if work > 0 {
		r.CPUPerDeliveryUS = float64(cpu.Microseconds()) / float64(work)
		if before.writes >= 0 && after.writes >= 0 {
			r.WritesPerDelivery = float64(after.writes-before.writes) / float64(work)
		}
	}
	r.RSSBytes, r.PeakRSSBytes = after.rss, after.peak
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// rows are the report's lines: a name and how to read it from a result;
// a row no result has is left out.
var rows = []struct {
	name string
	get  func(*result) string
}{
	{"workload", func(r *result) string { return r.Workload }},
	{"clients / senders / messages", func(r *result) string {
		return fmt.Sprintf("%d / %d / %d", r.Clients, r.Senders, r.Messages)
	}},
	{"interval", func(r *result) string { return r.Interval }},
	{"sessions per account", num(func(r *result) float64 { return float64(r.Devices) }, "%.0f")},
	{"connect time (s)", num(func(r *result) float64 { return r.ConnectSeconds }, "%.2f")},
	{"deliveries (of expected)", func(r *result) string {
		if r.Expected == 0 || r.Stored > 0 {
			return ""
		}
		return fmt.Sprintf("%d of %d", r.Deliveries, r.Expected)
	}},
	{"deliveries/s", num(func(r *result) float64 { return r.DeliveriesPerSec }, "%.0f")},
	{"latency p50 (ms)", num(func(r *result) float64 { return r.P50 }, "%.2f")},
	{"latency p90 (ms)", num(func(r *result) float64 { return r.P90 }, "%.2f")},
	{"latency p99 (ms)", num(func(r *result) float64 { return r.P99 }, "%.2f")},
	{"latency max (ms)", num(func(r *result) float64 { return r.Max }, "%.2f")},
	{"delivery answers (of sent)", func(r *result) string {
		if r.Workload != "private" {
			return ""
		}
		return fmt.Sprintf("%d of %d", r.Answers, r.Expected)
	}},
	{"answer p50 (ms)", num(func(r *result) float64 { return r.AnswerP50 }, "%.2f")},
	{"answer p90 (ms)", num(func(r *result) float64 { return r.AnswerP90 }, "%.2f")},
	{"answer p99 (ms)", num(func(r *result) float64 { return r.AnswerP99 }, "%.2f")},
	{"answer max (ms)", num(func(r *result) float64 { return r.AnswerMax }, "%.2f")},
	{"duplicates", num(func(r *result) float64 { return float64(r.Duplicates) }, "%.0f")},
	{"server CPU (s)", num(func(r *result) float64 { return r.CPUSeconds }, "%.2f")},
	{"server CPU per delivery (us)", num(func(r *result) float64 { return r.CPUPerDeliveryUS }, "%.3f")},
	{"server writes per delivery", num(func(r *result) float64 { return r.WritesPerDelivery }, "%.3f")},
	{"load tool CPU (s)", num(func(r *result) float64 { return r.ClientCPUSeconds }, "%.2f")},
	{"load tool CPU per delivery (us)", num(func(r *result) float64 { return r.ClientCPUPerDeliveryUS }, "%.3f")},
	{"server RSS (MiB)", num(func(r *result) float64 { return float64(r.RSSBytes) / (1 << 20) }, "%.1f")},
	{"server peak RSS (MiB)", num(func(r *result) float64 { return float64(r.PeakRSSBytes) / (1 << 20) }, "%.1f")},
	{"server RSS per connection (KiB)", num(func(r *result) float64 { return r.RSSPerConnKiB }, "%.1f")},
	{"lines received by the clients", num(func(r *result) float64 { return float64(r.Lines) }, "%.0f")},
	{"time until the last join (s)", num(func(r *result) float64 { return r.JoinSeconds }, "%.2f")},
	{"server CPU per join (µs)", num(func(r *result) float64 { return r.CPUPerJoinUS }, "%.0f")},
	{"server RSS growth (MiB)", num(func(r *result) float64 { return float64(r.RSSGrowthBytes) / (1 << 20) }, "%.1f")},
	{"stored (acknowledged)", func(r *result) string {
		if r.Stored == 0 {
			return ""
		}
		return fmt.Sprintf("%d of %d", r.Stored, r.Expected)
	}},
	{"stored/s", num(func(r *result) float64 { return r.StoredPerSec }, "%.0f")},
	{"time until the last login (s)", num(func(r *result) float64 { return r.LoginSeconds }, "%.2f")},
	{"server_busy retries", func(r *result) string { return fmt.Sprint(r.BusyRetries) }},
	{"bad lines (malformed or unexpected)", num(func(r *result) float64 { return float64(r.BadLines) }, "%.0f")},
	{"chat p99 before storm (ms)", num(func(r *result) float64 { return r.BackgroundP99Before }, "%.2f")},
	{"chat p99 during storm (ms)", num(func(r *result) float64 { return r.BackgroundP99During }, "%.2f")},
}

func num(get func(*result) float64, format string) func(*result) string {
	return func(r *result) string {
		if v := get(r); v != 0 {
			return fmt.Sprintf(format, v)
		}
		return ""
	}
}

// printResults prints the results as columns side by side.
func printResults(w io.Writer, rs []*result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := []string{""}
	for _, r := range rs {
		head = append(head, r.Label)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, row := range rows {
		line := []string{row.name}
		any := false
		for _, r := range rs {
			v := row.get(r)
			any = any || v != ""
			line = append(line, v)
		}
		if any {
			fmt.Fprintln(tw, strings.Join(line, "\t"))
		}
	}
	tw.Flush()
}

// report reads results written with -json and prints them side by side,
// optionally drawing their latency distributions into one SVG chart.
func report(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("chatbench report", flag.ContinueOnError)
	svg := fs.String("svg", "", "draw the latency distributions into this SVG file")
	title := fs.String("title", "", "chart title")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("usage: chatbench report [-svg FILE] RESULT.json [RESULT.json]")
	}
	var rs []*result
	for _, name := range fs.Args() {
		data, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		r := new(result)
		if err := json.Unmarshal(data, r); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		rs = append(rs, r)
	}
	printResults(out, rs)
	if *svg != "" {
		f, err := os.Create(*svg)
		if err != nil {
			return err
		}
		t := *title
		if t == "" {
			t = "delivery latency, " + rs[0].Workload
		}
		drawSVG(f, t, rs)
		return f.Close()
	}
	return nil
}

// drawSVG draws each result's latency distribution (the share of
// deliveries at or below each latency) on one log-scaled chart.
func drawSVG(w io.Writer, title string, rs []*result) {
	const width, height, left, right, top, bottom = 720, 420, 70, 20, 40, 50
	pw, ph := float64(width-left-right), float64(height-top-bottom)
	lo, hi := math.Inf(1), 0.0
	for _, r := range rs {
		for _, v := range r.Latencies {
			lo, hi = min(lo, max(v, 0.001)), max(hi, v)
		}
	}
	if hi == 0 {
		lo, hi = 0.01, 1
	}
	lo = math.Pow(10, math.Floor(math.Log10(lo)))
	hi = math.Pow(10, math.Ceil(math.Log10(hi)))
	x := func(v float64) float64 {
		return left + pw*(math.Log10(max(v, lo))-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))
	}
	y := func(q float64) float64 { return top + ph*(1-q) }
	colors := []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"}

	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(w, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(w, `<text x="%d" y="22" font-size="15">%s</text>`+"\n", left, escape(title))
	for d := lo; d <= hi*1.001; d *= 10 {
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x(d), top, x(d), height-bottom)
		fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle">%g</text>`+"\n", x(d), height-bottom+16, d)
	}
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 1} {
		fmt.Fprintf(w, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`+"\n", left, y(q), width-right, y(q))
		fmt.Fprintf(w, `<text x="%d" y="%.1f" text-anchor="end">%g%%</text>`+"\n", left-6, y(q)+4, q*100)
	}
	fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle">latency (ms, log scale)</text>`+"\n", left+pw/2, height-12)
	fmt.Fprintf(w, `<text x="16" y="%.1f" transform="rotate(-90 16 %.1f)" text-anchor="middle">deliveries at or below</text>`+"\n", top+ph/2, top+ph/2)
	for i, r := range rs {
		c := colors[i%len(colors)]
		var pts []string
		n := len(r.Latencies)
		for j, v := range r.Latencies {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(v), y(float64(j+1)/float64(n))))
		}
		fmt.Fprintf(w, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", c, strings.Join(pts, " "))
		ly := top + 16 + 18*i
		fmt.Fprintf(w, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/>`+"\n", width-right-200, ly-10, c)
		fmt.Fprintf(w, `<text x="%d" y="%d">%s (p99 %.2f ms)</text>`+"\n", width-right-182, ly, escape(r.Label), r.P99)
	}
	fmt.Fprintln(w, "</svg>")
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
