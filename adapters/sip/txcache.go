package sip

import (
	"errors"
	"hash/maphash"
	"strconv"
	"sync"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// outcome is how a request ended: what its response says.
type outcome struct {
	status     uint16 // SIP status code
	retryAfter uint16 // seconds, for 503
	minExpires uint32 // seconds, for 423
	stale      bool   // for 401: the nonce presented was stale
	// text is the directory number for a 2xx (P-Associated-URI), the nonce
	// for a 401, and the Warning text otherwise ("" for none).
	text string
}

type txState uint8

const (
	txInFlight txState = iota + 1 // the request is being processed
	txDone                        // the outcome is final
)

// txEntry is a remembered REGISTER transaction, kept small (16 bytes)
// enough that the server can remember every recent one and answer a
// retransmission with the same response without running the request again.
type txEntry struct {
	// text is the Warning text of a failure, nil for none. A 2xx keeps no
	// text: its directory number is the device's.
	text       *string
	status     uint16
	retryAfter uint16
	state      txState
}

func entryOf(o outcome) txEntry {
	e := txEntry{status: o.status, retryAfter: o.retryAfter, state: txDone}
	if o.status != 200 && o.text != "" {
		e.text = &o.text
	}
	return e
}

// outcome is the entry's outcome, but for a 2xx's directory number.
func (e txEntry) outcome() outcome {
	o := outcome{status: e.status, retryAfter: e.retryAfter}
	if e.text != nil {
		o.text = *e.text
	}
	return o
}

// txGenerations is the number of generations of the transaction table. An
// entry lives between TransactionTTL and TransactionTTL*g/(g-1).
const txGenerations = 5

var errTxTableFull = errors.New("transaction table full")

// txTable is the server's whole transaction layer: it replaces sipgo's
// per-transaction ServerTx (FSM, timers, channels, the request and the
// response, held for Timer J) by one small map entry per transaction, keyed
// by a 64-bit hash of the transaction identifiers.
//
// Entries are kept in generations: new entries go to gens[0], and every
// TransactionTTL/(txGenerations-1) the oldest generation is dropped whole.
// Dropping maps (rather than deleting keys from one map, which never shrinks)
// gives the memory of a burst back once its retransmission window is over,
// and expiry costs nothing per entry.
type txTable struct {
	mu      sync.Mutex
	gens    [txGenerations]map[uint64]txEntry
	count   int // entries over all generations
	max     int
	slice   time.Duration
	rotated time.Time
}

func newTxTable(ttl time.Duration, max int) *txTable {
	t := &txTable{max: max, slice: ttl / (txGenerations - 1), rotated: time.Now()}
	for i := range t.gens {
		t.gens[i] = make(map[uint64]txEntry)
	}
	return t
}

// find returns the generation holding key, or -1. t.mu must be held.
func (t *txTable) find(key uint64) int {
	for i := range t.gens {
		if _, ok := t.gens[i][key]; ok {
			return i
		}
	}
	return -1
}

// begin looks key up. When the transaction is known it returns its entry and
// true: a retransmission. Otherwise it records the transaction as in flight
// and returns false; the caller must then call finish or abort.
func (t *txTable) begin(key uint64) (txEntry, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if g := t.find(key); g >= 0 {
		return t.gens[g][key], true, nil
	}
	if t.count >= t.max {
		return txEntry{}, false, errTxTableFull
	}
	t.gens[0][key] = txEntry{state: txInFlight}
	t.count++
	return txEntry{}, false, nil
}

// finish records the outcome of key. keep is false for reliable transports,
// whose clients do not retransmit (Timer J is zero): the entry goes.
func (t *txTable) finish(key uint64, o outcome, keep bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.find(key)
	switch {
	case !keep && g >= 0:
		delete(t.gens[g], key)
		t.count--
	case !keep:
	case g >= 0:
		t.gens[g][key] = entryOf(o)
	default: // rotated out while in flight (a request slower than the TTL)
		t.gens[0][key] = entryOf(o)
		t.count++
	}
}

// abort forgets key, as if the request had never been seen.
func (t *txTable) abort(key uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if g := t.find(key); g >= 0 {
		delete(t.gens[g], key)
		t.count--
	}
}

// rotate drops the oldest generation when its time has come. Requests still
// in flight in it are carried over so that their retransmissions stay
// absorbed.
func (t *txTable) rotate(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for now.Sub(t.rotated) >= t.slice {
		t.rotated = t.rotated.Add(t.slice)
		last := t.gens[txGenerations-1]
		copy(t.gens[1:], t.gens[:txGenerations-1])
		t.gens[0] = make(map[uint64]txEntry)
		t.count -= len(last)
		for k, e := range last {
			if e.state == txInFlight {
				t.gens[0][k] = e
				t.count++
			}
		}
	}
}

// len reports the number of transactions remembered.
func (t *txTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.count
}

var txSeed = maphash.MakeSeed()

// transactionKey identifies req's server transaction (RFC 3261 17.2.3: the
// top Via's branch and sent-by, and the method, which is always REGISTER
// here). Call-ID, CSeq and the From tag are mixed in too: they are the
// same in a retransmission, and they keep the key unique for RFC 2543
// clients whose branch is not unique.
func transactionKey(req *sipmsg.Request) uint64 {
	var (
		h   maphash.Hash
		num [20]byte
	)
	h.SetSeed(txSeed)
	sep := func() { h.WriteByte(0) }
	writeUint := func(n uint64) { h.Write(strconv.AppendUint(num[:0], n, 10)) }
	if via := req.Via(); via != nil {
		if branch, ok := via.Params.Get("branch"); ok {
			h.WriteString(branch)
		}
		sep()
		h.WriteString(via.Host)
		sep()
		writeUint(uint64(via.Port))
	}
	sep()
	if id := req.CallID(); id != nil {
		h.WriteString(string(*id))
	}
	sep()
	if cseq := req.CSeq(); cseq != nil {
		writeUint(uint64(cseq.SeqNo))
		h.WriteString(string(cseq.MethodName))
	}
	sep()
	if from := req.From(); from != nil {
		if tag, ok := from.Params.Get("tag"); ok {
			h.WriteString(tag)
		}
	}
	sep()
	h.WriteString(string(req.Method))
	return h.Sum64()
}
