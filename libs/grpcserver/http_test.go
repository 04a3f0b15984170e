package grpcserver_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
)

// gzipBomb is a body that gzips to a few hundred KiB and inflates to
// size bytes of spaces: one gzip member of 1 MiB repeated, which readers
// inflate as one stream, so building it costs one small compression.
func gzipBomb(t *testing.T, size int) []byte {
	t.Helper()
	var member bytes.Buffer
	zw, err := gzip.NewWriterLevel(&member, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(bytes.Repeat([]byte(" "), 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return bytes.Repeat(member.Bytes(), size/(1<<20))
}

func post(t *testing.T, url string, header http.Header, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// allocatedDuring returns the bytes the whole process allocated while fn ran.
func allocatedDuring(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A 300 MB gzip bomb sent to the HTTP port is refused with
// resource_exhausted after at most MaxRecvMsgBytes are inflated. Not
// parallel: it measures the process's allocations.
func TestHTTPPortBoundsCompressedBodies(t *testing.T) {
	h := start(t, testConfig()) // MaxRecvMsgBytes is 1 MiB
	url := "http://" + h.srv.HTTPAddr() + "/catalogue.v1.CatalogueService/GetProduct"
	bomb := gzipBomb(t, 300<<20)
	t.Logf("bomb: %d bytes that inflate to 300 MiB", len(bomb))

	for _, tc := range []struct {
		name   string
		header http.Header
	}{
		{"connect unary", http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}, "Connect-Protocol-Version": {"1"}}},
		{"connect unary without protocol header", http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				code int
				body string
			)
			alloc := allocatedDuring(func() { code, body = post(t, url, tc.header, bomb) })
			t.Logf("status %d, process allocated %.1f MiB while serving it", code, float64(alloc)/(1<<20))
			if code != http.StatusTooManyRequests || !strings.Contains(body, `"code":"resource_exhausted"`) {
				t.Errorf("status %d body %s; want 429 resource_exhausted", code, body)
			}
			if alloc > 32<<20 {
				t.Errorf("serving the bomb allocated %d MiB, want at most 32 MiB", alloc>>20)
			}
		})
	}

	t.Run("uncompressed body over the limit", func(t *testing.T) {
		big := []byte(`{"productId":"` + strings.Repeat("a", 2<<20) + `"}`)
		code, body := post(t, url, http.Header{"Content-Type": {"application/json"}}, big)
		if code != http.StatusTooManyRequests || !strings.Contains(body, `"code":"resource_exhausted"`) {
			t.Errorf("status %d body %.200s; want 429 resource_exhausted", code, body)
		}
	})

	// The server is still healthy and serves the next request.
	code, body := post(t, url, http.Header{"Content-Type": {"application/json"}}, []byte(`{"productId":"`+okID+`"}`))
	if code != http.StatusOK || !strings.Contains(body, okID) {
		t.Errorf("after the bomb: status %d body %s", code, body)
	}
}

// A plain Connect JSON POST, as curl sends it, works without the
// Connect-Protocol-Version header; a POST to an unknown path is still 404.
func TestHTTPPortServesConnectWithoutProtocolHeader(t *testing.T) {
	t.Parallel()
	h := start(t, testConfig())
	base := "http://" + h.srv.HTTPAddr()
	code, body := post(t, base+"/catalogue.v1.CatalogueService/GetProduct",
		http.Header{"Content-Type": {"application/json"}}, []byte(`{"productId":"`+okID+`"}`))
	if code != http.StatusOK || !strings.Contains(body, `"name":"Lamp"`) {
		t.Errorf("status %d body %s", code, body)
	}
	code, body = post(t, base+"/catalogue.v1.CatalogueService/GetProduct",
		http.Header{"Content-Type": {"application/json; charset=utf-8"}}, []byte(`{"productId":"x"}`))
	if code != http.StatusBadRequest || !strings.Contains(body, `"code":"invalid_argument"`) {
		t.Errorf("invalid request: status %d body %s; want 400 invalid_argument", code, body)
	}
	if code, _ := post(t, base+"/catalogue.v1.CatalogueService/NoSuchMethod",
		http.Header{"Content-Type": {"application/json"}}, []byte(`{}`)); code != http.StatusNotFound {
		t.Errorf("unknown procedure: status %d, want 404", code)
	}
}

// A unary request whose body trickles in a byte at a time is cut off at
// HTTPReadTimeout instead of holding the connection.
func TestHTTPPortCutsOffSlowBodies(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.HTTPReadTimeout = 500 * time.Millisecond
	h := start(t, cfg)

	const bodyLen = 100 // at one byte per 100ms, 10s if never cut off
	conn, err := (&net.Dialer{}).DialContext(t.Context(), "tcp", h.srv.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	head := fmt.Sprintf("POST /catalogue.v1.CatalogueService/GetProduct HTTP/1.1\r\nHost: x\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", bodyLen)
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	sent := make(chan int, 1)
	go func() {
		n := 0
		for ; n < bodyLen; n++ {
			if _, err := conn.Write([]byte(" ")); err != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		sent <- n
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	elapsed := time.Since(began)
	if err == nil {
		_ = resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		t.Logf("answered %d after %v: %s", resp.StatusCode, elapsed.Round(time.Millisecond), b)
		if resp.StatusCode == http.StatusOK {
			t.Error("a body that never finished got 200")
		}
	} else {
		t.Logf("connection ended after %v: %v", elapsed.Round(time.Millisecond), err)
	}
	_ = conn.Close()
	if n := <-sent; n >= bodyLen {
		t.Errorf("the client sent all %d bytes: the slow body was never cut off", n)
	}
}

// Request headers are bounded by HTTPMaxHeaderBytes.
func TestHTTPPortBoundsHeaders(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.HTTPMaxHeaderBytes = 16 << 10
	h := start(t, cfg)
	header := http.Header{"Content-Type": {"application/json"}, "X-Padding": {strings.Repeat("p", 64<<10)}}
	code, _ := post(t, "http://"+h.srv.HTTPAddr()+"/catalogue.v1.CatalogueService/GetProduct", header, []byte(`{"productId":"`+okID+`"}`))
	if code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", code)
	}
}

// Reflection describes the API only when configured to.
func TestReflectionIsASwitch(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprintf("reflection=%t", on), func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			cfg.Reflection = on
			h := start(t, cfg)
			stream, err := reflectionpb.NewServerReflectionClient(h.conn).ServerReflectionInfo(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			err = stream.Send(&reflectionpb.ServerReflectionRequest{
				MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: "*"},
			})
			// io.EOF: the server has already ended the stream (it does at once
			// when reflection is off); Recv gives its status.
			if err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			resp, err := stream.Recv()
			if !on {
				if status.Code(err) != codes.Unimplemented {
					t.Errorf("reflection when off: %v; want UNIMPLEMENTED", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("reflection when on: %v", err)
			}
			var names []string
			for _, s := range resp.GetListServicesResponse().GetService() {
				names = append(names, s.GetName())
			}
			if !slices.Contains(names, "catalogue.v1.CatalogueService") {
				t.Errorf("listed services %v lack catalogue.v1.CatalogueService", names)
			}
		})
	}
}
