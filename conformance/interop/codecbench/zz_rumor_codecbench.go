// This file is NOT part of hashicorp/memberlist. It belongs to the rumor
// project (conformance/interop/codecbench) and is compiled INTO a private copy
// of Debian's memberlist 0.2.2 package by conformance/interop/build.sh, so
// that it can time the package's own unexported stream code: the encoding
// sendLocalState does, readRemoteState, compressPayload and
// decompressPayload. Every identifier declared here starts with "rumor".

package memberlist

import (
	"bytes"
	"compress/lzw"
	"fmt"
	"hash/crc32"
	"io"
	"io/ioutil"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	"github.com/hashicorp/go-msgpack/codec"
)

// rumorBenchStates are the push/pull states of rumor's core/benches/wire.rs
// (fn states): node-0001.., 10.0.(i>>8).(i&255), port 7946, 16 bytes of meta
// 0x5a, incarnation 1 + (7i + 37 variant) mod 300, every 50th suspect / dead /
// left. Variant 0 is the benchmark's message; compress_varied takes 0..15 in turn.
func rumorBenchStates(n, variant int) []pushNodeState {
	meta := bytes.Repeat([]byte{0x5a}, 16)
	states := make([]pushNodeState, n)
	for i := range states {
		st := StateAlive
		switch i % 50 {
		case 0:
			st = StateSuspect
		case 1:
			st = StateDead
		case 2:
			st = StateLeft
		}
		states[i] = pushNodeState{
			Name:        fmt.Sprintf("node-%04d", i+1),
			Addr:        []byte{10, 0, byte(i >> 8), byte(i)},
			Port:        7946,
			Meta:        meta,
			Incarnation: uint32(1 + (i*7+variant*37)%300),
			State:       st,
			Vsn:         []uint8{1, 5, 2, 0, 0, 0},
		}
	}
	return states
}

// rumorEncodePushPull is the encoding half of sendLocalState, verbatim: a
// bytes.Buffer, a fresh msgpack encoder, the type byte, the header, each
// state, no user state.
func rumorEncodePushPull(localNodes []pushNodeState, join bool) ([]byte, error) {
	bufConn := bytes.NewBuffer(nil)
	header := pushPullHeader{Nodes: len(localNodes), UserStateLen: 0, Join: join}
	hd := codec.MsgpackHandle{}
	enc := codec.NewEncoder(bufConn, &hd)
	if _, err := bufConn.Write([]byte{byte(pushPullMsg)}); err != nil {
		return nil, err
	}
	if err := enc.Encode(&header); err != nil {
		return nil, err
	}
	for i := 0; i < header.Nodes; i++ {
		if err := enc.Encode(&localNodes[i]); err != nil {
			return nil, err
		}
	}
	return bufConn.Bytes(), nil
}

// rumorDecodePushPull is what handleConn does with an uncompressed push/pull
// after the type byte: a decoder on the stream, then readRemoteState.
func rumorDecodePushPull(m *Memberlist, msg []byte) ([]pushNodeState, error) {
	if msg[0] != byte(pushPullMsg) {
		return nil, fmt.Errorf("not a push/pull")
	}
	bufConn := bytes.NewReader(msg[1:])
	hd := codec.MsgpackHandle{}
	dec := codec.NewDecoder(bufConn, &hd)
	_, nodes, _, err := m.readRemoteState(bufConn, dec)
	return nodes, err
}

// rumorTiming is one operation's median time per call over many samples.
type rumorTiming struct {
	name    string
	nsPerOp float64
	allocs  float64
}

// rumorTime runs op in samples of about 2 ms for about budget (after a warm-up
// of a tenth of it) and returns the median time per call, the figure rumor's
// criterion benches report next to it (their samples are about 2 ms too).
func rumorTime(name string, budget time.Duration, op func()) rumorTiming {
	per := 1
	for {
		t := time.Now()
		for i := 0; i < per; i++ {
			op()
		}
		if d := time.Since(t); d >= 2*time.Millisecond {
			break
		} else if d < 200*time.Microsecond {
			per *= 10
		} else {
			per *= 2
		}
	}
	warm := time.Now()
	for time.Since(warm) < budget/10 {
		op()
	}
	var samples []float64
	start := time.Now()
	for time.Since(start) < budget || len(samples) < 11 {
		t := time.Now()
		for i := 0; i < per; i++ {
			op()
		}
		samples = append(samples, float64(time.Since(t).Nanoseconds())/float64(per))
	}
	sort.Float64s(samples)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 20
	for i := 0; i < runs; i++ {
		op()
	}
	runtime.ReadMemStats(&after)
	return rumorTiming{name, samples[len(samples)/2], float64(after.Mallocs-before.Mallocs) / runs}
}

// RumorCodecBench times memberlist's push/pull encode and decode of members
// states and compressPayload / decompressPayload of the encoded message, and
// prints one line per operation: "go <group>/<bench> <ns per op> ns <allocs>
// allocs". With dump != "", it first writes the message (push_pull.bin) and
// compressPayload's output (push_pull.lzw, a whole compress message) there.
func RumorCodecBench(members int, budget time.Duration, dump string, out io.Writer) error {
	states := rumorBenchStates(members, 0)
	msg, err := rumorEncodePushPull(states, false)
	if err != nil {
		return err
	}
	msg = append([]byte(nil), msg...)
	m := &Memberlist{config: DefaultLANConfig()}
	back, err := rumorDecodePushPull(m, msg)
	if err != nil {
		return err
	}
	if len(back) != members || back[members-1].Name != states[members-1].Name {
		return fmt.Errorf("push/pull did not round-trip")
	}
	packed, err := compressPayload(msg)
	if err != nil {
		return err
	}
	lzw := append([]byte(nil), packed.Bytes()...)
	plain, err := decompressPayload(lzw[1:])
	if err != nil {
		return err
	}
	if !bytes.Equal(plain, msg) {
		return fmt.Errorf("compressPayload did not round-trip")
	}
	if dump != "" {
		if err := ioutil.WriteFile(filepath.Join(dump, "push_pull.bin"), msg, 0o644); err != nil {
			return err
		}
		if err := ioutil.WriteFile(filepath.Join(dump, "push_pull.lzw"), lzw, 0o644); err != nil {
			return err
		}
	}
	// As rumor's bench: 16 messages in turn, so that the CPU cannot learn the
	// branches of one.
	var varied [][]byte
	for k := 0; k < 16; k++ {
		v, err := rumorEncodePushPull(rumorBenchStates(members, k), false)
		if err != nil {
			return err
		}
		varied = append(varied, append([]byte(nil), v...))
	}
	next := 0
	group := fmt.Sprintf("push_pull%d", members)
	timings := []rumorTiming{
		rumorTime(group+"/encode", budget, func() {
			if _, err := rumorEncodePushPull(states, false); err != nil {
				panic(err)
			}
		}),
		rumorTime(group+"/decode", budget, func() {
			if _, err := rumorDecodePushPull(m, msg); err != nil {
				panic(err)
			}
		}),
		rumorTime(group+"_lzw/compress", budget, func() {
			if _, err := compressPayload(msg); err != nil {
				panic(err)
			}
		}),
		rumorTime(group+"_lzw/compress_varied", budget, func() {
			next = (next + 1) % len(varied)
			if _, err := compressPayload(varied[next]); err != nil {
				panic(err)
			}
		}),
		rumorTime(group+"_lzw/decompress", budget, func() {
			if _, err := decompressPayload(lzw[1:]); err != nil {
				panic(err)
			}
		}),
	}
	fmt.Fprintf(out, "go message %d bytes, compressed %d bytes (%s, GOMAXPROCS=%d)\n",
		len(msg), len(lzw), runtime.Version(), runtime.GOMAXPROCS(0))
	for _, t := range timings {
		fmt.Fprintf(out, "go %s %.0f ns %.1f allocs\n", t.name, t.nsPerOp, t.allocs)
	}
	return nil
}

// rumorRandom is xorshift32 from 0x12345678, the low byte of each step: the
// same bytes as lzw_random in rumor's core/src/wire/compress.rs tests.
func rumorRandom(n int) []byte {
	x := uint32(0x12345678)
	out := make([]byte, n)
	for i := range out {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		out[i] = byte(x)
	}
	return out
}

// rumorText is low-entropy text with long repeats (lzw_text in rumor's tests).
func rumorText(n int) []byte {
	out := make([]byte, n)
	for i := range out {
		j := uint64(i)
		out[i] = 'a' + byte((j/3+j*j/97)%23)
	}
	return out
}

// rumorLZW is what memberlist's compressPayload does before the msgpack
// wrapping: Go's compress/lzw writer, LSB, 8-bit literals.
func rumorLZW(in []byte) []byte {
	var buf bytes.Buffer
	w := lzw.NewWriter(&buf, lzw.LSB, lzwLitWidth)
	if _, err := w.Write(in); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// RumorLZWVectors prints, for inputs rumor's tests generate the same way, the
// length and CRC-32 (IEEE) of Go's LZW stream: "<name> <bytes out> <crc32 hex>".
// "sweep" is the concatenation of the streams of the random inputs of every
// length in 0..=40, 500..=530, 1780..=1800 (around rumor's table sizes),
// 3790..=3860 and 7640..=7700 (around Go's table resets).
func RumorLZWVectors(out io.Writer) {
	show := func(name string, b []byte) {
		fmt.Fprintf(out, "%s %d %08x\n", name, len(b), crc32.ChecksumIEEE(b))
	}
	msg, err := rumorEncodePushPull(rumorBenchStates(1000, 0), false)
	if err != nil {
		panic(err)
	}
	show("push_pull1000", rumorLZW(msg))
	show("random100000", rumorLZW(rumorRandom(100000)))
	show("text300000", rumorLZW(rumorText(300000)))
	show("zeros100000", rumorLZW(make([]byte, 100000)))
	var sweep []byte
	for _, r := range [][2]int{{0, 40}, {500, 530}, {1780, 1800}, {3790, 3860}, {7640, 7700}} {
		for n := r[0]; n <= r[1]; n++ {
			sweep = append(sweep, rumorLZW(rumorRandom(n))...)
		}
	}
	show("sweep", sweep)
}
