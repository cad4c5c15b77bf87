// etcd-goref: the reference load for bench/etcd, driven by etcd's own Go
// client (go.etcd.io/etcd/clientv3 3.4, from Debian's golang-etcd-server-dev).
//
// It runs exactly the load of etcd-bench's cases: one clientv3.Client (one
// gRPC connection), `-concurrency` goroutines each issuing one request at a
// time (so N requests are in flight on that connection), keys
// <prefix><i mod keyspace> formatted as %010d, values of -val-size bytes 'v',
// until -ops requests were started or -duration passed. It prints one line:
//
//	GOREF op=put conc=128 ops=20000 errors=0 secs=1.234 ops_s=16207.4 p50_ms=7.512 p99_ms=15.020 cpu_us_op=41.2
//
// Build (no network needed; Debian's Go packages in /usr/share/gocode):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o etcd-goref bench/goref/main.go
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/etcd/clientv3"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func pct(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted)) + 0.5)
	if i < 1 {
		i = 1
	}
	if i > len(sorted) {
		i = len(sorted)
	}
	return float64(sorted[i-1]) / 1e6
}

func main() {
	endpoint := flag.String("endpoint", "127.0.0.1:2379", "etcd endpoint host:port")
	op := flag.String("op", "put", "put, range (linearizable Get) or txn (compare version>0, then put)")
	conc := flag.Int("concurrency", 1, "requests in flight at once on the one connection")
	total := flag.Int("ops", 20000, "stop after this many requests")
	dur := flag.Duration("duration", 3*time.Second, "or after this long, whichever comes first")
	valSize := flag.Int("val-size", 256, "value size in bytes")
	keyspace := flag.Int("keyspace", 10000, "keys cycle over this many names")
	prefix := flag.String("prefix", "/bench/k/", "key prefix")
	flag.Parse()

	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{*endpoint},
		DialTimeout: 5 * time.Second,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcd-goref:", err)
		os.Exit(1)
	}
	defer cli.Close()
	val := strings.Repeat("v", *valSize)
	key := func(i int64) string { return fmt.Sprintf("%s%010d", *prefix, i%int64(*keyspace)) }

	// Warm-up: the connection is up before the clock starts (as in etcd-bench).
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, err = cli.Get(wctx, key(0))
	wcancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcd-goref: warm-up:", err)
		os.Exit(1)
	}

	var do func(ctx context.Context, i int64) error
	switch *op {
	case "put":
		do = func(ctx context.Context, i int64) error {
			_, err := cli.Put(ctx, key(i), val)
			return err
		}
	case "range":
		do = func(ctx context.Context, i int64) error {
			_, err := cli.Get(ctx, key(i))
			return err
		}
	case "txn":
		do = func(ctx context.Context, i int64) error {
			k := key(i)
			_, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.Version(k), ">", 0)).
				Then(clientv3.OpPut(k, val)).Commit()
			return err
		}
	default:
		fmt.Fprintln(os.Stderr, "etcd-goref: unknown -op", *op)
		os.Exit(2)
	}

	lat := make([]time.Duration, *total)
	var next, done, errs int64
	var wg sync.WaitGroup
	cpu0 := cpuNow()
	start := time.Now()
	deadline := start.Add(*dur)
	for g := 0; g < *conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if time.Now().After(deadline) {
					return
				}
				i := atomic.AddInt64(&next, 1) - 1
				if i >= int64(*total) {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				st := time.Now()
				err := do(ctx, i)
				lat[i] = time.Since(st)
				cancel()
				if err != nil {
					atomic.AddInt64(&errs, 1)
				}
				atomic.AddInt64(&done, 1)
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	cpu := cpuNow() - cpu0
	n := atomic.LoadInt64(&done)
	if n > int64(*total) {
		n = int64(*total)
	}
	ls := lat[:0]
	for _, l := range lat {
		if l > 0 {
			ls = append(ls, l)
		}
	}
	sort.Slice(ls, func(a, b int) bool { return ls[a] < ls[b] })
	fmt.Printf("GOREF op=%s conc=%d ops=%d errors=%d secs=%.3f ops_s=%.1f p50_ms=%.3f p99_ms=%.3f cpu_us_op=%.1f\n",
		*op, *conc, n, errs, secs, float64(n-errs)/secs, pct(ls, 0.50), pct(ls, 0.99),
		float64(cpu.Microseconds())/float64(n))
}
