package grpcserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/storefront-go/storefront/libs/grpcserver"
	"github.com/storefront-go/storefront/libs/telemetry"
)

// testPKI is a CA with one server and one client certificate, written as PEM files.
type testPKI struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
	client                    tls.Certificate
}

func newPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "localhost"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	srvDER, srvKey := issue(2, x509.ExtKeyUsageServerAuth)
	srvKeyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	cliDER, cliKey := issue(3, x509.ExtKeyUsageClientAuth)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return testPKI{
		caFile:   write("ca.pem", "CERTIFICATE", caDER),
		certFile: write("server.pem", "CERTIFICATE", srvDER),
		keyFile:  write("server-key.pem", "EC PRIVATE KEY", srvKeyDER),
		pool:     pool,
		client:   tls.Certificate{Certificate: [][]byte{cliDER}, PrivateKey: cliKey},
	}
}

func TestMutualTLSGuardsBothRPCPorts(t *testing.T) {
	t.Parallel()
	pki := newPKI(t)
	cfg := testConfig()
	cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSClientCAFile = pki.certFile, pki.keyFile, pki.caFile
	srv, err := grpcserver.New(cfg, discardLogger(), grpcserver.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	runUntilCleanup(t, srv)

	withCert := &tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{pki.client}, MinVersion: tls.VersionTLS12}
	withoutCert := &tls.Config{RootCAs: pki.pool, MinVersion: tls.VersionTLS12}

	httpsGet := func(tc *tls.Config) (int, error) {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 5 * time.Second}
		resp, err := client.Get("https://" + srv.HTTPAddr() + "/healthz") //nolint:noctx // bounded by the client timeout
		if err != nil {
			return 0, err
		}
		_ = resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := httpsGet(withCert); err != nil || code != http.StatusOK {
		t.Errorf("HTTPS with a client certificate: %d, %v", code, err)
	}
	if _, err := httpsGet(withoutCert); err == nil {
		t.Error("HTTPS without a client certificate succeeded")
	}
	plain := &http.Client{Timeout: 5 * time.Second}
	if resp, err := plain.Get("http://" + srv.HTTPAddr() + "/healthz"); err == nil { //nolint:noctx // bounded by the client timeout
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plaintext HTTP was served on a TLS port")
		}
	}

	// The admin port stays plaintext, so probes without a certificate work.
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := plain.Get("http://" + srv.AdminAddr() + path) //nolint:noctx // bounded by the client timeout
		if err != nil {
			t.Fatalf("admin %s: %v", path, err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("admin %s = %d, want 200", path, resp.StatusCode)
		}
	}

	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(withCert)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if _, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("gRPC with a client certificate: %v", err)
	}
}

func discardLogger() *slog.Logger {
	return telemetry.NewLogger(io.Discard, slog.LevelInfo, "test")
}

// runUntilCleanup serves srv until the test ends.
func runUntilCleanup(t *testing.T, srv *grpcserver.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("server did not stop")
		}
	})
}
