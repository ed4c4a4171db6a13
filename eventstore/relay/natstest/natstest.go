// Package natstest runs a real NATS server with JetStream inside the test
// process (the nats-server module, the same server that ships as a binary).
//
// Tests only; it imports nothing of ours.
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is a running NATS server with JetStream.
type Server struct {
	*server.Server
	opts *server.Options
}

// MustStart starts a NATS server with JetStream on a free loopback port,
// storing under a directory of the test; it stops when the test ends.
func MustStart(tb testing.TB) *Server {
	tb.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: tb.TempDir(),
		NoLog: true, NoSigs: true}
	s := &Server{opts: opts}
	s.mustRun(tb)
	return s
}

func (s *Server) mustRun(tb testing.TB) {
	tb.Helper()
	srv, err := server.NewServer(s.opts)
	if err != nil {
		tb.Fatalf("start nats-server: %v", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		tb.Fatal("nats-server did not get ready")
	}
	s.Server = srv
	tb.Cleanup(srv.Shutdown)
}
