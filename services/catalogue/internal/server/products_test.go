package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	libpg "github.com/storefront-go/storefront/libs/postgres"
	"github.com/storefront-go/storefront/libs/service"
	"github.com/storefront-go/storefront/services/catalogue/internal/server"
)

// fieldViolations lists the fields named in err's BadRequest detail.
func fieldViolations(err error) []string {
	var out []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, v.GetField())
			}
		}
	}
	return out
}

func TestProductRPCs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.start(nil)
	ctx := t.Context()

	lamp := e.createProduct(in, &cataloguev1.CreateProductRequest{
		Sku:         "LAMP-1",
		Name:        "Brass lamp",
		Description: "Warm light for a desk.",
		CategoryId:  "home-office",
		Price:       &cataloguev1.Money{AmountMinor: 4999, CurrencyCode: "EUR"},
		StockQty:    7,
		ImageUrls:   []string{"https://img.example.com/lamp.png"},
	})
	if lamp.GetId() == "" || lamp.GetCreatedAt() == nil || lamp.GetStockQty() != 7 {
		t.Fatalf("created product = %v", lamp)
	}
	chair := e.createProduct(in, product("Chair", 2))

	t.Run("create", func(t *testing.T) {
		tests := []struct {
			name       string
			req        *cataloguev1.CreateProductRequest
			opts       []grpc.CallOption
			wantCode   codes.Code
			wantFields []string
		}{
			{name: "duplicate sku", req: func() *cataloguev1.CreateProductRequest {
				r := product("Other lamp", 1)
				r.Sku = "LAMP-1"
				return r
			}(), opts: []grpc.CallOption{e.admin()}, wantCode: codes.AlreadyExists},
			{name: "invalid fields", req: &cataloguev1.CreateProductRequest{Sku: "bad sku", Price: &cataloguev1.Money{CurrencyCode: "EUR"}, CategoryId: "x"},
				opts: []grpc.CallOption{e.admin()}, wantCode: codes.InvalidArgument, wantFields: []string{"name", "sku"}},
			{name: "negative price", req: func() *cataloguev1.CreateProductRequest {
				r := product("Cheap", 1)
				r.Price.AmountMinor = -5
				return r
			}(), opts: []grpc.CallOption{e.admin()}, wantCode: codes.InvalidArgument, wantFields: []string{"price.amount_minor"}},
			{name: "script image url", req: func() *cataloguev1.CreateProductRequest {
				r := product("Sneaky", 1)
				r.ImageUrls = []string{"javascript:alert(1)"}
				return r
			}(), opts: []grpc.CallOption{e.admin()}, wantCode: codes.InvalidArgument, wantFields: []string{"image_urls[0]"}},
			{name: "plain http image url", req: func() *cataloguev1.CreateProductRequest {
				r := product("Insecure", 1)
				r.ImageUrls = []string{"http://img.example.com/lamp.png"}
				return r
			}(), opts: []grpc.CallOption{e.admin()}, wantCode: codes.InvalidArgument, wantFields: []string{"image_urls"}},
			{name: "no token", req: product("Anon", 1), wantCode: codes.Unauthenticated},
			{name: "service role", req: product("Svc", 1), opts: []grpc.CallOption{e.service()}, wantCode: codes.PermissionDenied},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := in.client.CreateProduct(ctx, tt.req, tt.opts...)
				if code(err) != tt.wantCode {
					t.Fatalf("code = %v (%v), want %v", code(err), err, tt.wantCode)
				}
				if tt.wantFields != nil {
					if diff := cmp.Diff(tt.wantFields, fieldViolations(err), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
						t.Errorf("field violations (-want +got):\n%s", diff)
					}
				}
			})
		}
	})

	t.Run("get", func(t *testing.T) {
		resp, err := in.client.GetProduct(ctx, &cataloguev1.GetProductRequest{ProductId: lamp.GetId()})
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if diff := cmp.Diff(lamp, resp.GetProduct(), protocmp.Transform()); diff != "" {
			t.Errorf("product (-created +got):\n%s", diff)
		}
		for _, tt := range []struct {
			id   string
			want codes.Code
		}{
			{id: "0193a3c4-0000-7000-8000-000000000000", want: codes.NotFound},
			{id: "not-a-uuid", want: codes.InvalidArgument},
		} {
			if _, err := in.client.GetProduct(ctx, &cataloguev1.GetProductRequest{ProductId: tt.id}); code(err) != tt.want {
				t.Errorf("get %s: code = %v, want %v", tt.id, code(err), tt.want)
			}
		}
	})

	t.Run("batch get", func(t *testing.T) {
		missing := "0193a3c4-0000-7000-8000-000000000000"
		resp, err := in.client.BatchGetProducts(ctx, &cataloguev1.BatchGetProductsRequest{ProductIds: []string{chair.GetId(), missing, lamp.GetId()}})
		if err != nil {
			t.Fatalf("batch get: %v", err)
		}
		var got []string
		for _, p := range resp.GetProducts() {
			got = append(got, p.GetId())
		}
		if diff := cmp.Diff([]string{chair.GetId(), lamp.GetId()}, got); diff != "" {
			t.Errorf("found ids (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{missing}, resp.GetNotFoundIds()); diff != "" {
			t.Errorf("not found ids (-want +got):\n%s", diff)
		}
		if _, err := in.client.BatchGetProducts(ctx, &cataloguev1.BatchGetProductsRequest{}); code(err) != codes.InvalidArgument {
			t.Errorf("empty batch: code = %v, want InvalidArgument", code(err))
		}
	})

	t.Run("update", func(t *testing.T) {
		req := &cataloguev1.UpdateProductRequest{
			Product:    &cataloguev1.Product{Id: lamp.GetId(), Name: "Copper lamp", CategoryId: "lighting", StockQty: 999},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name", "category_id"}},
		}
		resp, err := in.client.UpdateProduct(ctx, req, e.admin())
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		want, _ := proto.Clone(lamp).(*cataloguev1.Product)
		want.Name, want.CategoryId = "Copper lamp", "lighting"
		if diff := cmp.Diff(want, resp.GetProduct(), protocmp.Transform(), protocmp.IgnoreFields(&cataloguev1.Product{}, "updated_at")); diff != "" {
			t.Errorf("updated product (-want +got):\n%s", diff)
		}
		got, err := in.client.GetProduct(ctx, &cataloguev1.GetProductRequest{ProductId: lamp.GetId()})
		if err != nil || got.GetProduct().GetName() != "Copper lamp" {
			t.Errorf("get after update = %v, %v; want the new name", got.GetProduct(), err)
		}

		tests := []struct {
			name       string
			product    *cataloguev1.Product
			paths      []string
			opts       []grpc.CallOption
			wantCode   codes.Code
			wantFields []string
		}{
			{name: "unknown product", product: &cataloguev1.Product{Id: "0193a3c4-0000-7000-8000-000000000000", Name: "x"}, paths: []string{"name"},
				opts: []grpc.CallOption{e.admin()}, wantCode: codes.NotFound},
			{name: "invalid value", product: &cataloguev1.Product{Id: lamp.GetId(), Name: ""}, paths: []string{"name"},
				opts: []grpc.CallOption{e.admin()}, wantCode: codes.InvalidArgument, wantFields: []string{"product.name"}},
			{name: "field not updatable", product: &cataloguev1.Product{Id: lamp.GetId()}, paths: []string{"stock_qty"},
				opts: []grpc.CallOption{e.admin()}, wantCode: codes.InvalidArgument},
			{name: "empty mask", product: &cataloguev1.Product{Id: lamp.GetId()}, paths: []string{},
				opts: []grpc.CallOption{e.admin()}, wantCode: codes.InvalidArgument, wantFields: []string{"update_mask"}},
			{name: "sku taken", product: &cataloguev1.Product{Id: chair.GetId(), Sku: "LAMP-1"}, paths: []string{"sku"},
				opts: []grpc.CallOption{e.admin()}, wantCode: codes.AlreadyExists},
			{name: "no token", product: &cataloguev1.Product{Id: lamp.GetId(), Name: "x"}, paths: []string{"name"}, wantCode: codes.Unauthenticated},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := in.client.UpdateProduct(ctx, &cataloguev1.UpdateProductRequest{
					Product: tt.product, UpdateMask: &fieldmaskpb.FieldMask{Paths: tt.paths},
				}, tt.opts...)
				if code(err) != tt.wantCode {
					t.Fatalf("code = %v (%v), want %v", code(err), err, tt.wantCode)
				}
				if tt.wantFields != nil {
					if diff := cmp.Diff(tt.wantFields, fieldViolations(err)); diff != "" {
						t.Errorf("field violations (-want +got):\n%s", diff)
					}
				}
			})
		}
	})

	t.Run("categories", func(t *testing.T) {
		resp, err := in.client.ListCategories(ctx, &cataloguev1.ListCategoriesRequest{})
		if err != nil {
			t.Fatalf("list categories: %v", err)
		}
		want := []*cataloguev1.Category{{Id: "general", Name: "General"}, {Id: "home-office", Name: "Home Office"}, {Id: "lighting", Name: "Lighting"}}
		if diff := cmp.Diff(want, resp.GetCategories(), protocmp.Transform()); diff != "" {
			t.Errorf("categories (-want +got):\n%s", diff)
		}
	})

	t.Run("adjust stock", func(t *testing.T) {
		resp, err := in.client.AdjustStock(ctx, &cataloguev1.AdjustStockRequest{ProductId: chair.GetId(), Delta: 5, Reason: "restock"}, e.admin())
		if err != nil {
			t.Fatalf("adjust: %v", err)
		}
		if resp.GetProduct().GetStockQty() != 7 {
			t.Errorf("stock after +5 = %d, want 7", resp.GetProduct().GetStockQty())
		}
		tests := []struct {
			name string
			req  *cataloguev1.AdjustStockRequest
			opts []grpc.CallOption
			want codes.Code
		}{
			{name: "below zero", req: &cataloguev1.AdjustStockRequest{ProductId: chair.GetId(), Delta: -8}, opts: []grpc.CallOption{e.admin()}, want: codes.FailedPrecondition},
			{name: "zero delta", req: &cataloguev1.AdjustStockRequest{ProductId: chair.GetId()}, opts: []grpc.CallOption{e.admin()}, want: codes.InvalidArgument},
			{name: "unknown product", req: &cataloguev1.AdjustStockRequest{ProductId: "0193a3c4-0000-7000-8000-000000000000", Delta: 1}, opts: []grpc.CallOption{e.admin()}, want: codes.NotFound},
			{name: "service role", req: &cataloguev1.AdjustStockRequest{ProductId: chair.GetId(), Delta: 1}, opts: []grpc.CallOption{e.service()}, want: codes.PermissionDenied},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := in.client.AdjustStock(ctx, tt.req, tt.opts...); code(err) != tt.want {
					t.Errorf("code = %v (%v), want %v", code(err), err, tt.want)
				}
			})
		}
		if got := e.stockOf(chair.GetId()); got != 7 {
			t.Errorf("stock after failed adjustments = %d, want 7", got)
		}
	})

	t.Run("list bad token", func(t *testing.T) {
		stream, err := in.client.ListProducts(ctx, &cataloguev1.ListProductsRequest{PageToken: "garbage"})
		if err == nil {
			_, err = stream.Recv()
		}
		if code(err) != codes.InvalidArgument {
			t.Fatalf("code = %v (%v), want InvalidArgument", code(err), err)
		}
		if diff := cmp.Diff([]string{"page_token"}, fieldViolations(err)); diff != "" {
			t.Errorf("field violations (-want +got):\n%s", diff)
		}
	})

	t.Run("connect json over http", func(t *testing.T) {
		body, _ := json.Marshal(map[string]string{"productId": chair.GetId()})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost,
			"http://"+in.srv.HTTPAddr()+"/catalogue.v1.CatalogueService/GetProduct", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("new request: %v", err)
		}
		req.Header.Set("Content-Type", "application/json")
		// Without it vanguard treats a JSON POST as REST transcoding.
		req.Header.Set("Connect-Protocol-Version", "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("post: %v", err)
		}
		defer func() { _ = resp.Body.Close() }()
		data, _ := io.ReadAll(resp.Body)
		var got struct {
			Product struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"product"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(data, &got) != nil || got.Product.ID != chair.GetId() {
			t.Errorf("Connect GetProduct = %s %s; want the chair", resp.Status, data)
		}
	})

	t.Run("delete", func(t *testing.T) {
		if _, err := in.client.DeleteProduct(ctx, &cataloguev1.DeleteProductRequest{ProductId: chair.GetId()}); code(err) != codes.Unauthenticated {
			t.Errorf("delete without token: code = %v, want Unauthenticated", code(err))
		}
		if _, err := in.client.DeleteProduct(ctx, &cataloguev1.DeleteProductRequest{ProductId: chair.GetId()}, e.admin()); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if _, err := in.client.GetProduct(ctx, &cataloguev1.GetProductRequest{ProductId: chair.GetId()}); code(err) != codes.NotFound {
			t.Errorf("get after delete: code = %v, want NotFound", code(err))
		}
		if _, err := in.client.DeleteProduct(ctx, &cataloguev1.DeleteProductRequest{ProductId: chair.GetId()}, e.admin()); code(err) != codes.NotFound {
			t.Errorf("second delete: code = %v, want NotFound", code(err))
		}
	})

	t.Run("events through the outbox", func(t *testing.T) {
		// Each successful write stored its event in the same transaction,
		// and the relay published them all.
		want := map[string]int{
			"catalogue.product.created": 2,
			"catalogue.product.updated": 1,
			"catalogue.stock.changed":   1,
			"catalogue.product.deleted": 1,
		}
		eventually(t, "the outbox to drain", func() bool {
			var pending int
			err := e.pool().QueryRow(ctx, `SELECT count(*) FROM outbox_events WHERE published_at IS NULL`).Scan(&pending)
			return err == nil && pending == 0
		})
		rows, err := e.pool().Query(ctx, `SELECT subject, count(*) FROM outbox_events GROUP BY subject`)
		if err != nil {
			t.Fatalf("query outbox: %v", err)
		}
		got := map[string]int{}
		for rows.Next() {
			var (
				subject string
				n       int
			)
			if err := rows.Scan(&subject, &n); err != nil {
				t.Fatalf("scan: %v", err)
			}
			got[subject] = n
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("rows: %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("events by subject (-want +got):\n%s", diff)
		}
	})
}

func TestMigrateIsRepeatable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := libpg.Config{URL: e.dsn, MaxConns: 2}
	for i := range 2 {
		if err := service.Migrate(t.Context(), cfg, server.Spec().Migrate); err != nil {
			t.Fatalf("migrate #%d: %v", i+1, err)
		}
	}
	var tables int
	err := e.pool().QueryRow(t.Context(), `
		SELECT count(*) FROM information_schema.tables
		WHERE table_name IN ('products', 'categories', 'reservations', 'reservation_items', 'outbox_events', 'consumer_inbox')`).Scan(&tables)
	if err != nil || tables != 6 {
		t.Errorf("tables = %d, %v; want 6", tables, err)
	}
}
