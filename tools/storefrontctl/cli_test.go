package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/storefront-go/storefront/libs/auth"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	"github.com/storefront-go/storefront/libs/testenv"
)

const (
	holdID  = "0190f6a0-0000-7000-8000-0000000000ee" // its watch stays open
	mugID   = "0190f6a0-0000-7000-8000-000000000001"
	teaID   = "0190f6a0-0000-7000-8000-000000000002"
	resID   = "0190f6a0-0000-7000-8000-0000000000aa"
	unknown = "0190f6a0-0000-7000-8000-0000000000ff"
)

var fixedTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func mug() *cataloguev1.Product {
	return &cataloguev1.Product{
		Id: mugID, Sku: "MUG-BLUE-01", Name: "Blue Mug", Description: "A mug.",
		CategoryId: "home-kitchen", Price: &cataloguev1.Money{AmountMinor: 1299, CurrencyCode: "EUR"},
		StockQty: 7, CreatedAt: timestamppb.New(fixedTime), UpdatedAt: timestamppb.New(fixedTime),
	}
}

func tea() *cataloguev1.Product {
	return &cataloguev1.Product{
		Id: teaID, Sku: "TEA-GREEN", Name: "Green Tea", CategoryId: "grocery",
		Price: &cataloguev1.Money{AmountMinor: 450, CurrencyCode: "EUR"}, StockQty: 40,
		CreatedAt: timestamppb.New(fixedTime), UpdatedAt: timestamppb.New(fixedTime),
	}
}

// fakeCatalogue is an in-memory CatalogueService that records what it was
// asked, so tests can check both the CLI's requests and its output.
type fakeCatalogue struct {
	cataloguev1.UnimplementedCatalogueServiceServer

	mu        sync.Mutex
	skus      map[string]bool
	created   []*cataloguev1.CreateProductRequest
	authz     []string
	lastList  *cataloguev1.ListProductsRequest
	lastQuery *cataloguev1.SearchProductsRequest
	// lastSuggest is the last SuggestProducts request.
	lastSuggest *cataloguev1.SuggestProductsRequest
	lastRes     *cataloguev1.ReserveStockRequest
	createErr   error
}

// locked runs read with the fake's lock held, for reading what it recorded.
func (f *fakeCatalogue) locked(read func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	read()
}

func (f *fakeCatalogue) recordAuth(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.authz = append(f.authz, strings.Join(md.Get("authorization"), ","))
}

func (f *fakeCatalogue) GetProduct(ctx context.Context, req *cataloguev1.GetProductRequest) (*cataloguev1.GetProductResponse, error) {
	f.recordAuth(ctx)
	switch req.GetProductId() {
	case mugID:
		return &cataloguev1.GetProductResponse{Product: mug()}, nil
	case "not-a-uuid":
		st, err := status.New(codes.InvalidArgument, "invalid request").WithDetails(&errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{
				{Field: "product_id", Description: "value must be a valid UUID"},
			},
		})
		if err != nil {
			return nil, err
		}
		return nil, st.Err()
	default:
		return nil, status.Errorf(codes.NotFound, "product %s not found", req.GetProductId())
	}
}

func (f *fakeCatalogue) ListProducts(req *cataloguev1.ListProductsRequest, stream grpc.ServerStreamingServer[cataloguev1.ListProductsResponse]) error {
	f.mu.Lock()
	f.lastList = req
	f.mu.Unlock()
	pages := []*cataloguev1.ListProductsResponse{
		{Products: []*cataloguev1.Product{mug()}, NextPageToken: "page-2"},
		{Products: []*cataloguev1.Product{tea()}},
	}
	for _, p := range pages {
		if err := stream.Send(p); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeCatalogue) SearchProducts(_ context.Context, req *cataloguev1.SearchProductsRequest) (*cataloguev1.SearchProductsResponse, error) {
	f.mu.Lock()
	f.lastQuery = req
	f.mu.Unlock()
	resp := &cataloguev1.SearchProductsResponse{Products: []*cataloguev1.Product{mug()}, NextPageToken: "next", TotalSize: 3}
	if req.GetIncludeFacets() {
		resp.Facets = &cataloguev1.SearchFacets{
			Categories: []*cataloguev1.CategoryCount{{CategoryId: "home-kitchen", Count: 2}, {CategoryId: "grocery", Count: 1}},
			PriceBands: []*cataloguev1.PriceBandCount{
				{MinMinor: 0, MaxMinor: proto.Int64(1000), Count: 1}, {MinMinor: 1000, Count: 2},
			},
		}
	}
	return resp, nil
}

func (f *fakeCatalogue) SuggestProducts(_ context.Context, req *cataloguev1.SuggestProductsRequest) (*cataloguev1.SuggestProductsResponse, error) {
	f.mu.Lock()
	f.lastSuggest = req
	f.mu.Unlock()
	return &cataloguev1.SuggestProductsResponse{Suggestions: []*cataloguev1.Suggestion{{ProductId: mug().GetId(), Name: mug().GetName()}}}, nil
}

func (f *fakeCatalogue) CreateProduct(ctx context.Context, req *cataloguev1.CreateProductRequest) (*cataloguev1.CreateProductResponse, error) {
	f.recordAuth(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.createErr != nil {
		return nil, f.createErr
	}
	if f.skus[req.GetSku()] {
		return nil, status.Errorf(codes.AlreadyExists, "sku %s already exists", req.GetSku())
	}
	if f.skus == nil {
		f.skus = map[string]bool{}
	}
	f.skus[req.GetSku()] = true
	f.created = append(f.created, req)
	return &cataloguev1.CreateProductResponse{Product: &cataloguev1.Product{
		Id: mugID, Sku: req.GetSku(), Name: req.GetName(), Description: req.GetDescription(),
		CategoryId: req.GetCategoryId(), Price: req.GetPrice(), StockQty: req.GetStockQty(),
		ImageUrls: req.GetImageUrls(), CreatedAt: timestamppb.New(fixedTime), UpdatedAt: timestamppb.New(fixedTime),
	}}, nil
}

func (f *fakeCatalogue) ReserveStock(_ context.Context, req *cataloguev1.ReserveStockRequest) (*cataloguev1.ReserveStockResponse, error) {
	f.mu.Lock()
	f.lastRes = req
	f.mu.Unlock()
	for _, it := range req.GetItems() {
		if it.GetQuantity() > 10 {
			st, err := status.New(codes.FailedPrecondition, "insufficient stock").WithDetails(&errdetails.PreconditionFailure{
				Violations: []*errdetails.PreconditionFailure_Violation{
					{Type: "STOCK", Subject: it.GetProductId(), Description: "only 7 available"},
				},
			})
			if err != nil {
				return nil, err
			}
			return nil, st.Err()
		}
	}
	return &cataloguev1.ReserveStockResponse{Reservation: &cataloguev1.Reservation{
		Id: req.GetReservationId(), Items: req.GetItems(), Status: cataloguev1.ReservationStatus_RESERVATION_STATUS_ACTIVE,
		CreatedAt: timestamppb.New(fixedTime), ExpiresAt: timestamppb.New(fixedTime.Add(15 * time.Minute)),
	}}, nil
}

func (f *fakeCatalogue) ReleaseStock(_ context.Context, req *cataloguev1.ReleaseStockRequest) (*cataloguev1.ReleaseStockResponse, error) {
	return &cataloguev1.ReleaseStockResponse{Reservation: &cataloguev1.Reservation{
		Id: req.GetReservationId(), Status: cataloguev1.ReservationStatus_RESERVATION_STATUS_RELEASED,
		Items:     []*cataloguev1.ReservationItem{{ProductId: mugID, Quantity: 2}},
		ExpiresAt: timestamppb.New(fixedTime.Add(15 * time.Minute)),
	}}, nil
}

func (f *fakeCatalogue) WatchAvailability(req *cataloguev1.WatchAvailabilityRequest, stream grpc.ServerStreamingServer[cataloguev1.WatchAvailabilityResponse]) error {
	for i, id := range req.GetProductIds() {
		if err := stream.Send(&cataloguev1.WatchAvailabilityResponse{
			ProductId: id, Available: int64(10 - i), ObservedAt: timestamppb.New(fixedTime),
		}); err != nil {
			return err
		}
	}
	if slices.Contains(req.GetProductIds(), holdID) {
		<-stream.Context().Done()
	}
	return nil
}

// startServer serves svc (nil: no CatalogueService at all) on a loopback
// port and returns its address.
func startServer(t *testing.T, svc cataloguev1.CatalogueServiceServer) string {
	t.Helper()
	return testenv.ServeGRPC(t, func(srv *grpc.Server) {
		if svc != nil {
			cataloguev1.RegisterCatalogueServiceServer(srv, svc)
		}
	})
}

type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs a command line with a private environment.
func runCLI(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	return runCLIInput(t, env, "", args...)
}

// runCLIInput is runCLI with stdin reading input.
func runCLIInput(t *testing.T, env map[string]string, input string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, strings.NewReader(input), &stdout, &stderr, func(k string) string { return env[k] })
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func TestProductsText(t *testing.T) {
	t.Parallel()
	addr := startServer(t, &fakeCatalogue{})
	tests := []struct {
		name string
		args []string
		want string
	}{
		{
			name: "get",
			args: []string{"--addr", addr, "products", "get", mugID},
			want: `id:          0190f6a0-0000-7000-8000-000000000001
sku:         MUG-BLUE-01
name:        Blue Mug
category:    home-kitchen
price:       12.99 EUR
stock:       7
description: A mug.
created:     2026-01-02T03:04:05Z
updated:     2026-01-02T03:04:05Z
`,
		},
		{
			name: "list streams every page",
			args: []string{"products", "list", "--addr", addr},
			want: "ID                                    SKU               CATEGORY                   PRICE    STOCK  NAME\n" +
				"0190f6a0-0000-7000-8000-000000000001  MUG-BLUE-01       home-kitchen           12.99 EUR        7  Blue Mug\n" +
				"0190f6a0-0000-7000-8000-000000000002  TEA-GREEN         grocery                 4.50 EUR       40  Green Tea\n",
		},
		{
			name: "search prints the total and the next page token",
			args: []string{"--addr", addr, "products", "search", "blue", "mug"},
			want: "ID                                    SKU               CATEGORY                   PRICE    STOCK  NAME\n" +
				"0190f6a0-0000-7000-8000-000000000001  MUG-BLUE-01       home-kitchen           12.99 EUR        7  Blue Mug\n" +
				"1 of 3 matches; next page: --page-token next\n",
		},
		{
			name: "search with facets prints their counts",
			args: []string{"--addr", addr, "products", "search", "--facets", "mug"},
			want: "ID                                    SKU               CATEGORY                   PRICE    STOCK  NAME\n" +
				"0190f6a0-0000-7000-8000-000000000001  MUG-BLUE-01       home-kitchen           12.99 EUR        7  Blue Mug\n" +
				"1 of 3 matches; next page: --page-token next\n" +
				"categories: home-kitchen=2 grocery=1\n" +
				"prices: 0.00-10.00=1 10.00+=2\n",
		},
		{
			name: "suggest",
			args: []string{"--addr", addr, "products", "suggest", "blu"},
			want: "0190f6a0-0000-7000-8000-000000000001  Blue Mug\n",
		},
		{
			name: "reserve",
			args: []string{"--addr", addr, "stock", "reserve", "--id", resID, mugID + "=2", teaID + "=1"},
			want: "reservation 0190f6a0-0000-7000-8000-0000000000aa: ACTIVE, expires 2026-01-02T03:19:05Z\n" +
				"  0190f6a0-0000-7000-8000-000000000001  x2\n" +
				"  0190f6a0-0000-7000-8000-000000000002  x1\n",
		},
		{
			name: "release",
			args: []string{"--addr", addr, "stock", "release", resID},
			want: "reservation 0190f6a0-0000-7000-8000-0000000000aa: RELEASED, expires 2026-01-02T03:19:05Z\n" +
				"  0190f6a0-0000-7000-8000-000000000001  x2\n",
		},
		{
			name: "watch prints each update until the stream ends",
			args: []string{"--addr", addr, "stock", "watch", mugID, teaID},
			want: "2026-01-02T03:04:05Z  0190f6a0-0000-7000-8000-000000000001  available 10\n" +
				"2026-01-02T03:04:05Z  0190f6a0-0000-7000-8000-000000000002  available 9\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := runCLI(t, nil, tt.args...)
			if got.code != exitOK || got.stderr != "" {
				t.Fatalf("exit %d, stderr %q; want 0 and no stderr", got.code, got.stderr)
			}
			if diff := cmp.Diff(tt.want, got.stdout); diff != "" {
				t.Errorf("stdout mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJSONOutput(t *testing.T) {
	t.Parallel()
	addr := startServer(t, &fakeCatalogue{})
	tests := []struct {
		name string
		args []string
		// want holds the expected messages; new(T) for each line of output.
		want []proto.Message
	}{
		{
			name: "get prints the response",
			args: []string{"--addr", addr, "--json", "products", "get", mugID},
			want: []proto.Message{&cataloguev1.GetProductResponse{Product: mug()}},
		},
		{
			name: "list prints one page per line",
			args: []string{"--addr", addr, "products", "list", "--json"},
			want: []proto.Message{
				&cataloguev1.ListProductsResponse{Products: []*cataloguev1.Product{mug()}, NextPageToken: "page-2"},
				&cataloguev1.ListProductsResponse{Products: []*cataloguev1.Product{tea()}},
			},
		},
		{
			name: "watch prints one update per line",
			args: []string{"--addr", addr, "--json", "stock", "watch", mugID},
			want: []proto.Message{&cataloguev1.WatchAvailabilityResponse{
				ProductId: mugID, Available: 10, ObservedAt: timestamppb.New(fixedTime),
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := runCLI(t, nil, tt.args...)
			if got.code != exitOK {
				t.Fatalf("exit %d, stderr %q", got.code, got.stderr)
			}
			var msgs []proto.Message
			if len(tt.want) == 1 {
				// A unary response is one indented document.
				m := tt.want[0].ProtoReflect().New().Interface()
				if err := protojson.Unmarshal([]byte(got.stdout), m); err != nil {
					t.Fatalf("stdout is not protojson: %v\n%s", err, got.stdout)
				}
				msgs = append(msgs, m)
			} else {
				sc := bufio.NewScanner(strings.NewReader(got.stdout))
				for i := 0; sc.Scan(); i++ {
					if i >= len(tt.want) {
						t.Fatalf("more lines than expected:\n%s", got.stdout)
					}
					m := tt.want[i].ProtoReflect().New().Interface()
					if err := protojson.Unmarshal(sc.Bytes(), m); err != nil {
						t.Fatalf("line %d is not protojson: %v\n%s", i+1, err, sc.Text())
					}
					msgs = append(msgs, m)
				}
			}
			if diff := cmp.Diff(tt.want, msgs, protocmp.Transform()); diff != "" {
				t.Errorf("messages mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRequests(t *testing.T) {
	t.Parallel()
	fake := &fakeCatalogue{}
	addr := startServer(t, fake)

	if got := runCLI(t, nil, "--addr", addr, "products", "list", "--category", "grocery", "--page-size", "50"); got.code != exitOK {
		t.Fatalf("list: exit %d, stderr %q", got.code, got.stderr)
	}
	var lastList *cataloguev1.ListProductsRequest
	fake.locked(func() { lastList = fake.lastList })
	wantList := &cataloguev1.ListProductsRequest{CategoryId: "grocery", PageSize: 50}
	if diff := cmp.Diff(wantList, lastList, protocmp.Transform()); diff != "" {
		t.Errorf("ListProducts request (-want +got):\n%s", diff)
	}

	got := runCLI(t, nil, "--addr", addr, "products", "search", "--min-price", "5", "--max-price", "19.9",
		"--category", "books", "--page-size", "20", "--page-token", "abc", "--sort", "price-desc",
		"--facets", "--price-bands", "10,25.5", "field", "guide")
	if got.code != exitOK {
		t.Fatalf("search: exit %d, stderr %q", got.code, got.stderr)
	}
	wantSearch := &cataloguev1.SearchProductsRequest{
		Query: "field guide", CategoryId: "books", MinPriceMinor: proto.Int64(500), MaxPriceMinor: proto.Int64(1990),
		PageSize: 20, PageToken: "abc", Sort: cataloguev1.SearchSort_SEARCH_SORT_PRICE_DESC,
		IncludeFacets: true, PriceBandEdgesMinor: []int64{1000, 2550},
	}
	var lastQuery *cataloguev1.SearchProductsRequest
	fake.locked(func() { lastQuery = fake.lastQuery })
	if diff := cmp.Diff(wantSearch, lastQuery, protocmp.Transform()); diff != "" {
		t.Errorf("SearchProducts request (-want +got):\n%s", diff)
	}

	got = runCLI(t, nil, "--addr", addr, "products", "suggest", "--category", "books", "--limit", "5", "field", "gu")
	if got.code != exitOK {
		t.Fatalf("suggest: exit %d, stderr %q", got.code, got.stderr)
	}
	var lastSuggest *cataloguev1.SuggestProductsRequest
	fake.locked(func() { lastSuggest = fake.lastSuggest })
	wantSuggest := &cataloguev1.SuggestProductsRequest{Prefix: "field gu", CategoryId: "books", Limit: 5}
	if diff := cmp.Diff(wantSuggest, lastSuggest, protocmp.Transform()); diff != "" {
		t.Errorf("SuggestProducts request (-want +got):\n%s", diff)
	}

	got = runCLI(t, nil, "--addr", addr, "stock", "reserve", mugID+"=3")
	if got.code != exitOK {
		t.Fatalf("reserve: exit %d, stderr %q", got.code, got.stderr)
	}
	var id string
	fake.locked(func() { id = fake.lastRes.GetReservationId() })
	if !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(id) || !strings.Contains(got.stdout, id) {
		t.Errorf("reserve without --id: reservation id %q is not a printed UUID; stdout %q", id, got.stdout)
	}
}

func TestCreateSendsTokenAndFields(t *testing.T) {
	t.Parallel()
	fake := &fakeCatalogue{}
	addr := startServer(t, fake)
	args := []string{
		"--addr", addr, "products", "create", "--sku", "MUG-RED", "--name", "Red Mug", "--category", "home-kitchen",
		"--price", "9.5", "--stock", "12", "--image", "https://example.com/a.png", "--image", "https://example.com/b.png",
	}
	// The token comes from the flag, else from STOREFRONT_TOKEN.
	if got := runCLI(t, nil, append(args, "--token", "flag-token")...); got.code != exitOK {
		t.Fatalf("create: exit %d, stderr %q", got.code, got.stderr)
	}
	got := runCLI(t, map[string]string{"STOREFRONT_TOKEN": "env-token"}, append(args[:4:4], "--sku", "MUG-RED-2", "--name", "x", "--category", "c", "--price", "1")...)
	if got.code != exitOK {
		t.Fatalf("create with env token: exit %d, stderr %q", got.code, got.stderr)
	}
	if !strings.Contains(got.stdout, "sku:         MUG-RED-2\n") {
		t.Errorf("create output lacks the product: %q", got.stdout)
	}

	wantCreated := &cataloguev1.CreateProductRequest{
		Sku: "MUG-RED", Name: "Red Mug", CategoryId: "home-kitchen",
		Price: &cataloguev1.Money{AmountMinor: 950, CurrencyCode: "EUR"}, StockQty: 12,
		ImageUrls: []string{"https://example.com/a.png", "https://example.com/b.png"},
	}
	var created []*cataloguev1.CreateProductRequest
	var authz []string
	fake.locked(func() { created, authz = fake.created, fake.authz })
	if len(created) != 2 {
		t.Fatalf("server got %d CreateProduct calls, want 2", len(created))
	}
	if diff := cmp.Diff(wantCreated, created[0], protocmp.Transform()); diff != "" {
		t.Errorf("CreateProduct request (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Bearer flag-token", "Bearer env-token"}, authz); diff != "" {
		t.Errorf("authorization metadata (-want +got):\n%s", diff)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	addr := startServer(t, &fakeCatalogue{})
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string // exact, unless wantPrefix
		wantPrefix bool
	}{
		{
			name:       "not found",
			args:       []string{"--addr", addr, "products", "get", unknown},
			wantCode:   exitError,
			wantStderr: "error: NOT_FOUND: product " + unknown + " not found\n",
		},
		{
			name:       "field violations",
			args:       []string{"--addr", addr, "products", "get", "not-a-uuid"},
			wantCode:   exitError,
			wantStderr: "error: INVALID_ARGUMENT: invalid request\n  product_id: value must be a valid UUID\n",
		},
		{
			name:       "failed precondition",
			args:       []string{"--addr", addr, "stock", "reserve", "--id", resID, mugID + "=11"},
			wantCode:   exitError,
			wantStderr: "error: FAILED_PRECONDITION: insufficient stock\n  STOCK " + mugID + ": only 7 available\n",
		},
		{
			name:       "unimplemented",
			args:       []string{"--addr", addr, "products", "create", "--sku", "A", "--name", "A", "--category", "a", "--price", "1", "--addr", startServer(t, nil)},
			wantCode:   exitError,
			wantStderr: "error: UNIMPLEMENTED: unknown service catalogue.v1.CatalogueService\n",
		},
		{
			name:       "unknown command",
			args:       []string{"frobnicate"},
			wantCode:   exitUsage,
			wantStderr: "error: unknown command \"frobnicate\"\nRun 'storefrontctl help' for usage.\n",
		},
		{
			name:       "missing argument",
			args:       []string{"products", "get"},
			wantCode:   exitUsage,
			wantStderr: "error: products get: want exactly one PRODUCT_ID\n",
			wantPrefix: true,
		},
		{
			name:       "bad price",
			args:       []string{"products", "create", "--sku", "A", "--name", "A", "--category", "a", "--price", "1.999"},
			wantCode:   exitUsage,
			wantStderr: "error: products create: --price: price \"1.999\": want a non-negative amount with at most two decimals, like 19.99\n",
			wantPrefix: true,
		},
		{
			name:       "bad reservation item",
			args:       []string{"stock", "reserve", mugID + "=0"},
			wantCode:   exitUsage,
			wantStderr: "error: stock reserve: \"" + mugID + "=0\": quantity must be a positive integer\n",
			wantPrefix: true,
		},
		{
			name:       "unknown flag",
			args:       []string{"products", "list", "--colour", "blue"},
			wantCode:   exitUsage,
			wantStderr: "flag provided but not defined: -colour\n",
			wantPrefix: true,
		},
		{
			name:     "no command",
			args:     nil,
			wantCode: exitUsage,
			// The usage text follows.
			wantStderr: "storefrontctl talks to the Storefront catalogue, orders and analytics services\n",
			wantPrefix: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := runCLI(t, nil, tt.args...)
			if got.code != tt.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", got.code, tt.wantCode, got.stderr)
			}
			if got.stdout != "" {
				t.Errorf("stdout %q, want nothing", got.stdout)
			}
			gotStderr := got.stderr
			if tt.wantPrefix && len(gotStderr) > len(tt.wantStderr) {
				gotStderr = gotStderr[:len(tt.wantStderr)]
			}
			if diff := cmp.Diff(tt.wantStderr, gotStderr); diff != "" {
				t.Errorf("stderr mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWatchEndsCleanlyAtTimeout(t *testing.T) {
	t.Parallel()
	addr := startServer(t, &fakeCatalogue{})
	// The server keeps the stream open; --timeout ends it, and that is success.
	got := runCLI(t, nil, "--addr", addr, "stock", "watch", "--timeout", "1s", holdID)
	if got.code != exitOK || got.stderr != "" {
		t.Fatalf("exit %d, stderr %q; want 0 and no stderr", got.code, got.stderr)
	}
	if want := "2026-01-02T03:04:05Z  " + holdID + "  available 10\n"; got.stdout != want {
		t.Errorf("stdout %q, want %q", got.stdout, want)
	}
	// A unary call that outlives --timeout is an error.
	got = runCLI(t, nil, "--addr", addr, "--timeout", "1ns", "products", "get", mugID)
	if got.code != exitError || !strings.HasPrefix(got.stderr, "error: DEADLINE_EXCEEDED: ") {
		t.Errorf("get with 1ns timeout: exit %d, stderr %q; want 1 and DEADLINE_EXCEEDED", got.code, got.stderr)
	}
}

func TestSeedIsIdempotent(t *testing.T) {
	t.Parallel()
	fake := &fakeCatalogue{}
	addr := startServer(t, fake)

	first := runCLI(t, nil, "--addr", addr, "--token", "admin", "seed", "--products", "60")
	if first.code != exitOK {
		t.Fatalf("first seed: exit %d, stderr %q", first.code, first.stderr)
	}
	if want := "seed: 60 demo products in 10 categories: 60 created, 0 already existed\n"; first.stdout != want {
		t.Errorf("first seed printed %q, want %q", first.stdout, want)
	}
	second := runCLI(t, nil, "--addr", addr, "--json", "seed", "--products", "60")
	if second.code != exitOK {
		t.Fatalf("second seed: exit %d, stderr %q", second.code, second.stderr)
	}
	if want := `{"products":60,"categories":10,"created":0,"existing":60}` + "\n"; second.stdout != want {
		t.Errorf("second seed printed %q, want %q", second.stdout, want)
	}
	var created []*cataloguev1.CreateProductRequest
	fake.locked(func() { created = slices.Clone(fake.created) })
	slices.SortFunc(created, func(a, b *cataloguev1.CreateProductRequest) int { return strings.Compare(a.GetSku(), b.GetSku()) })
	if diff := cmp.Diff(demoProducts(60), created, protocmp.Transform()); diff != "" {
		t.Errorf("created products differ from the demo set (-want +got):\n%s", diff)
	}
}

func TestSeedErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		svc        cataloguev1.CatalogueServiceServer
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{
			name:       "unimplemented is skipped when asked",
			args:       []string{"seed", "--skip-unimplemented"},
			wantCode:   exitOK,
			wantStdout: "seed: skipped: the catalogue at ADDR does not implement CreateProduct yet (UNIMPLEMENTED)\n",
		},
		{
			name:       "unimplemented fails otherwise",
			args:       []string{"seed"},
			wantCode:   exitError,
			wantStderr: "error: seed DEMO-00001: UNIMPLEMENTED: unknown service catalogue.v1.CatalogueService\n",
		},
		{
			name:       "permission denied is never skipped",
			svc:        &fakeCatalogue{createErr: status.Error(codes.PermissionDenied, "admin role required")},
			args:       []string{"seed", "--skip-unimplemented"},
			wantCode:   exitError,
			wantStderr: "error: seed DEMO-00001: PERMISSION_DENIED: admin role required\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := startServer(t, tt.svc)
			got := runCLI(t, nil, append([]string{"--addr", addr}, tt.args...)...)
			if got.code != tt.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", got.code, tt.wantCode, got.stderr)
			}
			if diff := cmp.Diff(strings.ReplaceAll(tt.wantStdout, "ADDR", addr), got.stdout); diff != "" {
				t.Errorf("stdout mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantStderr, got.stderr); diff != "" {
				t.Errorf("stderr mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDemoProducts(t *testing.T) {
	t.Parallel()
	products := demoProducts(1000)
	sku := regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{0,63}$`)
	category := regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)
	skus := map[string]bool{}
	perCategory := map[string]int{}
	for _, p := range products {
		if !sku.MatchString(p.GetSku()) || !category.MatchString(p.GetCategoryId()) {
			t.Fatalf("product %v breaks the contract's sku or category pattern", p)
		}
		if p.GetName() == "" || p.GetPrice().GetAmountMinor() <= 0 || p.GetStockQty() <= 0 {
			t.Fatalf("product %v lacks a name, a price or stock", p)
		}
		skus[p.GetSku()] = true
		perCategory[p.GetCategoryId()]++
	}
	if len(skus) != 1000 {
		t.Errorf("%d distinct SKUs, want 1000", len(skus))
	}
	want := map[string]int{}
	for _, c := range demoCategories() {
		want[c.id] = 100
	}
	if diff := cmp.Diff(want, perCategory); diff != "" {
		t.Errorf("products per category (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(products, demoProducts(1000), protocmp.Transform()); diff != "" {
		t.Errorf("demo products are not deterministic:\n%s", diff)
	}
}

func TestTokenVerifies(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	priv, jwks := filepath.Join(dir, "key.json"), filepath.Join(dir, "jwks.json")
	if got := runCLI(t, nil, "keygen", "--kid", "test-1", "--private", priv, "--jwks", jwks); got.code != exitOK {
		t.Fatalf("keygen: exit %d, stderr %q", got.code, got.stderr)
	}
	if got := runCLI(t, nil, "keygen", "--private", priv, "--jwks", jwks); got.code != exitError || !strings.Contains(got.stderr, "exists") {
		t.Errorf("keygen over existing files: exit %d, stderr %q; want exit 1 mentioning the file exists", got.code, got.stderr)
	}
	got := runCLI(t, map[string]string{"STOREFRONT_SIGNING_KEY": priv}, "token", "--sub", "alice", "--role", "admin", "--role", "service", "--ttl", "5m")
	if got.code != exitOK {
		t.Fatalf("token: exit %d, stderr %q", got.code, got.stderr)
	}
	p := verify(t, jwks, strings.TrimSpace(got.stdout))
	if diff := cmp.Diff(auth.Principal{Subject: "alice", Roles: []string{"admin", "service"}}, p, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("principal (-want +got):\n%s", diff)
	}
}

// TestDevKeyMatchesJWKS guards the committed dev key pair: a token minted
// with deploy/compose/dev-signing-key.json must verify against dev-jwks.json.
func TestDevKeyMatchesJWKS(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "..", "deploy", "compose")
	got := runCLI(t, nil, "token", "--key", filepath.Join(dir, "dev-signing-key.json"), "--sub", "seed", "--role", "admin")
	if got.code != exitOK {
		t.Fatalf("token: exit %d, stderr %q", got.code, got.stderr)
	}
	p := verify(t, filepath.Join(dir, "dev-jwks.json"), strings.TrimSpace(got.stdout))
	if diff := cmp.Diff(auth.Principal{Subject: "seed", Roles: []string{"admin"}}, p, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("principal (-want +got):\n%s", diff)
	}
	jwks, err := os.ReadFile(filepath.Join(dir, "dev-jwks.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(jwks), `"d"`) {
		t.Error("dev-jwks.json holds a private key component")
	}
}

// verify checks tok the way the services do, with the dev stack's issuer
// and audience, and returns its principal.
func verify(t *testing.T, jwksFile, tok string) auth.Principal {
	t.Helper()
	a, err := auth.New(t.Context(), auth.Config{JWKSFile: jwksFile, Issuer: defaultIssuer, Audience: defaultAudience}, auth.Policy{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	p, err := a.Verify(t.Context(), tok)
	if err != nil {
		t.Fatalf("verify minted token: %v", err)
	}
	return p
}

func TestParseMoney(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "19.99", want: 1999},
		{in: "5", want: 500},
		{in: "0.5", want: 50},
		{in: "0", want: 0},
		{in: "1.999", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "1.", wantErr: true},
		{in: ".5", wantErr: true},
		{in: "1e3", wantErr: true},
		{in: "", wantErr: true},
		{in: "99999999999999999999", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := parseMoney(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseMoney(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
