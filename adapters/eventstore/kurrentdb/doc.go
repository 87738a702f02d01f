// Package kurrentdb is the event store on KurrentDB (EventStoreDB's
// successor), through github.com/kurrent-io/KurrentDB-Client-Go, the
// maintained client (EventStore-Client-Go is deprecated). It is the store
// for several registrars sharing one history, and for a history larger than
// one machine should keep. It passes the port's conformance suite
// (package storetest).
//
// # Streams
//
// The port's streams are KurrentDB streams of the same name: the
// registrar's start with "autoreg-" (autoreg-cluster, autoreg-dnrange,
// autoreg-device-SEP001122334455), so they show the aggregate and its id in
// the server's UI. A namespace (Config.Namespace, ?namespace= in the URL)
// puts a prefix in front of every name, for several stores on one server.
// An event's KurrentDB event ID is its port ID (a UUID; another string is
// mapped to a name-based UUID and kept in the metadata), its type is its
// type, its data is its data (content type JSON when it is JSON).
//
// # Positions: the position log
//
// The port needs global positions that run 1, 2, 3... without gaps, over the
// store's events only, and a hash chain in that order. KurrentDB's $all
// positions are byte offsets in its transaction log, shared with every
// other stream of the server, so they cannot serve. The store keeps its own
// order in a stream of its own, the position log ("autoreg.positions", or
// "autoreg.positions-NAMESPACE"): every append is one MultiStreamAppend
// (KurrentDB 25.1 or later) of its events, each stream expected at the
// revision the store knows, together with one event to the log, expected at
// the log's last revision. The log event (type autoreg.appended) says which
// positions the append took, the hash of its last event, and which event
// IDs went to which stream at which version. Because every append also
// appends to the log with an exact expected revision, appends are totally
// ordered, even from several processes: one that lost the race fails on
// the log, reads the log entries it missed (which tell it the new stream
// versions), and tries again. Positions are therefore assigned before the
// append, gap-free, and each event carries its own in its metadata:
//
//	autoreg.position     the port's position, decimal
//	autoreg.recorded-at  RecordedAt, RFC 3339 with nanoseconds, UTC: the
//	                     appending process's clock (KurrentDB keeps its own
//	                     "created" time beside it)
//	autoreg.hash         eventstore.ChainHash of the event, hex
//	autoreg.metadata     the event's metadata, byte for byte (base64 in
//	                     autoreg.metadata-base64 if it is not UTF-8)
//	autoreg.id           the event's ID, when it is not a canonical UUID
//
// (MultiStreamAppend takes metadata as a flat JSON object of strings; the
// server adds $schema.name and $schema.format.)
//
// Reading from a position: the log is searched for the append holding it
// (from its end, then by bisection: a few reads), and $all is followed,
// filtered on the store's prefix, from the $all position of the log event
// of the append before. The events of one append are adjacent in $all but
// the server may lay them out in another order than their positions; the
// reader puts them back in order. ReadAll stops at the head it saw when it
// started; Subscribe goes on live, and resubscribes after a drop. Head is
// the last log event's last position.
//
// # Expected versions and check-only entries
//
// The store knows each stream's version as of the log's last revision
// (from its own appends, the log entries of others, or one read from the
// leader), checks the port's expected version (Any, NoStream, Exact)
// against it, and sends the server that exact revision (NoStream or
// StreamRevision). A wrong expected version is a *eventstore.ConflictError
// with the stream's actual version; the server's own stream revision
// conflicts (and wrong expected versions) only mean that another process
// got in between, and lead to another attempt. An entry without events only
// checks: KurrentDB's append session takes no entry without records, and
// the check needs none, since the log's expected revision guarantees that
// no stream moved between the check and the commit.
//
// # Idempotency
//
// A retried append (the same event IDs after an error or a timeout, whose
// outcome was unknown) is recognised with eventstore.MatchStored among the
// events of the latest appends the store has seen in the log (the last
// 4096 appends when it starts, then every one it sees, up to
// Config.IDWindow events, 65,536 by default), and answered with the
// original result; an ID used again for other content is
// eventstore.ErrDuplicateEvent. KurrentDB itself does not index event IDs
// across streams, so an ID reused beyond that window is not noticed: the
// registrar makes time-ordered UUIDs and retries within seconds. The store
// always sends exact expected revisions, so the server's own best-effort
// deduplication never silently drops part of an append.
//
// # The hash chain, and what it proves here
//
// Each event's hash chains it to the one before in the store's order, as in
// the SQLite store, and VerifyChain checks it (replay verify). Here the
// chain is computed by the registrar and stored in the metadata, not by the
// server: it shows events deleted (a scavenged $maxAge, a truncated stream),
// edited, reordered or written around the store, but someone with write
// access to the server who recomputes the chain could forge a history the
// chain accepts. Writers that bypass the store (another program appending
// to autoreg- streams) break the positions and are reported as
// eventstore.ErrCorrupt when read.
//
// # Costs
//
// One append is one round trip (the versions of streams the store has not
// seen cost one read each, once). Appends of one process are serialized, and
// several processes take turns through the log, so the store takes a few
// hundred to a few thousand appends a second, depending on the latency to
// the leader: far more than a site's phones register, but not the SQLite
// store's group commit. Reads and subscriptions are not serialized.
//
// # Servers
//
// Open fails with ErrUnsupportedServer, naming the server's version, on a
// server older than KurrentDB 25.1 (no MultiStreamAppend), unless the store
// is opened read-only (the audit tool reads any server from 21.10 on).
// Connection strings: see ParseURL. docs/kurrentdb.md says how to run the
// conformance suite against a server or a cluster.
//
// It implements the port internal/eventstore and imports nothing else of the
// project.
package kurrentdb
