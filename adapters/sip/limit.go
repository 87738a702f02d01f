package sip

// Per-source rate limiting.
//
// Every source IP address has a token bucket (SourceRate tokens a second,
// at most SourceBurst): a REGISTER that would reach the registrar takes a
// token. When the bucket is empty the request is answered 503 with
// Retry-After right away, before the registrar is called, unless the
// device is known: it holds a binding made from the same IP address (a
// refresh), or Config.Known says the registrar knows it. Known devices are
// never refused for their source's sake: a site's SBC or NAT that carries
// many phones from one address must not lock them out because a rogue
// device behind it floods. Sources in TrustedSources are not limited. What
// known devices may write is bounded by the registrar instead: a device's
// moves and registrations anew (moves.go, command.BusyError).
//
// The buckets are sharded by address; a shard holds at most
// maxSourcesPerShard of them (full, idle buckets are dropped by the
// sweeper; beyond the bound an arbitrary one is forgotten, which gives that
// source a full bucket again), so spoofed UDP source addresses cannot grow
// memory without bound: about 64 bytes a source, 4 MB at most.
//
// The limiter and the burst log are in adapters/internal/limit, shared with
// the SCCP adapter.
