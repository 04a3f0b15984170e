package server_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
)

type availability struct {
	ID        string
	Available int64
}

func TestWatchAvailabilityAcrossReplicas(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.start(nil), e.start(nil)
	p := e.createProduct(a, product("Watched", 5)).GetId()
	q := e.createProduct(a, product("Also watched", 1)).GetId()

	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	stream, err := b.client.WatchAvailability(ctx, &cataloguev1.WatchAvailabilityRequest{ProductIds: []string{q, p}})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	recv := func() availability {
		t.Helper()
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		if msg.GetObservedAt() == nil {
			t.Errorf("message %v has no observed_at", msg)
		}
		return availability{msg.GetProductId(), msg.GetAvailable()}
	}
	snapshot := []availability{recv(), recv()}
	if diff := cmp.Diff([]availability{{q, 1}, {p, 5}}, snapshot); diff != "" {
		t.Errorf("snapshot (-want +got):\n%s", diff)
	}

	// Changes made through replica A reach the watcher on replica B.
	if _, err := a.client.AdjustStock(t.Context(), &cataloguev1.AdjustStockRequest{ProductId: p, Delta: 3}, e.admin()); err != nil {
		t.Fatalf("adjust via A: %v", err)
	}
	if got := recv(); got != (availability{p, 8}) {
		t.Errorf("after adjusting = %v, want %v", got, availability{p, 8})
	}
	reservation := uuid.NewString()
	if _, err := a.client.ReserveStock(t.Context(), &cataloguev1.ReserveStockRequest{
		ReservationId: reservation, Items: items(item(q, 1), item(p, 2)),
	}, e.service()); err != nil {
		t.Fatalf("reserve via A: %v", err)
	}
	got := map[string]int64{}
	for range 2 {
		c := recv()
		got[c.ID] = c.Available
	}
	if diff := cmp.Diff(map[string]int64{p: 6, q: 0}, got); diff != "" {
		t.Errorf("after reserving (-want +got):\n%s", diff)
	}

	t.Run("unknown product", func(t *testing.T) {
		s, err := b.client.WatchAvailability(ctx, &cataloguev1.WatchAvailabilityRequest{ProductIds: []string{p, uuid.NewString()}})
		if err == nil {
			_, err = s.Recv()
		}
		if code(err) != codes.NotFound {
			t.Errorf("code = %v (%v), want NotFound", code(err), err)
		}
	})

	// Shutting B down ends the stream promptly with UNAVAILABLE rather
	// than holding up the graceful stop.
	b.stop()
	_, err = stream.Recv()
	if code(err) != codes.Unavailable {
		t.Errorf("after shutdown: code = %v (%v), want Unavailable", code(err), err)
	}
}

func TestCacheCoherentAcrossReplicas(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.start(nil), e.start(nil)
	ctx := t.Context()
	id := e.createProduct(a, product("Cached", 4)).GetId()
	get := func() (*cataloguev1.Product, error) {
		resp, err := b.client.GetProduct(ctx, &cataloguev1.GetProductRequest{ProductId: id})
		return resp.GetProduct(), err
	}
	for range 2 {
		if _, err := get(); err != nil {
			t.Fatalf("get via B: %v", err)
		}
	}
	if hits := metric(t, b, "storefront_catalogue_cache_hits_total"); hits < 1 {
		t.Errorf("cache hits on B = %v, want at least 1", hits)
	}

	if _, err := a.client.UpdateProduct(ctx, &cataloguev1.UpdateProductRequest{
		Product:    &cataloguev1.Product{Id: id, Name: "Renamed"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name"}},
	}, e.admin()); err != nil {
		t.Fatalf("update via A: %v", err)
	}
	eventually(t, "B to see the new name", func() bool {
		p, err := get()
		return err == nil && p.GetName() == "Renamed"
	})

	if _, err := a.client.ReserveStock(ctx, &cataloguev1.ReserveStockRequest{
		ReservationId: uuid.NewString(), Items: items(item(id, 3)),
	}, e.service()); err != nil {
		t.Fatalf("reserve via A: %v", err)
	}
	eventually(t, "B to see the reserved stock", func() bool {
		p, err := get()
		return err == nil && p.GetStockQty() == 1
	})

	if _, err := a.client.DeleteProduct(ctx, &cataloguev1.DeleteProductRequest{ProductId: id}, e.admin()); err != nil {
		t.Fatalf("delete via A: %v", err)
	}
	eventually(t, "B to see the deletion", func() bool {
		_, err := get()
		return code(err) == codes.NotFound
	})
}

// metric reads one unlabelled sample from an instance's /metrics.
func metric(t *testing.T, in *instance, name string) float64 {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+in.srv.AdminAddr()+"/metrics", nil)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("get metrics: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read metrics: %v", err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("metric %s not exposed", name)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return v
}
