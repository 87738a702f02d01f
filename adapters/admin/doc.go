// Package admin is the registrar's admin HTTP JSON API: administrators open
// and close autoregistration, configure the cluster's topology, and look at
// and change devices. Every change is a domain command executed as
// service.Admin(user, peer), so the events it writes name the token's user
// ("admin:alice") and the client's address.
//
// # Security
//
// Requests carry a bearer token (Authorization: Bearer T), matched in
// constant time against every configured token. A token of scope "read" may
// only read (403 on a change). No token, or a wrong one, is answered 401 with
// WWW-Authenticate; failures are counted in autoreg_admin_auth_failures_total
// and logged as a summary every 10 s (the first after a quiet while on its
// own line, with the peer). The token is checked before anything else, so a
// right token is never delayed nor refused; failures are counted per address,
// per network (/24, /64) and for the whole server, and beyond their budgets
// the 401 is held back (a doubling delay) or replaced by 429 with Retry-After
// (see throttle.go).
//
// The server refuses to start (ErrUnsafe) on a non-loopback address without
// a token, with a token shorter than MinTokenLength, or without TLS unless
// AllowPlainHTTP. With no token at all (loopback only) every request acts as
// user "local" with admin scope, and only requests whose Host is a loopback
// name are answered (a defence against DNS rebinding). Request bodies must be
// application/json (which keeps browsers' simple cross-site requests out), at
// most MaxBodyBytes, with no unknown fields.
//
// # Endpoints
//
// Bodies and answers are the types of package api (documented field by field
// in docs/admin-api.md). Every change answers api.Result {changed, events,
// position}: changed is false when the request asked for what already was.
//
//	GET    /healthz                          no auth; 200 "ok", 503 and why once the store refuses writes for good
//	GET    /metrics                          Prometheus; a token of any scope, or none from loopback when listening on loopback
//	GET    /v1/status                        api.Status
//	GET    /v1/cluster                       api.Cluster (the whole configuration)
//	POST   /v1/autoreg/open                  {reason, for, max}       open a window ("for": Go duration)
//	POST   /v1/autoreg/close                 {reason}                 close it
//	PUT    /v1/autoreg/protocol              {protocol}               sip or sccp
//	PUT    /v1/autoreg/css                   {css}                    the autoregistration calling search space
//	PUT    /v1/security                      {mode}                   mixed or nonsecure (mixed closes a window)
//	PUT    /v1/range                         {start, end, partition, mask}
//	PUT    /v1/callmanagers/{name}           {description, autoreg_enabled}
//	DELETE /v1/callmanagers/{name}
//	PUT    /v1/groups/{name}                 {callmanagers, autoreg}  autoreg true flags the autoregistration group
//	DELETE /v1/groups/{name}
//	PUT    /v1/partitions/{name}             {description} (optional body)
//	DELETE /v1/partitions/{name}
//	POST   /v1/patterns                      {pattern, partition, block, description}
//	DELETE /v1/patterns?pattern=P&partition=Q
//	PUT    /v1/css/{name}                    {partitions}
//	DELETE /v1/css/{name}
//	PUT    /v1/pools/{name}                  {group, css}
//	DELETE /v1/pools/{name}
//	PUT    /v1/default-pool                  {pool}
//	PUT    /v1/device-defaults/{model}       {load_sccp, load_sip, pool}
//	GET    /v1/devices                       api.Devices; ?status=&pool=&model=&protocol=&window=&since=&q=&sort=&offset=&limit=
//	POST   /v1/devices                       api.ProvisionDevice      201 with the device
//	GET    /v1/devices/{name}                api.Device
//	PATCH  /v1/devices/{name}                {pool, css, dn, partition, description}; empty fields stay
//	DELETE /v1/devices/{name}
//	GET    /v1/devices/{name}/may-dial?number=N   api.MayDial {allowed, css, partition, match, reason}
//	GET    /v1/devices/{name}/history        api.History: the device's stream
//	GET    /v1/windows                       api.Windows: every window
//	GET    /v1/watch                         Server-Sent Events: "change" when the read models move
//
// # The console
//
// The same server serves a web console from / (console.go): pages /,
// /devices, /cluster, /audit; /login and /logout; embedded assets under
// /assets/; the compliance report at /audit/report when Config.Report is
// set. A person signs in with a token into a session (session.go): an
// HttpOnly, SameSite=Strict cookie, Secure under TLS. A request with the
// cookie and no Authorization header acts as the session's user; a change
// so made must carry the session's CSRF token (X-CSRF-Token) or is refused
// 403. The pages call the endpoints above, so every change is the same
// command and the same events. Content-Security-Policy: default-src 'self',
// no inline script or style.
//
// # Errors
//
// Errors are answered with api.Error {"error": "what went wrong and what to
// do", "code": "mixed_mode"}: domain.ErrInvalid 400 invalid; malformed
// bodies 400 bad_request; ErrNotFound 404 not_found; ErrInUse, ErrWindowOpen,
// ErrWindowClosed, ErrMixedMode, ErrRangeDisabled, ErrRangeExhausted,
// ErrMisconfigured and ErrDNInUse 409 (in_use, window_open, window_closed,
// mixed_mode, range_disabled, range_exhausted, misconfigured, dn_in_use);
// changes that kept conflicting with concurrent ones 409 conflict;
// eventstore.ErrUnavailable 503 unavailable with Retry-After; anything else
// 500 internal.
//
// It is an adapter: it imports the command side (every change), the read
// side (projections.Reader, every read), the domain and its own api; not the
// store, whose errors reach it as the command side's.
package admin
