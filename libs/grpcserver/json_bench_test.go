package grpcserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
)

// benchProduct is the canned product both transports return: about the
// size of a seeded one (a 200-byte description, two image URLs).
type benchProduct struct {
	ID, SKU, Name, Description, CategoryID string
	PriceMinor                             int64
	Currency                               string
	Stock                                  int64
	ImageURLs                              []string
	CreatedAt, UpdatedAt                   time.Time
}

func newBenchProduct() benchProduct {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	return benchProduct{
		ID: okID, SKU: "DEMO-00042", Name: "Walnut desk lamp", Description: strings.Repeat("Warm light, solid walnut. ", 8),
		CategoryID: "0193a3c4-1111-7000-8000-00000000000c", PriceMinor: 4990, Currency: "EUR", Stock: 12,
		ImageURLs: []string{"https://img.example.com/lamp/1.jpg", "https://img.example.com/lamp/2.jpg"},
		CreatedAt: at, UpdatedAt: at,
	}
}

// grpcProduct answers GetProduct with the canned product.
type grpcProduct struct {
	cataloguev1.UnimplementedCatalogueServiceServer
	p benchProduct
}

func (g *grpcProduct) GetProduct(_ context.Context, req *cataloguev1.GetProductRequest) (*cataloguev1.GetProductResponse, error) {
	p := g.p
	return &cataloguev1.GetProductResponse{Product: &cataloguev1.Product{
		Id: req.GetProductId(), Sku: p.SKU, Name: p.Name, Description: p.Description, CategoryId: p.CategoryID,
		Price: &cataloguev1.Money{AmountMinor: p.PriceMinor, CurrencyCode: p.Currency}, StockQty: p.Stock,
		ImageUrls: p.ImageURLs, CreatedAt: timestamppb.New(p.CreatedAt), UpdatedAt: timestamppb.New(p.UpdatedAt),
	}}, nil
}

// jsonProduct is the same product as an encoding/json API would send it.
type jsonProduct struct {
	ID          string    `json:"id"`
	SKU         string    `json:"sku"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CategoryID  string    `json:"categoryId"`
	Price       jsonMoney `json:"price"`
	StockQty    int64     `json:"stockQty"`
	ImageURLs   []string  `json:"imageUrls"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

type jsonMoney struct {
	AmountMinor  int64  `json:"amountMinor"`
	CurrencyCode string `json:"currencyCode"`
}

// BenchmarkGRPCAgainstJSON is R6 of docs/benchmarks.md: GetProduct of the
// same canned product over a bare grpc-go server and over a bare net/http
// server with encoding/json (POST, keep-alive), both on loopback TCP, one
// caller. It checks the claim that gRPC is 3-5x JSON; read the ratio.
func BenchmarkGRPCAgainstJSON(b *testing.B) {
	p := newBenchProduct()
	listen := func(b *testing.B) net.Listener {
		b.Helper()
		lis, err := new(net.ListenConfig).Listen(b.Context(), "tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		return lis
	}

	b.Run("grpc", func(b *testing.B) {
		srv := grpc.NewServer()
		cataloguev1.RegisterCatalogueServiceServer(srv, &grpcProduct{p: p})
		lis := listen(b)
		go func() { _ = srv.Serve(lis) }()
		b.Cleanup(srv.Stop)
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = conn.Close() })
		client := cataloguev1.NewCatalogueServiceClient(conn)
		req := &cataloguev1.GetProductRequest{ProductId: okID}
		b.ReportAllocs()
		for b.Loop() {
			resp, err := client.GetProduct(b.Context(), req)
			if err != nil || resp.GetProduct().GetName() != p.Name {
				b.Fatalf("GetProduct: %v, %v", resp, err)
			}
		}
	})

	b.Run("json", func(b *testing.B) {
		mux := http.NewServeMux()
		mux.HandleFunc("POST /products.get", func(w http.ResponseWriter, r *http.Request) {
			var req struct {
				ProductID string `json:"productId"`
			}
			if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			out := jsonProduct{
				ID: req.ProductID, SKU: p.SKU, Name: p.Name, Description: p.Description, CategoryID: p.CategoryID,
				Price: jsonMoney{AmountMinor: p.PriceMinor, CurrencyCode: p.Currency}, StockQty: p.Stock,
				ImageURLs: p.ImageURLs, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(out)
		})
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		lis := listen(b)
		go func() { _ = srv.Serve(lis) }()
		b.Cleanup(func() { _ = srv.Close() })
		client := &http.Client{Timeout: 5 * time.Second}
		url := "http://" + lis.Addr().String() + "/products.get"
		body := []byte(`{"productId":"` + okID + `"}`)
		b.ReportAllocs()
		for b.Loop() {
			req, err := http.NewRequestWithContext(b.Context(), http.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			var got jsonProduct
			err = json.NewDecoder(resp.Body).Decode(&got)
			_ = resp.Body.Close()
			if err != nil || got.Name != p.Name {
				b.Fatalf("products.get: %+v, %v", got, err)
			}
		}
	})
}
