// Command cluster is the Go half of rumor's side-by-side cluster benchmark: it
// runs N nodes of the real hashicorp/memberlist (Debian bookworm's 0.2.2) in
// this one process on 127.0.0.1 and prints one JSON object with what it
// measured. The Rust half (conformance/examples/cluster.rs) runs N rumor nodes
// on the same timeline, starts this program, and prints both side by side:
//
//  1. node 1..N-1 join node 0, one after another (or one every -join-pace);
//  2. time until every node lists N members, and until 99 % of the ordered
//     pairs know each other;
//  3. a settle period, then a steady window: process CPU (getrusage), RSS
//     (/proc/self/status), datagrams (/proc/net/snmp, exact when the process
//     runs in its own network namespace) and memberlist's own udp/tcp byte
//     counters (go-metrics, an in-memory sink);
//  4. node N-1 stops without leaving (a crash), then node N-2 leaves and stops:
//     for each, when the first and the last of the others reported it gone.
//
// Build it with `conformance/interop/build.sh cluster`.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io/ioutil"
	"log"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/hashicorp/memberlist"
)

// departures records, per watched name, when each observer reported it gone.
type departures struct {
	mu    sync.Mutex
	seen  map[string]map[int]time.Time
	watch map[string]bool
}

func (d *departures) record(name string, observer int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.watch[name] {
		return
	}
	if d.seen[name] == nil {
		d.seen[name] = map[int]time.Time{}
	}
	if _, ok := d.seen[name][observer]; !ok {
		d.seen[name][observer] = time.Now()
	}
}

// firstAndAll gives the seconds from start until the first observer and until
// every one of want reported name gone (-1: not within the wait).
func (d *departures) firstAndAll(name string, want []int, start time.Time, wait time.Duration) (float64, float64) {
	deadline := start.Add(wait)
	for {
		d.mu.Lock()
		seen := d.seen[name]
		first, last, all := time.Time{}, time.Time{}, true
		for _, o := range want {
			t, ok := seen[o]
			if !ok {
				all = false
				continue
			}
			if first.IsZero() || t.Before(first) {
				first = t
			}
			if t.After(last) {
				last = t
			}
		}
		d.mu.Unlock()
		if all || time.Now().After(deadline) {
			f, l := -1.0, -1.0
			if !first.IsZero() {
				f = first.Sub(start).Seconds()
			}
			if all {
				l = last.Sub(start).Seconds()
			}
			return f, l
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// events is one node's EventDelegate.
type events struct {
	observer int
	d        *departures
}

func (e *events) NotifyJoin(*memberlist.Node)   {}
func (e *events) NotifyUpdate(*memberlist.Node) {}
func (e *events) NotifyLeave(n *memberlist.Node) {
	e.d.record(n.Name, e.observer)
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// status reads a "Key: value kB"-style number from /proc/self/status.
func status(key string) float64 {
	b, _ := ioutil.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, key+":") {
			f := strings.Fields(strings.TrimPrefix(line, key+":"))
			if len(f) > 0 {
				v, _ := strconv.ParseFloat(f[0], 64)
				return v
			}
		}
	}
	return 0
}

// udpOut is Udp OutDatagrams from /proc/net/snmp (per network namespace).
func udpOut() float64 {
	b, _ := ioutil.ReadFile("/proc/net/snmp")
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "Udp: ") {
			continue
		}
		f := strings.Fields(line)[1:]
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "OutDatagrams" && i < len(f) {
				v, _ := strconv.ParseFloat(f[i], 64)
				return v
			}
		}
	}
	return 0
}

// counter sums a counter over the sink's intervals. The last interval Data()
// returns is a private copy, made by copying the live one while it was
// read-locked: its mutex may have been copied in a state no one will ever
// release (a writer waiting), so it is read without locking.
func counter(sink *metrics.InmemSink, name string) float64 {
	sum := 0.0
	data := sink.Data()
	for i, interval := range data {
		shared := i < len(data)-1
		if shared {
			interval.RLock()
		}
		if v, ok := interval.Counters[name]; ok {
			sum += v.Sum
		}
		if shared {
			interval.RUnlock()
		}
	}
	return sum
}

func main() {
	n := flag.Int("nodes", 100, "nodes in this process")
	settle := flag.Duration("settle", 5*time.Second, "pause between convergence and the steady window")
	steady := flag.Duration("steady", 30*time.Second, "steady window")
	wait := flag.Duration("wait", 90*time.Second, "longest wait for convergence and for each departure")
	pace := flag.Duration("join-pace", 0, "time between the starts of two joins (0: one after another)")
	flag.Parse()
	if *n < 3 {
		log.Fatal("cluster: -nodes must be at least 3 (a crash and a leave are measured)")
	}

	sink := metrics.NewInmemSink(time.Hour, 2*time.Hour)
	mc := metrics.DefaultConfig("")
	mc.EnableHostname = false
	mc.EnableRuntimeMetrics = false
	if _, err := metrics.NewGlobal(mc, sink); err != nil {
		log.Fatal(err)
	}

	crashed, left := fmt.Sprintf("node-%d", *n-1), fmt.Sprintf("node-%d", *n-2)
	d := &departures{seen: map[string]map[int]time.Time{}, watch: map[string]bool{crashed: true, left: true}}
	nodes := make([]*memberlist.Memberlist, *n)
	for i := range nodes {
		c := memberlist.DefaultLANConfig()
		c.Name = fmt.Sprintf("node-%d", i)
		c.BindAddr, c.BindPort = "127.0.0.1", 0
		c.LogOutput = ioutil.Discard
		c.Events = &events{observer: i, d: d}
		m, err := memberlist.Create(c)
		if err != nil {
			log.Fatalf("cluster: node %d: %v", i, err)
		}
		nodes[i] = m
	}
	seed := fmt.Sprintf("127.0.0.1:%d", nodes[0].LocalNode().Port)

	// A join that fails (its push/pull with the seed timed out on a busy machine) is tried
	// again, up to ten times in all (at 500 nodes the seed once went 30 s without
	// answering); the retries are reported.
	start := time.Now()
	retries := 0
	for i, m := range nodes[1:] {
		if *pace > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(i) * *pace)))
		}
		if (i+1)%100 == 0 {
			fmt.Fprintf(os.Stderr, "cluster: %d of %d joined after %.1f s\n", i+1, *n-1, time.Since(start).Seconds())
		}
		for attempt := 1; ; attempt++ {
			_, err := m.Join([]string{seed})
			if err == nil {
				break
			}
			if attempt == 10 {
				log.Fatalf("cluster: join: %v", err)
			}
			retries++
		}
	}
	joined := time.Since(start).Seconds()
	pairs99, all := -1.0, -1.0
	total := float64(*n) * float64(*n-1)
	for time.Since(start).Seconds() < joined+wait.Seconds() {
		known, full := 0.0, true
		for _, m := range nodes {
			k := m.NumMembers()
			known += float64(k - 1)
			full = full && k == *n
		}
		if pairs99 < 0 && known >= 0.99*total {
			pairs99 = time.Since(start).Seconds()
		}
		if full {
			all = time.Since(start).Seconds()
			break
		}
		time.Sleep(10 * time.Millisecond)
	}

	afterLast := -1.0
	if all >= 0 {
		afterLast = all - joined
	}
	time.Sleep(*settle)
	cpu0, udp0, tcp0, dg0, t0 := cpuSeconds(), counter(sink, "memberlist.udp.sent"), counter(sink, "memberlist.tcp.sent"), udpOut(), time.Now()
	time.Sleep(*steady)
	cpu1, udp1, tcp1, dg1, secs := cpuSeconds(), counter(sink, "memberlist.udp.sent"), counter(sink, "memberlist.tcp.sent"), udpOut(), time.Since(t0).Seconds()
	rss, threads := status("VmRSS"), status("Threads")
	nodeSecs := float64(*n) * secs

	others := func(skip ...int) []int {
		var out []int
	outer:
		for i := 0; i < *n; i++ {
			for _, s := range skip {
				if i == s {
					continue outer
				}
			}
			out = append(out, i)
		}
		return out
	}
	crashAt := time.Now()
	nodes[*n-1].Shutdown()
	crashFirst, crashAll := d.firstAndAll(crashed, others(*n-1), crashAt, *wait)
	leaveAt := time.Now()
	nodes[*n-2].Leave(5 * time.Second)
	nodes[*n-2].Shutdown()
	leaveFirst, leaveAll := d.firstAndAll(left, others(*n-1, *n-2), leaveAt, *wait)

	out := map[string]interface{}{
		"impl":                 "go",
		"runtime":              fmt.Sprintf("memberlist 0.2.2, GOMAXPROCS=%s", os.Getenv("GOMAXPROCS")),
		"nodes":                *n,
		"join_calls_s":         joined,
		"join_retries":         retries,
		"join_99_pairs_s":      pairs99,
		"join_all_s":           all,
		"join_after_last_s":    afterLast,
		"cpu_ms_per_node_s":    (cpu1 - cpu0) * 1e3 / nodeSecs,
		"rss_kb_per_node":      rss / float64(*n),
		"threads":              threads,
		"datagrams_per_node_s": (dg1 - dg0) / nodeSecs,
		"udp_bytes_per_node_s": (udp1 - udp0) / nodeSecs,
		"tcp_bytes_per_node_s": (tcp1 - tcp0) / nodeSecs,
		"crash_first_s":        crashFirst,
		"crash_all_s":          crashAll,
		"leave_first_s":        leaveFirst,
		"leave_all_s":          leaveAll,
		"steady_window_s":      secs,
	}
	b, err := json.Marshal(out)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(b))
	for i, m := range nodes {
		if i < *n-2 {
			m.Shutdown()
		}
	}
}
