// This file is NOT part of hashicorp/memberlist. It belongs to the rumor
// project (conformance/interop/peer) and is compiled INTO a private copy of
// Debian's memberlist 0.2.2 package by conformance/interop/build.sh.
//
// Why: in 0.2.2 the internal nodeState embeds Node and then declares its own
// State and Incarnation fields; memberlist only ever updates those, so the
// Node.State seen through every *Node it hands out (event delegates,
// Members(), LocalNode()) stays StateAlive forever. The peer needs the true
// state ("dead" vs "left" in a leave event, "suspect" in a listing) and the
// incarnation, so this file exposes them. Every identifier declared here
// starts with "Rumor"/"rumor" so it cannot collide with memberlist's own.

package memberlist

import "unsafe"

// Node must be the first field of nodeState for RumorPeerView's pointer
// conversion to be valid. The array index below is a compile-time constant:
// the build fails ("index out of bounds") if the offset is ever non-zero.
var _ = [1]struct{}{}[unsafe.Offsetof(nodeState{}.Node)]

// RumorPeerView returns a copy of *n whose State is the state memberlist
// really keeps for that node, together with its incarnation number.
//
// n must be a pointer memberlist itself handed out: the argument of an
// EventDelegate callback, or an element of Members() / LocalNode(). All of
// those point at the Node embedded in a nodeState, which is what makes the
// conversion sound. The caller must also make sure the node is not being
// modified concurrently: inside an EventDelegate callback memberlist already
// holds its node lock; anywhere else, call it from within RumorPeerHoldNodes.
func RumorPeerView(n *Node) (Node, uint32) {
	ns := (*nodeState)(unsafe.Pointer(n))
	view := ns.Node
	view.State = ns.State
	return view, ns.Incarnation
}

// RumorPeerHoldNodes runs f with memberlist's node lock held for reading, so
// that f can read nodes obtained earlier from Members() or LocalNode()
// without racing with state changes. f must not call back into methods of m
// that take the node lock (Members, NumMembers, LocalNode, ...), and
// RumorPeerHoldNodes must not be called from an EventDelegate callback
// (memberlist holds the lock for writing there).
func (m *Memberlist) RumorPeerHoldNodes(f func()) {
	m.nodeLock.RLock()
	defer m.nodeLock.RUnlock()
	f()
}
