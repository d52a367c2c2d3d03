// Command peer is rumor's scriptable node of the real Go hashicorp/memberlist
// (Debian bookworm's 0.2.2), used by the interop tests to check that rumor and
// memberlist understand each other on the wire.
//
// It reads one command per line on stdin and writes one JSON object per line
// on stdout (memberlist's own log goes to stderr unless -quiet). The flags,
// commands and events are described in ../README.md; `rumor agent` speaks the
// same control protocol, so one harness can drive either kind of node.
//
// Build it with `conformance/interop/build.sh peer` (the last stdout line is
// the binary's path). The build compiles ../zz_rumor_peer.go into a private
// copy of the memberlist package: that is where the real node state comes
// from (memberlist 0.2.2 never updates Node.State).
package main

import (
	"bufio"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/memberlist"
)

// realState tells whether node events carry the state memberlist really keeps
// (and the incarnation). It is always true for this program: the overlay file
// reads memberlist's internal nodeState directly, and its layout assumption is
// checked when the package compiles.
const realState = true

// =============================================================================
// JSON lines
// =============================================================================

// object builds one JSON object with its keys in insertion order, so that
// "event" always comes first in an event line.
type object struct {
	buf []byte
	n   int
}

func newObject() *object { return &object{buf: []byte{'{'}} }

// newEvent starts an event line: {"event":name,...
func newEvent(name string) *object { return newObject().Str("event", name) }

func (o *object) key(k string) {
	if o.n > 0 {
		o.buf = append(o.buf, ',')
	}
	o.n++
	o.buf = appendJSONString(o.buf, k)
	o.buf = append(o.buf, ':')
}

func (o *object) Str(k, v string) *object {
	o.key(k)
	o.buf = appendJSONString(o.buf, v)
	return o
}

func (o *object) Uint(k string, v uint64) *object {
	o.key(k)
	o.buf = strconv.AppendUint(o.buf, v, 10)
	return o
}

func (o *object) Bool(k string, v bool) *object {
	o.key(k)
	o.buf = strconv.AppendBool(o.buf, v)
	return o
}

// Raw adds a value that is already JSON.
func (o *object) Raw(k string, json []byte) *object {
	o.key(k)
	o.buf = append(o.buf, json...)
	return o
}

// Bytes adds a byte string twice: k as text (invalid UTF-8 becomes U+FFFD)
// and k_b64 as standard base64 of the exact bytes.
func (o *object) Bytes(k string, b []byte) *object {
	o.Str(k, string(b))
	return o.Str(k+"_b64", base64.StdEncoding.EncodeToString(b))
}

// Float adds a number with three decimals.
func (o *object) Float(k string, v float64) *object {
	o.key(k)
	o.buf = strconv.AppendFloat(o.buf, v, 'f', 3, 64)
	return o
}

func (o *object) JSON() []byte { return append(o.buf[:len(o.buf):len(o.buf)], '}') }

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 is replaced by
// U+FFFD; HTML characters are left alone (the readers are programs).
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			// Valid JSON either way; escaped so that no reader mistakes
			// them for line breaks.
			dst = append(dst, fmt.Sprintf(`\u%04x`, r)...)
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// output serialises writes to stdout: each event is one Write of one whole
// line under one mutex, so lines never interleave and reach the pipe at once
// (os.Stdout is not buffered).
type output struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool // after the final line nothing else is written
}

func (out *output) write(o *object, last bool) {
	line := append(o.JSON(), '\n')
	out.mu.Lock()
	defer out.mu.Unlock()
	if out.closed {
		return
	}
	_, _ = out.w.Write(line)
	out.closed = last
}

func (out *output) event(o *object) { out.write(o, false) }

func (out *output) ok(cmd string) *object { return newEvent("ok").Str("cmd", cmd) }

// fail prints an error event; cmd is "" for errors not caused by a command.
func (out *output) fail(cmd string, format string, args ...interface{}) {
	o := newEvent("error")
	if cmd != "" {
		o.Str("cmd", cmd)
	}
	// TrimSpace: multierror messages (Join) end in blank lines.
	out.event(o.Str("msg", strings.TrimSpace(fmt.Sprintf(format, args...))))
}

// fatal prints a fatal error event and exits 1.
func (out *output) fatal(format string, args ...interface{}) {
	out.write(newEvent("error").Str("msg", fmt.Sprintf(format, args...)).Bool("fatal", true), true)
	os.Exit(1)
}

// =============================================================================
// Nodes
// =============================================================================

var stateNames = map[memberlist.NodeStateType]string{
	memberlist.StateAlive:   "alive",
	memberlist.StateSuspect: "suspect",
	memberlist.StateDead:    "dead",
	memberlist.StateLeft:    "left",
}

func stateName(s memberlist.NodeStateType) string {
	if name, ok := stateNames[s]; ok {
		return name
	}
	return fmt.Sprintf("unknown-%d", int(s))
}

// nodeInfo is what a node object reports, copied while memberlist's node lock
// is held (inside an event callback, or under RumorPeerHoldNodes).
type nodeInfo struct {
	node        memberlist.Node // State is the real state when realState
	incarnation uint32
}

// snapshot copies a node memberlist handed out; see RumorPeerView for when
// that is allowed.
func snapshot(n *memberlist.Node) nodeInfo {
	if !realState {
		return nodeInfo{node: *n}
	}
	view, inc := memberlist.RumorPeerView(n)
	return nodeInfo{node: view, incarnation: inc}
}

// put adds the node's fields to o; nameKey is "node" in join/leave/update
// events and "name" in a members listing.
func (ni nodeInfo) put(o *object, nameKey string) *object {
	n := &ni.node
	o.Str(nameKey, n.Name).
		Str("addr", n.Addr.String()).
		Uint("port", uint64(n.Port)).
		Str("state", stateName(n.State)).
		Bytes("meta", n.Meta)
	if realState {
		o.Uint("incarnation", uint64(ni.incarnation))
	}
	// Numbers, not a []byte (which would come out as base64).
	vsn := []uint8{n.PMin, n.PMax, n.PCur, n.DMin, n.DMax, n.DCur}
	list := []byte{'['}
	for i, v := range vsn {
		if i > 0 {
			list = append(list, ',')
		}
		list = strconv.AppendUint(list, uint64(v), 10)
	}
	return o.Raw("vsn", append(list, ']'))
}

// =============================================================================
// The node and its delegates
// =============================================================================

// userMsg is one user broadcast. Every one is distinct (UniqueBroadcast), so
// the queue never drops one in favour of another.
type userMsg []byte

func (b userMsg) Invalidates(memberlist.Broadcast) bool { return false }
func (b userMsg) Message() []byte                       { return b }
func (b userMsg) Finished()                             {}
func (b userMsg) UniqueBroadcast()                      {}

type peer struct {
	out *output
	ml  atomic.Pointer[memberlist.Memberlist] // nil until Create returns

	// Nodes neither dead nor left, as seen through join/leave events; what
	// NumMembers() would say, without taking memberlist's node lock (some
	// paths may ask for broadcasts while memberlist holds it).
	live atomic.Int64

	broadcasts *memberlist.TransmitLimitedQueue

	mu         sync.Mutex // guards meta and localState
	meta       []byte
	localState []byte

	ackPayload []byte // PingDelegate.AckPayload
	pingEvents bool   // print a ping event for every completed probe
}

func newPeer(out *output, meta []byte, retransmitMult int) *peer {
	p := &peer{out: out, meta: meta}
	p.broadcasts = &memberlist.TransmitLimitedQueue{
		NumNodes: func() int {
			if n := p.live.Load(); n > 1 {
				return int(n)
			}
			return 1
		},
		RetransmitMult: retransmitMult,
	}
	return p
}

// --- memberlist.Delegate ---

func (p *peer) NodeMeta(limit int) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	meta := p.meta
	if len(meta) > limit {
		meta = meta[:limit] // cannot happen: the commands check the size
	}
	return append([]byte(nil), meta...)
}

func (p *peer) NotifyMsg(msg []byte) {
	p.out.event(newEvent("user_msg").Bytes("payload", msg))
}

func (p *peer) GetBroadcasts(overhead, limit int) [][]byte {
	return p.broadcasts.GetBroadcasts(overhead, limit)
}

func (p *peer) LocalState(join bool) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]byte(nil), p.localState...)
}

func (p *peer) MergeRemoteState(buf []byte, join bool) {
	if len(buf) == 0 {
		return
	}
	p.out.event(newEvent("remote_state").Bytes("payload", buf).Bool("join", join))
}

// --- memberlist.PingDelegate ---

func (p *peer) AckPayload() []byte { return append([]byte(nil), p.ackPayload...) }

func (p *peer) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, payload []byte) {
	if p.pingEvents {
		p.out.event(pingEvent(other.Name, rtt, payload))
	}
}

func pingEvent(node string, rtt time.Duration, payload []byte) *object {
	ms := float64(rtt) / float64(time.Millisecond)
	return newEvent("ping").Str("node", node).Float("rtt_ms", ms).
		Str("payload_b64", base64.StdEncoding.EncodeToString(payload))
}

// --- memberlist.EventDelegate (called with memberlist's node lock held) ---

func (p *peer) NotifyJoin(n *memberlist.Node) {
	p.live.Add(1)
	p.out.event(snapshot(n).put(newEvent("join"), "node"))
}

func (p *peer) NotifyLeave(n *memberlist.Node) {
	p.live.Add(-1)
	p.out.event(snapshot(n).put(newEvent("leave"), "node"))
}

func (p *peer) NotifyUpdate(n *memberlist.Node) {
	p.out.event(snapshot(n).put(newEvent("update"), "node"))
}

// =============================================================================
// Commands
// =============================================================================

// payload decodes a command's payload: the text itself, or base64 for the
// -b64 forms (standard alphabet; the padding may be left out).
func payload(text string, b64 bool) ([]byte, error) {
	if !b64 {
		return []byte(text), nil
	}
	text = strings.TrimSpace(text)
	b, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		if raw, err2 := base64.RawStdEncoding.DecodeString(text); err2 == nil {
			return raw, nil
		}
		return nil, fmt.Errorf("bad base64: %v", err)
	}
	return b, nil
}

// hostList splits "host:port,host:port", dropping blanks.
func hostList(s string) []string {
	var hosts []string
	for _, h := range strings.Split(s, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// payloadCommands are the commands that have a -b64 form.
var payloadCommands = map[string]bool{
	"broadcast": true, "send": true, "send-reliable": true, "local-state": true, "meta": true,
}

// errQuit is returned by execute for shutdown/quit/exit.
var errQuit = errors.New("quit")

// execute runs one command line and prints its answer. It returns errQuit
// when the peer must shut down.
func (p *peer) execute(line string) error {
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	line = strings.TrimLeft(line, " \t")
	if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
		return nil
	}
	cmd, arg, _ := strings.Cut(line, " ")
	name, b64 := cmd, false
	if base := strings.TrimSuffix(cmd, "-b64"); base != cmd && payloadCommands[base] {
		name, b64 = base, true
	}
	ml := p.ml.Load()
	out := p.out

	switch name {
	case "members":
		p.printMembers(ml)

	case "broadcast":
		msg, err := payload(arg, b64)
		if err != nil {
			out.fail(cmd, "%v", err)
			return nil
		}
		p.broadcasts.QueueBroadcast(userMsg(msg))
		out.event(out.ok(cmd).Uint("queued", uint64(p.broadcasts.NumQueued())))

	case "send", "send-reliable":
		to, text, found := strings.Cut(arg, " ")
		if !found || to == "" {
			out.fail(cmd, "usage: %s <node> <payload>", cmd)
			return nil
		}
		msg, err := payload(text, b64)
		if err != nil {
			out.fail(cmd, "%v", err)
			return nil
		}
		var target *memberlist.Node
		for _, n := range ml.Members() {
			if n.Name == to {
				target = n
				break
			}
		}
		if target == nil {
			out.fail(cmd, "no live node named %q", to)
			return nil
		}
		if name == "send" {
			err = ml.SendBestEffort(target, msg)
		} else {
			err = ml.SendReliable(target, msg)
		}
		if err != nil {
			out.fail(cmd, "%s to %q: %v", name, to, err)
			return nil
		}
		out.event(out.ok(cmd).Str("to", to))

	case "local-state":
		st, err := payload(arg, b64)
		if err != nil {
			out.fail(cmd, "%v", err)
			return nil
		}
		p.mu.Lock()
		p.localState = st
		p.mu.Unlock()
		out.event(out.ok(cmd))

	case "meta":
		meta, err := payload(arg, b64)
		if err != nil {
			out.fail(cmd, "%v", err)
			return nil
		}
		if len(meta) > memberlist.MetaMaxSize {
			out.fail(cmd, "meta is %d bytes, more than memberlist.MetaMaxSize (%d)", len(meta), memberlist.MetaMaxSize)
			return nil
		}
		p.mu.Lock()
		p.meta = meta
		p.mu.Unlock()
		if err := ml.UpdateNode(5 * time.Second); err != nil {
			out.fail(cmd, "UpdateNode: %v", err)
			return nil
		}
		out.event(out.ok(cmd))

	case "join":
		p.join(cmd, hostList(arg))

	case "ping":
		// memberlist's Ping reports the round-trip time only, no ack payload.
		node := strings.TrimSpace(arg)
		var addr net.Addr
		for _, m := range ml.Members() {
			if m.Name == node {
				addr = &net.UDPAddr{IP: m.Addr, Port: int(m.Port)}
			}
		}
		if addr == nil {
			out.fail(cmd, "no member %q", node)
			return nil
		}
		rtt, err := ml.Ping(node, addr)
		if err != nil {
			out.fail(cmd, "Ping %s: %v", node, err)
			return nil
		}
		out.event(pingEvent(node, rtt, nil))

	case "leave":
		timeout := 5 * time.Second
		if s := strings.TrimSpace(arg); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil {
				out.fail(cmd, "bad timeout %q: %v", s, err)
				return nil
			}
			timeout = d
		}
		if err := ml.Leave(timeout); err != nil {
			out.fail(cmd, "Leave: %v", err)
			return nil
		}
		out.event(out.ok(cmd))

	case "shutdown", "quit", "exit":
		return errQuit

	default:
		out.fail(cmd, "unknown command %q", cmd)
	}
	return nil
}

func (p *peer) join(cmd string, hosts []string) {
	if len(hosts) == 0 {
		p.out.fail(cmd, "no host:port to join")
		return
	}
	n, err := p.ml.Load().Join(hosts)
	if err != nil {
		p.out.fail(cmd, "Join %s: %v", strings.Join(hosts, ","), err)
		return
	}
	p.out.event(p.out.ok(cmd).Uint("joined", uint64(n)))
}

func (p *peer) printMembers(ml *memberlist.Memberlist) {
	nodes := ml.Members()
	infos := make([]nodeInfo, 0, len(nodes))
	ml.RumorPeerHoldNodes(func() {
		for _, n := range nodes {
			infos = append(infos, snapshot(n))
		}
	})
	sort.Slice(infos, func(i, j int) bool { return infos[i].node.Name < infos[j].node.Name })
	list := []byte{'['}
	for i, ni := range infos {
		if i > 0 {
			list = append(list, ',')
		}
		list = append(list, ni.put(newObject(), "name").JSON()...)
	}
	p.out.event(newEvent("members").Raw("members", append(list, ']')))
}

// shutdown stops memberlist, prints the last line and exits.
func (p *peer) shutdown(name string) {
	if err := p.ml.Load().Shutdown(); err != nil {
		p.out.fatal("Shutdown: %v", err)
	}
	p.out.write(newEvent("shutdown").Str("name", name), true)
	os.Exit(0)
}

// =============================================================================
// Flags and configuration
// =============================================================================

// boolArg is a boolean flag that takes its value as an argument
// ("-compression false" as well as "-compression=false"). Its String is
// empty until set, so that -h shows no misleading default.
type boolArg struct {
	set, v bool
}

func (b *boolArg) String() string {
	if b == nil || !b.set {
		return ""
	}
	return strconv.FormatBool(b.v)
}

func (b *boolArg) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false")
	}
	b.set, b.v = true, v
	return nil
}

type options struct {
	name, bind, advertiseAddr, join, meta, key, profile string
	ackPayload, ackPayloadB64                           string
	pingEvents                                          bool
	port, advertisePort                                 int
	probeInterval, probeTimeout, gossipInterval         time.Duration
	pushPullInterval, tcpTimeout                        time.Duration
	retransmitMult, suspicionMult, protocolVersion      int
	delegateVersion, delegateMin, delegateMax           int
	compression                                         boolArg
	quiet                                               bool
	given                                               map[string]bool // flags present on the command line
}

func parseFlags(out *output, args []string) *options {
	o := &options{}
	fs := flag.NewFlagSet("peer", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.StringVar(&o.name, "name", fmt.Sprintf("go-peer-%d", os.Getpid()), "node name, unique in the cluster")
	fs.StringVar(&o.bind, "bind", "127.0.0.1", "IP address to bind, UDP and TCP")
	fs.IntVar(&o.port, "port", 0, "port to bind, UDP and TCP (0: a free one, see the ready event)")
	fs.StringVar(&o.advertiseAddr, "advertise-addr", "", "address to advertise (default: the bound IP)")
	fs.IntVar(&o.advertisePort, "advertise-port", 0, "port to advertise (default: the bound port)")
	fs.StringVar(&o.join, "join", "", "comma-separated host:port list to join at start")
	fs.StringVar(&o.meta, "meta", "", "node metadata (at most 512 bytes)")
	fs.StringVar(&o.key, "key", "", "base64 AES key of 16, 24 or 32 bytes (turns encryption on)")
	fs.StringVar(&o.profile, "profile", "local", "base configuration: local, lan or wan")
	fs.DurationVar(&o.probeInterval, "probe-interval", 0, "ProbeInterval (default: the profile's)")
	fs.DurationVar(&o.probeTimeout, "probe-timeout", 0, "ProbeTimeout (default: the profile's)")
	fs.DurationVar(&o.gossipInterval, "gossip-interval", 0, "GossipInterval (default: the profile's)")
	fs.DurationVar(&o.pushPullInterval, "pushpull-interval", 0, "PushPullInterval, 0 disables (default: the profile's)")
	fs.DurationVar(&o.tcpTimeout, "tcp-timeout", 0, "TCPTimeout (default: the profile's)")
	fs.IntVar(&o.retransmitMult, "retransmit-mult", 0, "RetransmitMult, also for user broadcasts (default: the profile's)")
	fs.IntVar(&o.suspicionMult, "suspicion-mult", 0, "SuspicionMult (default: the profile's)")
	fs.IntVar(&o.protocolVersion, "protocol-version", 0, "protocol version to speak, 1..5 (default: the profile's, 2)")
	fs.IntVar(&o.delegateVersion, "delegate-protocol-version", 0, "delegate protocol version advertised (dcur)")
	fs.IntVar(&o.delegateMin, "delegate-protocol-min", 0, "lowest delegate protocol version understood (dmin)")
	fs.IntVar(&o.delegateMax, "delegate-protocol-max", 0, "highest delegate protocol version understood (dmax)")
	fs.Var(&o.compression, "compression", "true/false: EnableCompression (default: the profile's, true)")
	fs.BoolVar(&o.quiet, "quiet", false, "discard memberlist's own log (otherwise on stderr)")
	fs.StringVar(&o.ackPayload, "ack-payload", "", "PingDelegate.AckPayload: the payload of this node's acks")
	fs.StringVar(&o.ackPayloadB64, "ack-payload-b64", "", "the same, base64")
	fs.BoolVar(&o.pingEvents, "ping-events", false, "print a ping event for every probe this node completes")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		out.fatal("flags: %v", err)
	}
	if fs.NArg() > 0 {
		out.fatal("flags: unexpected argument %q", fs.Arg(0))
	}
	o.given = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.given[f.Name] = true })

	check := func(flagName string, v, lo, hi int) {
		if v < lo || v > hi {
			out.fatal("flags: -%s %d out of range %d..%d", flagName, v, lo, hi)
		}
	}
	check("port", o.port, 0, 65535)
	check("advertise-port", o.advertisePort, 0, 65535)
	check("protocol-version", o.protocolVersion, 0, 255)
	check("delegate-protocol-version", o.delegateVersion, 0, 255)
	check("delegate-protocol-min", o.delegateMin, 0, 255)
	check("delegate-protocol-max", o.delegateMax, 0, 255)
	for _, f := range []string{"retransmit-mult", "suspicion-mult"} {
		if o.given[f] {
			v := o.retransmitMult
			if f == "suspicion-mult" {
				v = o.suspicionMult
			}
			check(f, v, 1, 1<<20)
		}
	}
	for f, d := range map[string]time.Duration{
		"probe-interval": o.probeInterval, "probe-timeout": o.probeTimeout,
		"gossip-interval": o.gossipInterval, "pushpull-interval": o.pushPullInterval,
		"tcp-timeout": o.tcpTimeout,
	} {
		if d < 0 {
			out.fatal("flags: -%s must not be negative", f)
		}
	}
	if len(o.meta) > memberlist.MetaMaxSize {
		out.fatal("flags: -meta is %d bytes, more than memberlist.MetaMaxSize (%d)", len(o.meta), memberlist.MetaMaxSize)
	}
	return o
}

// config turns the options into a memberlist configuration (without the
// delegates).
func (o *options) config(out *output) *memberlist.Config {
	var cfg *memberlist.Config
	switch o.profile {
	case "local":
		cfg = memberlist.DefaultLocalConfig()
	case "lan":
		cfg = memberlist.DefaultLANConfig()
	case "wan":
		cfg = memberlist.DefaultWANConfig()
	default:
		out.fatal("flags: -profile %q: want local, lan or wan", o.profile)
	}

	cfg.Name = o.name
	cfg.BindAddr = o.bind
	cfg.BindPort = o.port
	cfg.AdvertiseAddr = o.advertiseAddr
	// memberlist only uses AdvertisePort together with AdvertiseAddr, and
	// overwrites it with the bound port when BindPort is 0; a given
	// -advertise-port is enforced by advertiseTransport (see below).
	cfg.AdvertisePort = o.port

	if o.given["protocol-version"] {
		cfg.ProtocolVersion = uint8(o.protocolVersion)
	}
	cfg.DelegateProtocolVersion = uint8(o.delegateVersion)
	cfg.DelegateProtocolMin = uint8(o.delegateMin)
	cfg.DelegateProtocolMax = uint8(o.delegateMax)
	if o.compression.set {
		cfg.EnableCompression = o.compression.v
	}
	if o.given["retransmit-mult"] {
		cfg.RetransmitMult = o.retransmitMult
	}
	if o.given["suspicion-mult"] {
		cfg.SuspicionMult = o.suspicionMult
	}
	durations := []struct {
		flag string
		dst  *time.Duration
		v    time.Duration
	}{
		{"probe-interval", &cfg.ProbeInterval, o.probeInterval},
		{"probe-timeout", &cfg.ProbeTimeout, o.probeTimeout},
		{"gossip-interval", &cfg.GossipInterval, o.gossipInterval},
		{"pushpull-interval", &cfg.PushPullInterval, o.pushPullInterval},
		{"tcp-timeout", &cfg.TCPTimeout, o.tcpTimeout},
	}
	for _, d := range durations {
		if o.given[d.flag] {
			*d.dst = d.v
		}
	}

	if o.key != "" {
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(o.key))
		if err != nil {
			out.fatal("flags: -key: bad base64: %v", err)
		}
		switch len(key) {
		case 16, 24, 32:
		default:
			out.fatal("flags: -key is %d bytes, want 16, 24 or 32", len(key))
		}
		keyring, err := memberlist.NewKeyring(nil, key)
		if err != nil {
			out.fatal("keyring: %v", err)
		}
		cfg.Keyring = keyring
	}

	if o.quiet {
		cfg.LogOutput = io.Discard
	} else {
		cfg.LogOutput = os.Stderr
	}

	if o.given["advertise-port"] {
		t, err := newAdvertiseTransport(cfg, o.advertisePort)
		if err != nil {
			out.fatal("transport: %v", err)
		}
		cfg.Transport = t
		cfg.BindPort = t.GetAutoBindPort()
		cfg.AdvertisePort = o.advertisePort
	}
	return cfg
}

// advertiseTransport is memberlist's own NetTransport, except that it
// advertises a fixed port. Stock memberlist 0.2.2 ignores AdvertisePort unless
// AdvertiseAddr is set too (and replaces it by the bound port when BindPort is
// 0), whereas -advertise-port must work on its own.
type advertiseTransport struct {
	*memberlist.NetTransport
	port int
}

func (t *advertiseTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	addr, _, err := t.NetTransport.FinalAdvertiseAddr(ip, port)
	return addr, t.port, err
}

// newAdvertiseTransport binds like memberlist does for its default transport,
// including its retries when the port is chosen by the kernel (TCP gets a free
// port that may be taken for UDP).
func newAdvertiseTransport(cfg *memberlist.Config, port int) (*advertiseTransport, error) {
	ntc := &memberlist.NetTransportConfig{
		BindAddrs: []string{cfg.BindAddr},
		BindPort:  cfg.BindPort,
		Logger:    log.New(cfg.LogOutput, "", log.LstdFlags),
	}
	tries := 1
	if cfg.BindPort == 0 {
		tries = 10
	}
	var err error
	for i := 0; i < tries; i++ {
		var nt *memberlist.NetTransport
		if nt, err = memberlist.NewNetTransport(ntc); err == nil {
			return &advertiseTransport{NetTransport: nt, port: port}, nil
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, err
}

// =============================================================================
// main
// =============================================================================

func main() {
	out := &output{w: os.Stdout}
	opts := parseFlags(out, os.Args[1:])

	// From here on SIGINT/SIGTERM mean a clean shutdown, handled between
	// commands (also one that arrives before ready).
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)

	cfg := opts.config(out)
	p := newPeer(out, []byte(opts.meta), cfg.RetransmitMult)
	cfg.Delegate = p
	cfg.Events = p
	p.ackPayload = []byte(opts.ackPayload)
	if opts.ackPayloadB64 != "" {
		b, err := base64.StdEncoding.DecodeString(opts.ackPayloadB64)
		if err != nil {
			out.fatal("flags: -ack-payload-b64: %v", err)
		}
		p.ackPayload = b
	}
	p.pingEvents = opts.pingEvents
	cfg.Ping = p

	ml, err := memberlist.Create(cfg)
	if err != nil {
		out.fatal("Create: %v", err)
	}
	p.ml.Store(ml)

	if opts.join != "" {
		p.join("join", hostList(opts.join))
	}

	me := ml.LocalNode()
	var local nodeInfo
	ml.RumorPeerHoldNodes(func() { local = snapshot(me) })
	out.event(newEvent("ready").
		Str("name", local.node.Name).
		Str("addr", local.node.Addr.String()).
		Uint("port", uint64(local.node.Port)).
		Uint("protocol_version", uint64(ml.ProtocolVersion())).
		Bool("encrypted", cfg.EncryptionEnabled()).
		Str("profile", opts.profile).
		Bool("real_state", realState))

	// Commands are read by their own goroutine, so that a signal is noticed
	// while waiting for input; they still run one at a time, in order.
	lines := make(chan string)
	go func() {
		defer close(lines)
		in := bufio.NewReader(os.Stdin)
		for {
			line, err := in.ReadString('\n')
			if line != "" {
				lines <- line
			}
			if err != nil {
				if err != io.EOF {
					out.fail("", "reading stdin: %v", err)
				}
				return
			}
		}
	}()

	for {
		// A pending signal wins over pending input.
		select {
		case <-signals:
			p.shutdown(cfg.Name)
		default:
		}
		select {
		case <-signals:
			p.shutdown(cfg.Name)
		case line, ok := <-lines:
			if !ok { // EOF
				p.shutdown(cfg.Name)
			}
			if p.execute(line) == errQuit {
				p.shutdown(cfg.Name)
			}
		}
	}
}
