package grpcserver_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/encoding/gzip" // the client's gzip compressor
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/storefront-go/storefront/libs/testenv"
)

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Malformed requests get INVALID_ARGUMENT on both ports, and a gzipped
// Connect request is served like a plain one.
func TestMalformedRequestsAreInvalidArgument(t *testing.T) {
	t.Parallel()
	h := start(t, testConfig())
	url := "http://" + h.srv.HTTPAddr() + "/catalogue.v1.CatalogueService/GetProduct"
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	gzipHeader := http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}}
	ok := []byte(`{"productId":"` + okID + `"}`)
	for _, tc := range []struct {
		name   string
		header http.Header
		body   []byte
		status int
		code   string
	}{
		{"gzipped", gzipHeader, gzipped(t, ok), http.StatusOK, ""},
		{"malformed JSON", jsonHeader, []byte(`{"productId":`), http.StatusBadRequest, "invalid_argument"},
		{"malformed UTF-8", jsonHeader, []byte("{\"productId\":\"a\xff\xfe\"}"), http.StatusBadRequest, "invalid_argument"},
		{"unknown field", jsonHeader, []byte(`{"productId":"` + okID + `","noSuchField":1}`), http.StatusBadRequest, "invalid_argument"},
		{"gzipped malformed", gzipHeader, gzipped(t, []byte(`{"productId":`)), http.StatusBadRequest, "invalid_argument"},
		{"not gzip", gzipHeader, []byte(`{}`), http.StatusBadRequest, "invalid_argument"},
		// An empty message compresses to nothing on the way to the gRPC
		// server: it must still reach validation.
		{"gzipped empty", gzipHeader, gzipped(t, []byte(`{}`)), http.StatusBadRequest, "invalid_argument"},
	} {
		t.Run("connect "+tc.name, func(t *testing.T) {
			code, body := post(t, url, tc.header, tc.body)
			if code != tc.status || tc.code != "" && !strings.Contains(body, `"code":"`+tc.code+`"`) {
				t.Errorf("status %d body %.300s; want %d %s", code, body, tc.status, tc.code)
			}
		})
	}

	conn, err := grpc.NewClient(h.srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	badUTF8 := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte("a\xff\xfe"))
	for _, tc := range []struct {
		name string
		wire []byte
	}{
		{"malformed wire", []byte{0xff, 0xff, 0xff, 0xff}},
		{"malformed UTF-8", badUTF8},
	} {
		for _, gz := range []bool{false, true} {
			opts := []grpc.CallOption{grpc.ForceCodec(testenv.RawCodec{})}
			if gz {
				opts = append(opts, grpc.UseCompressor("gzip"))
			}
			in, out := tc.wire, []byte(nil)
			err := conn.Invoke(t.Context(), "/catalogue.v1.CatalogueService/GetProduct", &in, &out, opts...)
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("grpc %s (gzip %v): %v, want INVALID_ARGUMENT", tc.name, gz, err)
			}
		}
	}
}
