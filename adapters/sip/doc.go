// Package sip is the SIP registrar adapter: it answers the REGISTER requests
// of Cisco SIP phones (RFC 3261 section 10.3) over UDP, TCP and TLS, keeps
// each device's bindings in memory, and reports registrations to the
// registration service (command.Registrar).
//
// # Naming the device
//
// The address-of-record is the device, SEP<MAC>. The MAC is taken from the
// Contact's +sip.instance (Cisco phones send
// "<urn:uuid:00000000-0000-0000-0000-001122aabbcc>": the MAC is the last 12
// hex digits), else from Cisco's +u.sip!devicename.ccm.cisco.com Contact
// parameter, else from a To user SEP<MAC>. When none names a device the
// answer is 404 Not Found, as RFC 3261 10.3 step 3 says for an
// address-of-record that is not valid for the domain, with a Warning saying
// what was looked for. The model comes from the User-Agent
// ("Cisco-CP7961G/9.4.2" is a 7961), else from Cisco's
// +u.sip!model.ccm.cisco.com Contact parameter (an SCCP device type code);
// "" when neither names a catalogue model, and the registrar decides.
//
// # Answers
//
//   - 200 OK lists every binding of the device as a Contact with its
//     expires, the directory number as P-Associated-URI: <sip:DN@host>, and
//     a Date (Cisco phones set their clock from it). A REGISTER without
//     Contact is a query: 200 with the bindings, the registrar is not called.
//   - 403 Forbidden with Warning: 399 host "..." when the registrar rejects
//     the device (*domain.Rejection: window closed, wrong protocol, range
//     exhausted, mixed mode, unknown model), or when the device would have
//     more than MaxContacts bindings.
//   - 503 Service Unavailable with a random Retry-After (5 to 30 s) when the
//     event store is unavailable (command.ErrUnavailable), the registrar
//     did not answer within RequestTimeout, or the server is overloaded.
//   - 500 Server Internal Error for other registrar errors, and for an
//     out-of-order request: RFC 3261 10.3 step 7 says that when a binding has
//     the request's Call-ID and a CSeq not below the request's, "the update
//     MUST be aborted and the request fails" (and step 8 fails requests with
//     500); nothing changes and the registrar is not called.
//   - 423 Interval Too Brief with Min-Expires for a non-zero expiry below
//     MinExpires; expiries above MaxExpires are shortened.
//   - 400 Bad Request, with a Warning saying what is wrong, for a missing
//     From, To, Call-ID or CSeq, an invalid Contact or expiry, "Contact: *"
//     without "Expires: 0" or with other contacts, or a request the parser
//     gave up on part way. 420 Bad Extension for any Require (none is
//     supported). OPTIONS gets 200, CANCEL 481, ACK nothing, other methods
//     405.
//
// Registrar.Register is called for every REGISTER that adds or refreshes a
// binding (the registrar decides what a refresh or a new address means);
// the answer is sent once it returned, that is once its events are durable.
// Registrar.Unregister is called when a request removes a device's last
// binding (reason requested) and when its last binding expires (reason
// expired). A contact with the +sip.instance of an existing binding but
// another URI replaces that binding (RFC 5626 section 6, RFC 5627): a phone
// that comes back with a new contact moves instead of keeping a stale
// binding. Requests for one device are processed one at a time, in arrival
// order.
//
// # Transactions and memory
//
// sipgo's transaction layer keeps a ServerTx per request (FSM, timers,
// channels, the request and the response) until Timer J ends, 64*T1 = 32 s
// after the answer on UDP: at 10,000 REGISTER/s that is 320,000 live
// transactions, about 930 MB. Shortening T1 would break retransmission
// absorption (clients retransmit for 64*T1 of their own), and terminating
// transactions early would let retransmissions through as new requests.
//
// So the server does without sipgo's transaction and transport layers and
// uses sipgo for what it is good at: parsing (sip.Parser, sip.ParserStream
// for TCP/TLS framing) and message types. Its transaction layer is one map
// entry per REGISTER: a 64-bit hash of the transaction identifiers (top Via
// branch and sent-by, Call-ID, CSeq, From tag) and a 16-byte outcome (status,
// Retry-After, Warning text when there is one). A retransmission of a
// request in flight is dropped (its answer is coming); a retransmission of
// an answered one gets the same answer, rebuilt from the outcome (same
// status, same To tag, the device's current bindings), and the registrar is
// not called again. Entries live between TransactionTTL (Timer J) and 5/4
// of it, in generations that are dropped whole, so a burst's memory goes back
// once its retransmission window is over; reliable transports keep no
// completed entries (their Timer J is zero). MaxTransactions, MaxInFlight,
// MaxDevices and a per-device queue bound every table: beyond them the
// answer is 503.
//
// A device costs about 270 bytes (its record, one binding, the contact URI
// and Call-ID strings, its map entry) and a remembered transaction about 50:
// 100,000 registered devices take about 27 MB of heap, plus about 20 MB of
// transactions at 10,000 REGISTER/s. Expired bindings are removed by one
// sweep every SweepInterval (shards remember their earliest expiry, so idle
// shards are not scanned), not by a timer per binding. REGISTERs that reach
// the registrar are run by a fixed set of Workers, not a goroutine each;
// at most MaxInFlight wait. What is left is the garbage of parsing (about
// 5 KB a request): a process that must stay under a memory budget should
// set one (GOMEMLIMIT, or the registrar's memory_limit), which keeps the GC
// from letting the heap double.
//
// # Floods
//
// Each source IP address has a token bucket (Config.SourceRate a second,
// SourceBurst at once; 50/s and 200 by default) for the REGISTERs that would
// reach the registrar. Beyond it the answer is 503 with Retry-After at once,
// before the registrar is called: the cost of a refused request is its
// parsing. Known devices are exempt: a device holding a binding made from
// the same IP address (a refresh), or one Config.Known says the registrar
// knows. So rogue devices behind a site's SBC or NAT cannot lock out the
// known phones that share its address; the price is that a flood naming
// known devices is not limited per source (it is by MaxInFlight, and the
// registrar writes no event for a refresh). TrustedSources are not limited.
// A source address may hold MaxConnectionsPerSource TCP/TLS connections
// (200), and a connection that has not sent a whole request (or finished its
// TLS handshake) FirstRequestTimeout (30 s) after its accept is closed,
// however it trickles bytes.
// Refusals (503s the server answers itself, and the registrar's 403s) are
// logged once per burst: the first as it happens, then one line every
// RefusalLogInterval with counts by reason and source, and one when the
// burst is over.
//
// The UDP transport reads each socket with UDPReaders goroutines and
// answers to the packet's source address (RFC 3581 symmetric response
// routing, which is what sipgo does too); sipgo's UDP transport would also
// keep a pool entry per source address for as long as the socket lives. TCP
// and TLS connections get a 4 KB read buffer (sipgo's take 32 KB), answer
// RFC 5626 CRLF keepalives, and are closed after StreamIdleTimeout.
//
// It is an adapter: it imports the command side's port (command.Registrar
// and its errors), the domain and the packing of addresses (internal/pack);
// never the store or the read side.
package sip
