package kurrentdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"

	kdb "github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"
	features "github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/serverfeatures"
	"github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/shared"
	v1 "github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/streams"
	v2errors "github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v2/streams/errors"
	v2 "github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v2/streams/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/autoreg/autoreg/internal/eventstore"
)

// grpcNode is a gRPC server that answers like a KurrentDB node as far as
// these tests need: its version and features, and appends that fail the
// way it is told. The real client talks to it, so the errors the store
// maps are the client's own.
type grpcNode struct {
	features.UnimplementedServerFeaturesServer
	v2.UnimplementedStreamsServiceServer
	v1.UnimplementedStreamsServer

	version string
	multi   bool  // it has MultiStreamAppend (AppendSession)
	fail    error // what AppendSession answers
}

func (n *grpcNode) GetSupportedMethods(context.Context, *shared.Empty) (*features.SupportedMethods, error) {
	m := &features.SupportedMethods{EventStoreServerVersion: n.version}
	m.Methods = append(m.Methods, &features.SupportedMethod{ServiceName: "event_store.client.streams.streams", MethodName: "append"})
	if n.multi {
		m.Methods = append(m.Methods, &features.SupportedMethod{ServiceName: "kurrentdb.protocol.v2.streams.streamsservice", MethodName: "appendsession"})
	}
	return m, nil
}

func (n *grpcNode) AppendSession(s grpc.ClientStreamingServer[v2.AppendRequest, v2.AppendSessionResponse]) error {
	for {
		if _, err := s.Recv(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
	}
	if n.fail != nil {
		return n.fail
	}
	return s.SendAndClose(&v2.AppendSessionResponse{Position: 1})
}

// Append answers every single-stream append with a wrong expected
// version: the stream is at revision 3.
func (n *grpcNode) Append(s grpc.ClientStreamingServer[v1.AppendReq, v1.AppendResp]) error {
	for {
		if _, err := s.Recv(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
	}
	return s.SendAndClose(&v1.AppendResp{Result: &v1.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: &v1.AppendResp_WrongExpectedVersion{
		CurrentRevisionOption:  &v1.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: 3},
		ExpectedRevisionOption: &v1.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: 1},
	}}})
}

// startNode serves n on a free loopback port and returns a client of it.
func startNode(t *testing.T, n *grpcNode) *kdb.Client {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	features.RegisterServerFeaturesServer(srv, n)
	v2.RegisterStreamsServiceServer(srv, n)
	v1.RegisterStreamsServer(srv, n)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	cfg, err := ParseURL(fmt.Sprintf("kurrentdb://%s?tls=false&maxDiscoverAttempts=2&discoveryInterval=10", lis.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Client.Logger = func(kdb.LogLevel, string, ...any) {}
	c, err := kdb.NewClient(cfg.Client)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func detailed(t *testing.T, code codes.Code, msg string, detail protoadapt.MessageV1) error {
	t.Helper()
	st, err := status.New(code, msg).WithDetails(detail)
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

func oneEvent(stream string) []kdb.AppendStreamRequest {
	ev, _ := encodeEvent(eventstore.EventData{ID: "0195b7a4-2d1e-7c3a-9f00-0123456789ab", Type: "test.a", Data: []byte(`{}`)}, stamp{Position: 1, Hash: []byte{1}})
	return []kdb.AppendStreamRequest{{StreamName: stream, Events: slices.Values([]kdb.EventData{ev}), ExpectedStreamState: kdb.NoStream{}}}
}

// TestClientErrors maps the errors the real client gives for what a
// server answers.
func TestClientErrors(t *testing.T) {
	tests := []struct {
		name  string
		fail  error
		check func(t *testing.T, err error)
	}{
		{"revision conflict", detailed(t, codes.FailedPrecondition, "conflict",
			&v2errors.StreamRevisionConflictErrorDetails{Stream: "autoreg-cluster", ExpectedRevision: -1, ActualRevision: 4}),
			func(t *testing.T, err error) {
				var rc *revisionConflict
				if !errors.As(err, &rc) || *rc != (revisionConflict{Stream: "autoreg-cluster", Actual: 4, Known: true}) {
					t.Fatalf("got %v (%T), want a revision conflict on autoreg-cluster at 4", err, err)
				}
			}},
		{"revision conflict, no stream", detailed(t, codes.FailedPrecondition, "conflict",
			&v2errors.StreamRevisionConflictErrorDetails{Stream: "autoreg-dnrange", ExpectedRevision: 2, ActualRevision: -1}),
			func(t *testing.T, err error) {
				var rc *revisionConflict
				if !errors.As(err, &rc) || *rc != (revisionConflict{Stream: "autoreg-dnrange", Actual: -1, Known: true}) {
					t.Fatalf("got %v, want a revision conflict on autoreg-dnrange, no stream", err)
				}
			}},
		{"tombstoned", detailed(t, codes.FailedPrecondition, "tombstoned", &v2errors.StreamTombstonedErrorDetails{Stream: "autoreg-cluster"}),
			wantIs(eventstore.ErrCorrupt)},
		{"unavailable", status.Error(codes.Unavailable, "node going down"), wantIs(eventstore.ErrUnavailable)},
		{"deadline", status.Error(codes.DeadlineExceeded, "too slow"), wantIs(eventstore.ErrUnavailable)},
		{"aborted", status.Error(codes.Aborted, "transaction too big"), wantIs(eventstore.ErrUnavailable)},
		{"unimplemented", status.Error(codes.Unimplemented, "no such method"), wantIs(ErrUnsupportedServer)},
		{"access denied", status.Error(codes.PermissionDenied, "no"), func(t *testing.T, err error) {
			if err == nil || errors.Is(err, eventstore.ErrUnavailable) || !strings.Contains(err.Error(), "credentials") {
				t.Fatalf("got %v, want an error about credentials, not ErrUnavailable", err)
			}
		}},
		{"other", status.Error(codes.Internal, "boom"), func(t *testing.T, err error) {
			var rc *revisionConflict
			if err == nil || errors.As(err, &rc) || errors.Is(err, eventstore.ErrUnavailable) {
				t.Fatalf("got %v, want a plain error", err)
			}
		}},
		{"success", nil, func(t *testing.T, err error) {
			if err != nil {
				t.Fatalf("got %v, want nil", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startNode(t, &grpcNode{version: "25.1.0", multi: true, fail: tt.fail})
			tt.check(t, client{c}.multiAppend(t.Context(), oneEvent("autoreg-cluster")))
		})
	}

	t.Run("wrong expected version (single stream append)", func(t *testing.T) {
		c := startNode(t, &grpcNode{version: "25.1.0", multi: true})
		_, err := c.AppendToStream(t.Context(), "autoreg-cluster", kdb.AppendToStreamOptions{StreamState: kdb.StreamRevision{Value: 1}}, kdb.EventData{EventType: "t"})
		if _, ok := kdb.FromError(err); ok {
			t.Fatalf("FromError(%v) is ok: it should be only for nil", err)
		}
		var rc *revisionConflict
		if !errors.As(mapError(err), &rc) {
			t.Fatalf("mapError(%v) = %v, want a revision conflict", err, mapError(err))
		}
	})
	t.Run("canceled", func(t *testing.T) {
		c := startNode(t, &grpcNode{version: "25.1.0", multi: true})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := (client{c}).multiAppend(ctx, oneEvent("autoreg-cluster")); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	})
}

func wantIs(target error) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, target) {
			t.Fatalf("got %v, want an error wrapping %v", err, target)
		}
	}
}

// TestOldServer: a server without MultiStreamAppend is refused at open,
// with its version, unless the store is read-only; an append that reaches
// one anyway says what is missing.
func TestOldServer(t *testing.T) {
	for _, version := range []string{"24.10.2", "25.0.1"} {
		c := startNode(t, &grpcNode{version: version})
		_, err := open(t.Context(), client{c}, Config{Location: "kurrentdb://old:2113"})
		if !errors.Is(err, ErrUnsupportedServer) || !strings.Contains(err.Error(), "KurrentDB "+version) || !strings.Contains(err.Error(), "25.1") {
			t.Fatalf("open on %s: %v, want ErrUnsupportedServer naming the version and 25.1", version, err)
		}
		s, err := open(t.Context(), client{c}, Config{Location: "kurrentdb://old:2113", ReadOnly: true})
		if err != nil {
			t.Fatalf("read-only open on %s: %v", version, err)
		}
		if _, err := s.Append(t.Context(), eventstore.StreamAppend{Stream: "autoreg-x", Expected: eventstore.Any,
			Events: []eventstore.EventData{{ID: "a", Type: "t"}}}); !errors.Is(err, ErrReadOnly) {
			t.Fatalf("Append on a read-only store: %v, want ErrReadOnly", err)
		}
		if err := (client{c}).multiAppend(t.Context(), oneEvent("autoreg-x")); !errors.Is(err, ErrUnsupportedServer) {
			t.Fatalf("multiAppend on %s: %v, want ErrUnsupportedServer", version, err)
		}
	}
	c := startNode(t, &grpcNode{version: "25.1.0", multi: true})
	if _, err := open(t.Context(), client{c}, Config{}); err != nil {
		t.Fatalf("open on 25.1.0: %v", err)
	}
}
