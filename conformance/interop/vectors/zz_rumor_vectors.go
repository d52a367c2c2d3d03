// This file is NOT part of hashicorp/memberlist. It belongs to the rumor
// project (conformance/interop/vectors) and is compiled INTO a private copy
// of Debian's memberlist 0.2.2 package by conformance/interop/build.sh, so
// that it can call the package's unexported wire code: encode, decode,
// makeCompoundMessage, decodeCompoundMessage, compressPayload,
// decompressPayload, encryptPayload, decryptPayload and the *Memberlist
// stream methods (sendLocalState, sendUserMsg, rawSendMsgPacket,
// encryptLocalState, readStream, readRemoteState, readUserMsg).
//
// It captures golden wire vectors (mode "capture"), checks bytes produced by
// rumor for the same named values with the real Go decoding paths (mode
// "verify"), and checks itself (mode "selftest"). Every identifier declared
// here starts with "rumor" so that it cannot collide with memberlist's own.

package memberlist

import (
	"bufio"
	"bytes"
	cryptorand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"time"

	"github.com/hashicorp/go-msgpack/codec"
)

// rumorPackageVersions is set at link time by build.sh (-ldflags -X) to the
// Debian package versions the program was built from, e.g.
// "golang-github-hashicorp-memberlist-dev=0.2.2-2,...".
var rumorPackageVersions string

// rumorMemberlistVersion is the upstream memberlist release this file was
// written against (Debian's golang-github-hashicorp-memberlist-dev 0.2.2).
const rumorMemberlistVersion = "0.2.2"

// rumorVector is one named golden value.
type rumorVector struct {
	name  string
	desc  string // one line, human readable
	bytes []byte // what the real Go code produced
	// check verifies bytes produced by another implementation for the same
	// value; nil error means ok.
	check func(got []byte) error
}

// rumorNotIdentical is the failure reported when bytes decode to the right
// value but differ from what Go itself writes for it.
const rumorNotIdentical = "not byte-identical"

// ---------------------------------------------------------------------------
// Entry point

// RumorVectorsMain runs the vectors program. args excludes the program name.
// It returns the process exit code: 0 success, 1 failure, 2 usage error.
func RumorVectorsMain(args []string, stdin io.Reader, stdout io.Writer) int {
	const usage = `usage:
  vectors capture [-o FILE]   write the golden vectors file (default: stdout)
  vectors verify              read "<name> <hex>" lines on stdin, check each with
                              memberlist's own decoding code; print "<name> ok" or
                              "<name> FAIL <reason>", then "verified N ok, M failed"
  vectors selftest            capture in memory, then verify the captured bytes
`
	if len(args) == 0 || (args[0] != "capture" && args[0] != "verify" && args[0] != "selftest") {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("vectors "+args[0], flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	out := fs.String("o", "", "capture: output file (default stdout)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() != 0 || (*out != "" && args[0] != "capture") {
		fs.Usage()
		return 2
	}

	vectors, err := rumorBuildVectors()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vectors: building the vector table: %v\n", err)
		return 1
	}

	switch args[0] {
	case "capture":
		text := rumorFormatVectors(vectors)
		if *out == "" {
			if _, err := io.WriteString(stdout, text); err != nil {
				fmt.Fprintf(os.Stderr, "vectors: %v\n", err)
				return 1
			}
			return 0
		}
		if err := rumorWriteFileAtomic(*out, []byte(text)); err != nil {
			fmt.Fprintf(os.Stderr, "vectors: %v\n", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "vectors: wrote %d vectors to %s\n", len(vectors), *out)
		return 0
	case "verify":
		return rumorVerify(vectors, stdin, stdout)
	default: // "selftest"
		// Feed our own capture back, descriptions stripped, exactly as the
		// Rust side would send its bytes.
		var in strings.Builder
		for _, v := range vectors {
			fmt.Fprintf(&in, "%s %s\n", v.name, hex.EncodeToString(v.bytes))
		}
		return rumorVerify(vectors, strings.NewReader(in.String()), stdout)
	}
}

// rumorWriteFileAtomic writes data to a temporary file next to path and
// renames it into place.
func rumorWriteFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ---------------------------------------------------------------------------
// Capture output

// rumorFormatVectors renders the vectors file: a comment header, then one
// "<name> <hex> <description>" line per vector. The output depends only on
// the table, the Go toolchain version and the package versions.
func rumorFormatVectors(vectors []*rumorVector) string {
	pkgs := rumorPackageVersions
	if pkgs == "" {
		pkgs = "unknown (not built by build.sh)"
	}
	var b strings.Builder
	header := []string{
		"Golden wire vectors of hashicorp/memberlist " + rumorMemberlistVersion + ", captured from its own code paths",
		"(encode, makeCompoundMessage, compressPayload, encryptPayload, sendLocalState, sendUserMsg,",
		"rawSendMsgPacket, encryptLocalState) by conformance/interop/vectors, a file compiled into the package.",
		"Go toolchain: " + runtime.Version() + "; Debian packages: " + pkgs,
		"Regenerate: conformance/interop/capture-vectors.sh (builds with conformance/interop/build.sh). Do not edit.",
		"Check another implementation's bytes: <vectors binary> verify < lines of \"<name> <hex>\".",
		"Format: '#' lines are comments; else \"<name> <lowercase hex> <description to end of line>\".",
		"Fixed inputs: AES keys are bytes 00 01 02 .. (len-1) for 16/24/32 bytes; every GCM nonce is a0 a1 .. ab",
		"(crypto/rand.Reader replaced while capturing). LZW bytes are what Go " + runtime.Version() + "'s compress/lzw",
		"writes: compare decompressed content, not compressed bytes. Vsn = [1 5 2 0 0 0] unless stated.",
	}
	for _, h := range header {
		b.WriteString("# " + h + "\n")
	}
	for _, v := range vectors {
		fmt.Fprintf(&b, "%s %s %s; %d bytes\n", v.name, hex.EncodeToString(v.bytes), v.desc, len(v.bytes))
	}
	return b.String()
}

// ---------------------------------------------------------------------------
// Verify

// rumorVerify reads "<name> <hex>" lines (anything after the hex is ignored,
// so a vectors file can be fed as is; blank and '#' lines are skipped),
// checks each, and prints one result line per input line plus a summary.
func rumorVerify(vectors []*rumorVector, in io.Reader, out io.Writer) int {
	byName := make(map[string]*rumorVector, len(vectors))
	for _, v := range vectors {
		byName[v.name] = v
	}
	w := bufio.NewWriter(out)
	defer w.Flush()

	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 1<<20), 256<<20) // push_pull_large is ~240 kB of hex
	okCount, failCount := 0, 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		name := fields[0]
		err := func() error {
			v, known := byName[name]
			if !known {
				return errors.New("unknown vector name")
			}
			if len(fields) < 2 {
				return errors.New("no hex given")
			}
			got, err := hex.DecodeString(fields[1])
			if err != nil {
				return fmt.Errorf("bad hex: %v", err)
			}
			return rumorRunCheck(v, got)
		}()
		if err == nil {
			okCount++
			fmt.Fprintf(w, "%s ok\n", name)
		} else {
			failCount++
			reason := strings.Join(strings.Fields(err.Error()), " ") // keep it on one line
			fmt.Fprintf(w, "%s FAIL %s\n", name, reason)
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "vectors: reading input: %v\n", err)
		failCount++
	}
	fmt.Fprintf(w, "verified %d ok, %d failed\n", okCount, failCount)
	if okCount+failCount == 0 {
		fmt.Fprintln(os.Stderr, "vectors: no vectors on stdin")
		return 1
	}
	if failCount > 0 {
		return 1
	}
	return 0
}

// rumorRunCheck runs a vector's check, turning a panic inside memberlist's
// code (0.2.2 panics on some malformed input, e.g. compounds with >= 128
// parts) into a failure.
func rumorRunCheck(v *rumorVector, got []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in Go memberlist code: %v", r)
		}
	}()
	return v.check(append([]byte(nil), got...))
}

// ---------------------------------------------------------------------------
// The table

// rumorVsn is the Vsn of every table value unless stated otherwise:
// [pmin pmax pcur dmin dmax dcur].
func rumorVsn() []uint8 { return []uint8{1, 5, 2, 0, 0, 0} }

// rumorVsnAlt is the second Vsn used by some values.
func rumorVsnAlt() []uint8 { return []uint8{1, 5, 2, 2, 4, 3} }

func rumorIPv4(a, b, c, d byte) []byte { return []byte(net.IPv4(a, b, c, d).To4()) }

func rumorIPv6Loopback() []byte { return append([]byte(nil), net.IPv6loopback...) }

// rumorKey returns the test key of the given length: bytes 00 01 02 ...
func rumorKey(n int) []byte {
	k := make([]byte, n)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

// rumorPacketMsg is a single msgpack-bodied message: type byte + encode(val).
type rumorPacketMsg struct {
	name string
	typ  messageType
	val  interface{} // pointer to the memberlist struct
	desc string
}

func rumorPacketMsgs() []rumorPacketMsg {
	vsn := rumorVsn()
	longName := "node-with-a-rather-long-name-0123456789"
	if len(longName) != 39 {
		panic("long node name must be 39 bytes")
	}
	meta512 := bytes.Repeat([]byte("x"), MetaMaxSize)
	return []rumorPacketMsg{
		{"ping", pingMsg, &ping{SeqNo: 1, Node: "node-b"},
			`pingMsg ping{SeqNo:1 Node:"node-b"} (Source* omitted)`},
		{"ping_source", pingMsg, &ping{SeqNo: 42, Node: "node-b", SourceAddr: rumorIPv4(10, 0, 0, 1), SourcePort: 7946, SourceNode: "node-a"},
			`pingMsg ping{SeqNo:42 Node:"node-b" SourceAddr:10.0.0.1 (4 bytes) SourcePort:7946 SourceNode:"node-a"}`},
		{"ping_ipv6_source", pingMsg, &ping{SeqNo: 4294967295, Node: "", SourceAddr: rumorIPv6Loopback(), SourcePort: 65535, SourceNode: "n"},
			`pingMsg ping{SeqNo:4294967295 Node:"" SourceAddr:[::1] (16 bytes) SourcePort:65535 SourceNode:"n"}`},
		{"indirect_ping", indirectPingMsg, &indirectPingReq{SeqNo: 42, Target: rumorIPv4(10, 0, 0, 3), Port: 7946, Node: "node-c", Nack: true,
			SourceAddr: rumorIPv4(10, 0, 0, 1), SourcePort: 7946, SourceNode: "node-a"},
			`indirectPingMsg indirectPingReq{SeqNo:42 Target:10.0.0.3 (4 bytes) Port:7946 Node:"node-c" Nack:true SourceAddr:10.0.0.1 (4 bytes) SourcePort:7946 SourceNode:"node-a"}`},
		{"indirect_ping_minimal", indirectPingMsg, &indirectPingReq{SeqNo: 300, Target: rumorIPv4(10, 0, 0, 3), Port: 80, Node: "node-c", Nack: false},
			`indirectPingMsg indirectPingReq{SeqNo:300 Target:10.0.0.3 (4 bytes) Port:80 Node:"node-c" Nack:false} (Source* omitted)`},
		{"ack", ackRespMsg, &ackResp{SeqNo: 42, Payload: nil},
			`ackRespMsg ackResp{SeqNo:42 Payload:nil}`},
		{"ack_payload", ackRespMsg, &ackResp{SeqNo: 70000, Payload: []byte("hi")},
			`ackRespMsg ackResp{SeqNo:70000 Payload:"hi"}`},
		{"nack", nackRespMsg, &nackResp{SeqNo: 42},
			`nackRespMsg nackResp{SeqNo:42}`},
		{"suspect", suspectMsg, &suspect{Incarnation: 3, Node: "node-c", From: "node-a"},
			`suspectMsg suspect{Incarnation:3 Node:"node-c" From:"node-a"}`},
		{"suspect_long_name", suspectMsg, &suspect{Incarnation: 200, Node: longName, From: "node-a"},
			`suspectMsg suspect{Incarnation:200 Node:"` + longName + `" (39 bytes, str16) From:"node-a"}`},
		{"alive", aliveMsg, &alive{Incarnation: 1, Node: "node-a", Addr: rumorIPv4(10, 0, 0, 1), Port: 7946, Meta: []byte("role=web"), Vsn: vsn},
			`aliveMsg alive{Incarnation:1 Node:"node-a" Addr:10.0.0.1 (4 bytes) Port:7946 Meta:"role=web" Vsn:[1 5 2 0 0 0]}`},
		{"alive_ipv6", aliveMsg, &alive{Incarnation: 70000, Node: "n1", Addr: rumorIPv6Loopback(), Port: 65535, Meta: nil, Vsn: rumorVsnAlt()},
			`aliveMsg alive{Incarnation:70000 Node:"n1" Addr:[::1] (16 bytes) Port:65535 Meta:nil Vsn:[1 5 2 2 4 3]}`},
		{"alive_ipv4_mapped", aliveMsg, &alive{Incarnation: 2, Node: "node-m", Addr: []byte(net.IPv4(10, 0, 0, 9).To16()), Port: 7946, Meta: meta512, Vsn: vsn},
			`aliveMsg alive{Incarnation:2 Node:"node-m" Addr:[::ffff:10.0.0.9] (16 bytes, IPv4-mapped) Port:7946 Meta:512 bytes "xx..x" Vsn:[1 5 2 0 0 0]}`},
		{"dead", deadMsg, &dead{Incarnation: 7, Node: "node-c", From: "node-a"},
			`deadMsg dead{Incarnation:7 Node:"node-c" From:"node-a"}`},
		{"dead_leave", deadMsg, &dead{Incarnation: 3, Node: "node-a", From: "node-a"},
			`deadMsg dead{Incarnation:3 Node:"node-a" From:"node-a"} (From == Node: graceful leave)`},
		{"err", errMsg, &errResp{Error: "boom"},
			`errMsg errResp{Error:"boom"}`},
	}
}

// rumorPushStates is the node table of vector push_pull.
func rumorPushStates() []pushNodeState {
	vsn := rumorVsn()
	return []pushNodeState{
		{Name: "node-a", Addr: rumorIPv4(10, 0, 0, 1), Port: 7946, Meta: []byte("role=web"), Incarnation: 1, State: StateAlive, Vsn: vsn},
		{Name: "node-b", Addr: rumorIPv4(10, 0, 0, 2), Port: 7947, Meta: nil, Incarnation: 5, State: StateSuspect, Vsn: vsn},
		{Name: "node-c", Addr: rumorIPv4(10, 0, 0, 3), Port: 7948, Meta: nil, Incarnation: 9, State: StateDead, Vsn: vsn},
		{Name: "node-d", Addr: rumorIPv6Loopback(), Port: 7949, Meta: []byte("x"), Incarnation: 200, State: StateLeft, Vsn: rumorVsnAlt()},
	}
}

const rumorPushStatesDesc = `[` +
	`{Name:"node-a" Addr:10.0.0.1 Port:7946 Meta:"role=web" Incarnation:1 State:0/alive Vsn:[1 5 2 0 0 0]} ` +
	`{Name:"node-b" Addr:10.0.0.2 Port:7947 Meta:nil Incarnation:5 State:1/suspect Vsn:[1 5 2 0 0 0]} ` +
	`{Name:"node-c" Addr:10.0.0.3 Port:7948 Meta:nil Incarnation:9 State:2/dead Vsn:[1 5 2 0 0 0]} ` +
	`{Name:"node-d" Addr:[::1] (16 bytes) Port:7949 Meta:"x" Incarnation:200 State:3/left Vsn:[1 5 2 2 4 3]}]`

func rumorLargePushStates() []pushNodeState {
	states := make([]pushNodeState, 200)
	for i := range states {
		states[i] = pushNodeState{
			Name:        fmt.Sprintf("node-%03d", i),
			Addr:        rumorIPv4(10, 0, byte(i/256), byte(i%256)),
			Port:        uint16(7946 + i),
			Meta:        nil,
			Incarnation: uint32(i + 1),
			State:       NodeStateType(i % 4),
			Vsn:         rumorVsn(),
		}
	}
	return states
}

func rumorLargeUserState() []byte {
	b := make([]byte, 40000)
	for j := range b {
		b[j] = byte(j % 251)
	}
	return b
}

// rumorPushPull is one push/pull value: join flag, node states, user state.
type rumorPushPull struct {
	join   bool
	states []pushNodeState
	user   []byte // nil = no user state
}

// rumorBuildVectors computes every vector with memberlist's own code. The
// order of the returned slice is the order of the vectors file.
func rumorBuildVectors() ([]*rumorVector, error) {
	var vectors []*rumorVector
	add := func(name string, b []byte, desc string, check func([]byte) error) {
		vectors = append(vectors, &rumorVector{name: name, desc: desc, bytes: b, check: check})
	}
	enc := map[string][]byte{} // single messages by name, for the composites

	// Single packet messages: encode(type, value).
	for _, pm := range rumorPacketMsgs() {
		buf, err := encode(pm.typ, pm.val)
		if err != nil {
			return nil, fmt.Errorf("%s: encode: %v", pm.name, err)
		}
		enc[pm.name] = buf.Bytes()
		add(pm.name, buf.Bytes(), pm.desc+"; via encode()", rumorCheckPacketMsg(pm.typ, pm.val))
	}

	// Packet user message: type byte + raw bytes.
	user := append([]byte{byte(userMsg)}, "hello world"...)
	enc["user"] = user
	add("user", user, `userMsg (packet form) + raw "hello world"`, func(got []byte) error {
		return rumorExpectEqual(got, user)
	})

	// Compounds.
	compounds := []struct {
		name  string
		parts []string
	}{
		{"compound", []string{"ping", "suspect"}},
		{"compound_three", []string{"ack", "alive", "user"}},
	}
	for _, c := range compounds {
		var parts [][]byte
		for _, p := range c.parts {
			parts = append(parts, enc[p])
		}
		b := makeCompoundMessage(parts).Bytes()
		enc[c.name] = b
		add(c.name, b, fmt.Sprintf("makeCompoundMessage of vectors [%s]", strings.Join(c.parts, " ")),
			rumorCheckCompound(parts))
	}

	// CRC: rawSendMsgPacket to a node whose PMax is 5 (compression and
	// encryption off) prefixes hasCrcMsg + CRC32-IEEE, big-endian.
	pingBytes := enc["ping"]
	crcBytes, err := rumorSendPacket(pingBytes, &Node{Name: "node-b", PMax: 5})
	if err != nil {
		return nil, fmt.Errorf("crc: %v", err)
	}
	add("crc", crcBytes, `hasCrcMsg + u32 BE crc32.ChecksumIEEE(vector ping) + vector ping; via rawSendMsgPacket to a node with PMax 5`,
		rumorCheckCRC(pingBytes))

	// Packet compression.
	compressIn := makeCompoundMessage([][]byte{enc["alive"], enc["alive_ipv6"], enc["suspect"], enc["dead"]}).Bytes()
	compBuf, err := compressPayload(compressIn)
	if err != nil {
		return nil, fmt.Errorf("compress: %v", err)
	}
	add("compress", compBuf.Bytes(),
		fmt.Sprintf("compressMsg{Algo:0 Buf:LZW (LSB, width 8) of makeCompoundMessage of vectors [alive alive_ipv6 suspect dead] (%d bytes)}; via compressPayload", len(compressIn)),
		rumorCheckCompress(compressIn))

	// Stream user message, via sendUserMsg (compression off, no keyring).
	userStream, err := rumorSendUserStream([]byte("hello world"))
	if err != nil {
		return nil, fmt.Errorf("user_stream: %v", err)
	}
	add("user_stream", userStream, `userMsg + userMsgHeader{UserMsgLen:11} + raw "hello world"; stream form; via sendUserMsg`,
		rumorCheckUserStream(userStream, []byte("hello world")))

	// Push/pull, via sendLocalState (compression off, no keyring).
	pushPulls := []struct {
		name string
		pp   rumorPushPull
		desc string
	}{
		{"push_pull", rumorPushPull{false, rumorPushStates(), []byte("hello")},
			`pushPullMsg + pushPullHeader{Nodes:4 UserStateLen:5 Join:false} + pushNodeState ` + rumorPushStatesDesc + ` + user state "hello"`},
		{"push_pull_join", rumorPushPull{true, rumorPushStates()[:1], nil},
			`pushPullMsg + pushPullHeader{Nodes:1 UserStateLen:0 Join:true} + pushNodeState ` +
				`[{Name:"node-a" Addr:10.0.0.1 Port:7946 Meta:"role=web" Incarnation:1 State:0/alive Vsn:[1 5 2 0 0 0]}], no user state`},
		{"push_pull_large", rumorPushPull{false, rumorLargePushStates(), rumorLargeUserState()},
			`pushPullMsg + pushPullHeader{Nodes:200 UserStateLen:40000 Join:false} + 200 pushNodeState i=0..199 ` +
				`{Name:fmt("node-%03d",i) Addr:10.0.(i/256).(i%256) Port:7946+i Meta:nil Incarnation:i+1 State:i%4 Vsn:[1 5 2 0 0 0]} ` +
				`+ 40000 bytes user state, byte j = j%251`},
	}
	for _, p := range pushPulls {
		b, err := rumorSendLocalState(p.pp, false)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", p.name, err)
		}
		enc[p.name] = b
		add(p.name, b, p.desc+"; via sendLocalState", rumorCheckPushPull(p.pp, b))
	}

	// Stream compression: sendLocalState with EnableCompression, i.e.
	// rawSendMsgStream's compressPayload of the whole push_pull message.
	pp := pushPulls[0].pp
	compStream, err := rumorSendLocalState(pp, true)
	if err != nil {
		return nil, fmt.Errorf("compress_stream: %v", err)
	}
	add("compress_stream", compStream, "compressPayload(vector push_pull); via sendLocalState with EnableCompression (rawSendMsgStream)",
		rumorCheckCompressStream(pp, enc["push_pull"]))

	// Packet encryption of the compound vector.
	keySizes := []int{16, 24, 32}
	for _, vsn := range []encryptionVersion{0, 1} {
		for _, n := range keySizes {
			key := rumorKey(n)
			var out bytes.Buffer
			err := rumorWithFixedNonce(func() error {
				return encryptPayload(vsn, key, enc["compound"], nil, &out)
			})
			if err != nil {
				return nil, fmt.Errorf("encrypt_packet v%d k%d: %v", vsn, n, err)
			}
			if err := rumorCheckEnvelope(out.Bytes(), vsn); err != nil {
				return nil, fmt.Errorf("encrypt_packet v%d k%d: %v", vsn, n, err)
			}
			name := fmt.Sprintf("encrypt_packet_v%d_k%d", vsn, n)
			add(name, out.Bytes(),
				fmt.Sprintf("encryptPayload(version %d%s, AES-%d key 00..%02x, nonce a0..ab, plaintext = vector compound, no AAD)",
					vsn, rumorVsnNote(vsn), n*8, n-1),
				rumorCheckEncryptedPacket(vsn, key, enc["compound"]))
		}
	}

	// Stream encryption of the user_stream vector via encryptLocalState; the
	// envelope version follows the configured ProtocolVersion.
	for _, vsn := range []encryptionVersion{0, 1} {
		protocol := uint8(1)
		if vsn == 1 {
			protocol = 2
		}
		for _, n := range keySizes {
			key := rumorKey(n)
			keyring, err := NewKeyring(nil, key)
			if err != nil {
				return nil, err
			}
			m := rumorNewMemberlist(&Config{ProtocolVersion: protocol, Keyring: keyring})
			var out []byte
			err = rumorWithFixedNonce(func() error {
				var err error
				out, err = m.encryptLocalState(userStream)
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("encrypt_stream v%d k%d: %v", vsn, n, err)
			}
			if len(out) < 5 || out[0] != byte(encryptMsg) {
				return nil, fmt.Errorf("encrypt_stream v%d k%d: no encryptMsg frame", vsn, n)
			}
			if err := rumorCheckEnvelope(out[5:], vsn); err != nil {
				return nil, fmt.Errorf("encrypt_stream v%d k%d: %v", vsn, n, err)
			}
			name := fmt.Sprintf("encrypt_stream_v%d_k%d", vsn, n)
			add(name, out,
				fmt.Sprintf("encryptLocalState with ProtocolVersion %d (envelope version %d%s), AES-%d key 00..%02x, nonce a0..ab, "+
					"plaintext = vector user_stream, AAD = the 5 frame header bytes 0a + u32 BE length",
					protocol, vsn, rumorVsnNote(vsn), n*8, n-1),
				rumorCheckEncryptedStream(vsn, key, userStream))
		}
	}
	return vectors, nil
}

func rumorVsnNote(vsn encryptionVersion) string {
	if vsn == 0 {
		return ": AES-GCM with PKCS#7 padding"
	}
	return ": AES-GCM, no padding"
}

// ---------------------------------------------------------------------------
// Deterministic nonces

// rumorNonceReader yields a0 a1 .. ab over and over, so that every 12-byte
// nonce read by encryptPayload is a0..ab however the reads are split.
type rumorNonceReader struct{ off int }

func (r *rumorNonceReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 0xa0 + byte(r.off%nonceSize)
		r.off++
	}
	return len(p), nil
}

// rumorWithFixedNonce runs f with crypto/rand.Reader swapped for
// rumorNonceReader and restores it afterwards.
func rumorWithFixedNonce(f func() error) error {
	saved := cryptorand.Reader
	cryptorand.Reader = &rumorNonceReader{}
	defer func() { cryptorand.Reader = saved }()
	return f()
}

// rumorCheckEnvelope checks the version byte and the fixed nonce of an
// encryption envelope that we produced.
func rumorCheckEnvelope(env []byte, vsn encryptionVersion) error {
	if len(env) < versionSize+nonceSize {
		return fmt.Errorf("envelope too short (%d bytes)", len(env))
	}
	if env[0] != byte(vsn) {
		return fmt.Errorf("version byte %d, want %d", env[0], vsn)
	}
	for i, b := range env[versionSize : versionSize+nonceSize] {
		if b != 0xa0+byte(i) {
			return fmt.Errorf("nonce is not a0..ab: % x", env[versionSize:versionSize+nonceSize])
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// An in-memory Memberlist, connection and transport for the send/read paths

// rumorNewMemberlist returns a Memberlist with just a config: enough for the
// send/receive helpers used here, with no goroutines, sockets or timers.
func rumorNewMemberlist(conf *Config) *Memberlist {
	return &Memberlist{
		config: conf,
		logger: log.New(os.Stderr, "memberlist: ", 0),
	}
}

// rumorMemConn is a net.Conn reading from a fixed buffer and recording
// what is written.
type rumorMemConn struct {
	r *bytes.Reader
	w bytes.Buffer
}

func rumorNewMemConn(in []byte) *rumorMemConn { return &rumorMemConn{r: bytes.NewReader(in)} }

func (c *rumorMemConn) Read(p []byte) (int, error)         { return c.r.Read(p) }
func (c *rumorMemConn) Write(p []byte) (int, error)        { return c.w.Write(p) }
func (c *rumorMemConn) Close() error                       { return nil }
func (c *rumorMemConn) LocalAddr() net.Addr                { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (c *rumorMemConn) RemoteAddr() net.Addr               { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (c *rumorMemConn) SetDeadline(t time.Time) error      { return nil }
func (c *rumorMemConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *rumorMemConn) SetWriteDeadline(t time.Time) error { return nil }

// rumorTransport is a Transport whose streams are one rumorMemConn and whose
// packets are recorded.
type rumorTransport struct {
	conn    *rumorMemConn
	packets [][]byte
}

func (t *rumorTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return nil, 0, errors.New("rumorTransport has no address")
}

func (t *rumorTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	t.packets = append(t.packets, append([]byte(nil), b...))
	return time.Time{}, nil
}

func (t *rumorTransport) PacketCh() <-chan *Packet { return nil }

func (t *rumorTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.conn, nil
}

func (t *rumorTransport) StreamCh() <-chan net.Conn { return nil }
func (t *rumorTransport) Shutdown() error           { return nil }

// rumorDelegate returns a fixed LocalState and records NotifyMsg calls.
type rumorDelegate struct {
	localState []byte
	msgs       [][]byte
}

func (d *rumorDelegate) NodeMeta(limit int) []byte                  { return nil }
func (d *rumorDelegate) NotifyMsg(b []byte)                         { d.msgs = append(d.msgs, append([]byte(nil), b...)) }
func (d *rumorDelegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *rumorDelegate) LocalState(join bool) []byte                { return d.localState }
func (d *rumorDelegate) MergeRemoteState(buf []byte, join bool)     {}

// rumorSendPacket runs rawSendMsgPacket (compression and encryption off)
// towards node and returns the datagram it wrote.
func rumorSendPacket(msg []byte, node *Node) ([]byte, error) {
	t := &rumorTransport{}
	m := rumorNewMemberlist(&Config{ProtocolVersion: 2})
	m.transport = &shimNodeAwareTransport{t}
	if err := m.rawSendMsgPacket(Address{Addr: "10.0.0.2:7946", Name: node.Name}, node, msg); err != nil {
		return nil, err
	}
	if len(t.packets) != 1 {
		return nil, fmt.Errorf("rawSendMsgPacket wrote %d packets", len(t.packets))
	}
	return t.packets[0], nil
}

// rumorSendUserStream runs sendUserMsg (compression and encryption off) and
// returns the bytes it wrote to the stream.
func rumorSendUserStream(msg []byte) ([]byte, error) {
	t := &rumorTransport{conn: rumorNewMemConn(nil)}
	m := rumorNewMemberlist(&Config{ProtocolVersion: 2})
	m.transport = &shimNodeAwareTransport{t}
	if err := m.sendUserMsg(Address{Addr: "10.0.0.2:7946", Name: "node-b"}, msg); err != nil {
		return nil, err
	}
	return t.conn.w.Bytes(), nil
}

// rumorSendLocalState runs sendLocalState for a Memberlist whose node table
// holds pp.states and whose delegate's LocalState returns pp.user, with
// encryption off and compression as given; returns the bytes written.
func rumorSendLocalState(pp rumorPushPull, compression bool) ([]byte, error) {
	m := rumorNewMemberlist(&Config{
		ProtocolVersion:   2,
		EnableCompression: compression,
		Delegate:          &rumorDelegate{localState: pp.user},
	})
	for _, s := range pp.states {
		if len(s.Vsn) != 6 {
			return nil, fmt.Errorf("state %q: Vsn must have 6 bytes", s.Name)
		}
		m.nodes = append(m.nodes, &nodeState{
			Node: Node{
				Name: s.Name, Addr: net.IP(s.Addr), Port: s.Port, Meta: s.Meta,
				PMin: s.Vsn[0], PMax: s.Vsn[1], PCur: s.Vsn[2],
				DMin: s.Vsn[3], DMax: s.Vsn[4], DCur: s.Vsn[5],
			},
			Incarnation: s.Incarnation,
			State:       s.State,
		})
	}
	conn := rumorNewMemConn(nil)
	if err := m.sendLocalState(conn, pp.join); err != nil {
		return nil, err
	}
	return conn.w.Bytes(), nil
}

// ---------------------------------------------------------------------------
// Checks (verify side)

// rumorExpectEqual compares whole byte strings and reports the first
// difference.
func rumorExpectEqual(got, want []byte) error {
	if bytes.Equal(got, want) {
		return nil
	}
	return fmt.Errorf("bytes differ: %s", rumorFirstDiff(got, want))
}

// rumorFirstDiff describes where got first differs from want.
func rumorFirstDiff(got, want []byte) string {
	for i := 0; i < len(got) && i < len(want); i++ {
		if got[i] != want[i] {
			return fmt.Sprintf("first difference at byte %d: got %02x, want %02x", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("got %d bytes, want %d", len(got), len(want))
}

// rumorCheckPacketMsg: type byte, decode() into the Go struct, DeepEqual
// with the table value, then byte identity of Go's re-encoding.
func rumorCheckPacketMsg(typ messageType, want interface{}) func([]byte) error {
	return func(got []byte) error {
		if len(got) == 0 {
			return errors.New("empty message")
		}
		if messageType(got[0]) != typ {
			return fmt.Errorf("message type %d, want %d", got[0], typ)
		}
		out := reflect.New(reflect.TypeOf(want).Elem())
		if err := decode(got[1:], out.Interface()); err != nil {
			return fmt.Errorf("decode: %v", err)
		}
		if !reflect.DeepEqual(out.Interface(), want) {
			return fmt.Errorf("decoded %+v, want %+v", out.Elem().Interface(), reflect.ValueOf(want).Elem().Interface())
		}
		again, err := encode(typ, out.Interface())
		if err != nil {
			return fmt.Errorf("re-encode: %v", err)
		}
		if !bytes.Equal(again.Bytes(), got) {
			return fmt.Errorf("%s (decodes correctly; %s)", rumorNotIdentical, rumorFirstDiff(got, again.Bytes()))
		}
		return nil
	}
}

// rumorCheckCompound: decodeCompoundMessage must split the message, without
// error or truncation, into exactly Go's encodings of the parts.
func rumorCheckCompound(want [][]byte) func([]byte) error {
	return func(got []byte) error {
		if len(got) == 0 || messageType(got[0]) != compoundMsg {
			return errors.New("not a compoundMsg (type 7)")
		}
		trunc, parts, err := decodeCompoundMessage(got[1:])
		if err != nil {
			return fmt.Errorf("decodeCompoundMessage: %v", err)
		}
		if trunc != 0 {
			return fmt.Errorf("decodeCompoundMessage: %d truncated parts", trunc)
		}
		if len(parts) != len(want) {
			return fmt.Errorf("%d parts, want %d", len(parts), len(want))
		}
		used := 2 + 2*len(parts)
		for i := range parts {
			if !bytes.Equal(parts[i], want[i]) {
				return fmt.Errorf("part %d differs from Go's encoding: %s", i, rumorFirstDiff(parts[i], want[i]))
			}
			used += len(parts[i])
		}
		if used != len(got) {
			return fmt.Errorf("%d bytes after the last part", len(got)-used)
		}
		return nil
	}
}

// rumorCheckCRC: hasCrcMsg header with the CRC32-IEEE of the rest, and the
// rest is the ping vector.
func rumorCheckCRC(inner []byte) func([]byte) error {
	return func(got []byte) error {
		if len(got) < 5 || messageType(got[0]) != hasCrcMsg {
			return errors.New("not a hasCrcMsg (type 12) header")
		}
		if c, want := binary.BigEndian.Uint32(got[1:5]), crc32.ChecksumIEEE(got[5:]); c != want {
			return fmt.Errorf("crc %08x, crc32.ChecksumIEEE of the rest is %08x", c, want)
		}
		if !bytes.Equal(got[5:], inner) {
			return fmt.Errorf("payload after the CRC is not vector ping: %s", rumorFirstDiff(got[5:], inner))
		}
		return nil
	}
}

// rumorDecompress checks for compressMsg and runs decompressPayload; it also
// rejects bytes after the compress value (Go would ignore them).
func rumorDecompress(got []byte) ([]byte, error) {
	if len(got) == 0 || messageType(got[0]) != compressMsg {
		return nil, errors.New("not a compressMsg (type 9)")
	}
	plain, err := decompressPayload(got[1:])
	if err != nil {
		return nil, fmt.Errorf("decompressPayload: %v", err)
	}
	r := bytes.NewReader(got[1:])
	var c compress
	if err := codec.NewDecoder(r, &codec.MsgpackHandle{}).Decode(&c); err != nil {
		return nil, fmt.Errorf("decode compress: %v", err)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%d bytes after the compress value", r.Len())
	}
	return plain, nil
}

// rumorCheckCompress: decompressPayload must give back the uncompressed
// input (compressed bytes are not compared).
func rumorCheckCompress(want []byte) func([]byte) error {
	return func(got []byte) error {
		plain, err := rumorDecompress(got)
		if err != nil {
			return err
		}
		if !bytes.Equal(plain, want) {
			return fmt.Errorf("decompressed content differs: %s", rumorFirstDiff(plain, want))
		}
		return nil
	}
}

// rumorReadStreamStart runs m.readStream on a complete stream
// message and checks the message type.
func rumorReadStreamStart(m *Memberlist, stream []byte, want messageType) (io.Reader, *codec.Decoder, error) {
	typ, r, dec, err := m.readStream(rumorNewMemConn(stream))
	if err != nil {
		return nil, nil, fmt.Errorf("readStream: %v", err)
	}
	if typ != want {
		return nil, nil, fmt.Errorf("readStream: message type %d, want %d", typ, want)
	}
	return r, dec, nil
}

// rumorTrailing reports bytes left in r.
func rumorTrailing(r io.Reader) error {
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		return err
	}
	if n != 0 {
		return fmt.Errorf("%d trailing bytes after the message", n)
	}
	return nil
}

// rumorSaneLengths guards readRemoteState/readUserMsg, which allocate what
// the header says, against absurd counts in malformed input.
func rumorSaneLengths(stream []byte, lengths ...int) error {
	for _, n := range lengths {
		if n < 0 || n > len(stream) {
			return fmt.Errorf("header announces %d items/bytes in a %d-byte message", n, len(stream))
		}
	}
	return nil
}

// rumorCheckPushPull parses like handleConn/sendAndReceiveState do:
// readStream, then readRemoteState on the same reader and decoder; the
// result must DeepEqual the table and nothing may follow. Then byte
// identity with Go's own message.
func rumorCheckPushPull(want rumorPushPull, goBytes []byte) func([]byte) error {
	return func(got []byte) error {
		if len(got) > 0 && messageType(got[0]) == pushPullMsg {
			var h pushPullHeader
			if decode(got[1:], &h) == nil {
				if err := rumorSaneLengths(got, h.Nodes, h.UserStateLen); err != nil {
					return err
				}
			}
		}
		m := rumorNewMemberlist(&Config{ProtocolVersion: 2}) // >= 2: ports are kept
		r, dec, err := rumorReadStreamStart(m, got, pushPullMsg)
		if err != nil {
			return err
		}
		join, states, user, err := m.readRemoteState(r, dec)
		if err != nil {
			return fmt.Errorf("readRemoteState: %v", err)
		}
		if err := rumorTrailing(r); err != nil {
			return err
		}
		if join != want.join {
			return fmt.Errorf("Join %v, want %v", join, want.join)
		}
		if len(states) != len(want.states) {
			return fmt.Errorf("%d node states, want %d", len(states), len(want.states))
		}
		for i := range states {
			if !reflect.DeepEqual(states[i], want.states[i]) {
				return fmt.Errorf("node state %d is %+v, want %+v", i, states[i], want.states[i])
			}
		}
		if !reflect.DeepEqual(user, want.user) {
			return fmt.Errorf("user state differs: %s", rumorFirstDiff(user, want.user))
		}
		if !bytes.Equal(got, goBytes) {
			return fmt.Errorf("%s (decodes correctly; %s)", rumorNotIdentical, rumorFirstDiff(got, goBytes))
		}
		return nil
	}
}

// rumorCheckCompressStream: compressMsg whose content passes the push_pull
// check.
func rumorCheckCompressStream(want rumorPushPull, goPlain []byte) func([]byte) error {
	check := rumorCheckPushPull(want, goPlain)
	return func(got []byte) error {
		plain, err := rumorDecompress(got)
		if err != nil {
			return err
		}
		if err := check(plain); err != nil {
			return fmt.Errorf("decompressed content: %v", err)
		}
		return nil
	}
}

// rumorCheckUserStream parses like handleConn does: readStream, then
// readUserMsg, whose delegate must receive exactly the table's message.
func rumorCheckUserStream(goBytes, wantMsg []byte) func([]byte) error {
	return func(got []byte) error {
		if len(got) > 0 && messageType(got[0]) == userMsg {
			var h userMsgHeader
			if decode(got[1:], &h) == nil {
				if err := rumorSaneLengths(got, h.UserMsgLen); err != nil {
					return err
				}
			}
		}
		d := &rumorDelegate{}
		m := rumorNewMemberlist(&Config{ProtocolVersion: 2, Delegate: d})
		r, dec, err := rumorReadStreamStart(m, got, userMsg)
		if err != nil {
			return err
		}
		if err := m.readUserMsg(r, dec); err != nil {
			return fmt.Errorf("readUserMsg: %v", err)
		}
		if err := rumorTrailing(r); err != nil {
			return err
		}
		if len(d.msgs) != 1 || !bytes.Equal(d.msgs[0], wantMsg) {
			return fmt.Errorf("delegate got %q, want one message %q", d.msgs, wantMsg)
		}
		if !bytes.Equal(got, goBytes) {
			return fmt.Errorf("%s (decodes correctly; %s)", rumorNotIdentical, rumorFirstDiff(got, goBytes))
		}
		return nil
	}
}

// rumorCheckEncryptedPacket: version byte as named, decryptPayload with the
// key and no AAD gives the plaintext, and the length is what Go's
// encryptedLength says (catches wrong PKCS#7 padding lengths).
func rumorCheckEncryptedPacket(vsn encryptionVersion, key, want []byte) func([]byte) error {
	return func(got []byte) error {
		if len(got) == 0 {
			return errors.New("empty")
		}
		if got[0] != byte(vsn) {
			return fmt.Errorf("encryption version byte %d, want %d", got[0], vsn)
		}
		n := len(got)
		plain, err := decryptPayload([][]byte{key}, got, nil)
		if err != nil {
			return fmt.Errorf("decryptPayload: %v", err)
		}
		if !bytes.Equal(plain, want) {
			return fmt.Errorf("plaintext is not vector compound: %s", rumorFirstDiff(plain, want))
		}
		if l := encryptedLength(vsn, len(plain)); n != l {
			return fmt.Errorf("envelope has %d bytes, encryptedLength says %d", n, l)
		}
		return nil
	}
}

// rumorCheckEncryptedStream: encryptMsg frame whose u32 BE length covers the
// rest, version byte as named, decryptPayload with the 5 header bytes as AAD
// gives vector user_stream.
func rumorCheckEncryptedStream(vsn encryptionVersion, key, want []byte) func([]byte) error {
	return func(got []byte) error {
		if len(got) < 6 || messageType(got[0]) != encryptMsg {
			return errors.New("not an encryptMsg (type 10) frame")
		}
		if l := binary.BigEndian.Uint32(got[1:5]); uint64(l) != uint64(len(got)-5) {
			return fmt.Errorf("frame length field %d, but %d bytes follow it", l, len(got)-5)
		}
		if got[5] != byte(vsn) {
			return fmt.Errorf("encryption version byte %d, want %d", got[5], vsn)
		}
		header := append([]byte(nil), got[:5]...)
		plain, err := decryptPayload([][]byte{key}, got[5:], header)
		if err != nil {
			return fmt.Errorf("decryptPayload: %v", err)
		}
		if !bytes.Equal(plain, want) {
			return fmt.Errorf("plaintext is not vector user_stream: %s", rumorFirstDiff(plain, want))
		}
		if l := encryptedLength(vsn, len(plain)); len(got)-5 != l {
			return fmt.Errorf("envelope has %d bytes, encryptedLength says %d", len(got)-5, l)
		}
		return nil
	}
}
