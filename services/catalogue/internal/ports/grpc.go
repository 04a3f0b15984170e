// Package ports serves catalogue.v1.CatalogueService over gRPC and handles
// the orders' events the catalogue consumes. Handlers convert messages, call
// the use cases (an event handler calls the store, inside the consumer's
// transaction) and return their errors as they are, for
// interceptor.UnaryErrors to map to status codes, or, for events, map them
// to acknowledge, retry or dead-letter; requests arrive already checked
// against the contract's rules.
package ports

import (
	"context"
	"math"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	"github.com/storefront-go/storefront/services/catalogue/internal/app"
	"github.com/storefront-go/storefront/services/catalogue/internal/contract"
	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

// Handler implements cataloguev1.CatalogueServiceServer.
type Handler struct {
	cataloguev1.UnimplementedCatalogueServiceServer
	app *app.Service
}

var _ cataloguev1.CatalogueServiceServer = (*Handler)(nil)

// NewHandler returns a handler over the use cases. It logs nothing: the
// logging and errors interceptors do.
func NewHandler(a *app.Service) *Handler {
	return &Handler{app: a}
}

// GetProduct returns one product, from the read cache when possible.
func (h *Handler) GetProduct(ctx context.Context, req *cataloguev1.GetProductRequest) (*cataloguev1.GetProductResponse, error) {
	id, err := contract.ParseID("product_id", req.GetProductId())
	if err != nil {
		return nil, err
	}
	p, err := h.app.GetProduct(ctx, id)
	if err != nil {
		return nil, err
	}
	return &cataloguev1.GetProductResponse{Product: contract.Product(p)}, nil
}

// BatchGetProducts returns the products found and lists the ids that aren't.
func (h *Handler) BatchGetProducts(ctx context.Context, req *cataloguev1.BatchGetProductsRequest) (*cataloguev1.BatchGetProductsResponse, error) {
	ids, err := contract.ParseIDs("product_ids", req.GetProductIds())
	if err != nil {
		return nil, err
	}
	found, missing, err := h.app.BatchGetProducts(ctx, ids)
	if err != nil {
		return nil, err
	}
	resp := &cataloguev1.BatchGetProductsResponse{Products: contract.Products(found)}
	for _, id := range missing {
		resp.NotFoundIds = append(resp.NotFoundIds, id.String())
	}
	return resp, nil
}

// ListProducts streams the catalogue a page per message.
func (h *Handler) ListProducts(req *cataloguev1.ListProductsRequest, stream grpc.ServerStreamingServer[cataloguev1.ListProductsResponse]) error {
	return h.app.ListProducts(stream.Context(), app.ListRequest{
		PageSize:   int(req.GetPageSize()),
		PageToken:  req.GetPageToken(),
		CategoryID: req.GetCategoryId(),
	}, func(page []domain.Product, next string) error {
		return stream.Send(&cataloguev1.ListProductsResponse{Products: contract.Products(page), NextPageToken: next})
	})
}

// SearchProducts returns one page of a full-text search.
func (h *Handler) SearchProducts(ctx context.Context, req *cataloguev1.SearchProductsRequest) (*cataloguev1.SearchProductsResponse, error) {
	res, err := h.app.SearchProducts(ctx, app.SearchRequest{
		Filter: domain.SearchFilter{
			Query:      searchText(req.GetQuery()),
			CategoryID: req.GetCategoryId(),
			MinPrice:   req.MinPriceMinor,
			MaxPrice:   req.MaxPriceMinor,
		},
		Options: domain.SearchOptions{
			Sort:           searchSort(req.GetSort()),
			Facets:         req.GetIncludeFacets(),
			PriceBandEdges: req.GetPriceBandEdgesMinor(),
		},
		PageSize:  int(req.GetPageSize()),
		PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, err
	}
	return &cataloguev1.SearchProductsResponse{
		Products:      contract.Products(res.Products),
		NextPageToken: res.NextPageToken,
		TotalSize:     clampInt32(res.Total),
		Facets:        searchFacets(res.Facets),
	}, nil
}

// searchText keeps a query as typed, since a trailing space says the last
// word is finished, but treats a blank one as no query.
func searchText(q string) string {
	if strings.TrimSpace(q) == "" {
		return ""
	}
	return q
}

func searchSort(s cataloguev1.SearchSort) domain.SearchSort {
	switch s {
	case cataloguev1.SearchSort_SEARCH_SORT_PRICE_ASC:
		return domain.SortPriceAsc
	case cataloguev1.SearchSort_SEARCH_SORT_PRICE_DESC:
		return domain.SortPriceDesc
	case cataloguev1.SearchSort_SEARCH_SORT_NEWEST:
		return domain.SortNewest
	default:
		return domain.SortRelevance
	}
}

func searchFacets(f *domain.SearchFacets) *cataloguev1.SearchFacets {
	if f == nil {
		return nil
	}
	out := &cataloguev1.SearchFacets{}
	for _, c := range f.Categories {
		out.Categories = append(out.Categories, &cataloguev1.CategoryCount{CategoryId: c.CategoryID, Count: clampInt32(c.Count)})
	}
	for _, b := range f.PriceBands {
		out.PriceBands = append(out.PriceBands, &cataloguev1.PriceBandCount{MinMinor: b.Min, MaxMinor: b.Max, Count: clampInt32(b.Count)})
	}
	return out
}

// suggestCacheControl lets browsers and shared caches keep a suggestion
// list briefly: a new product shows up in suggestions within a minute.
const suggestCacheControl = "public, max-age=60"

// SuggestProducts returns product names for what has been typed so far.
func (h *Handler) SuggestProducts(ctx context.Context, req *cataloguev1.SuggestProductsRequest) (*cataloguev1.SuggestProductsResponse, error) {
	sgs, err := h.app.SuggestProducts(ctx, req.GetPrefix(), req.GetCategoryId(), int(req.GetLimit()))
	if err != nil {
		return nil, err
	}
	// Over Connect this becomes the HTTP Cache-Control header.
	_ = grpc.SetHeader(ctx, metadata.Pairs("cache-control", suggestCacheControl))
	out := &cataloguev1.SuggestProductsResponse{Suggestions: make([]*cataloguev1.Suggestion, len(sgs))}
	for i, sg := range sgs {
		out.Suggestions[i] = &cataloguev1.Suggestion{ProductId: sg.ProductID.String(), Name: sg.Name}
	}
	return out, nil
}

// CreateProduct adds a product.
func (h *Handler) CreateProduct(ctx context.Context, req *cataloguev1.CreateProductRequest) (*cataloguev1.CreateProductResponse, error) {
	p, err := h.app.CreateProduct(ctx, contract.NewProduct(req))
	if err != nil {
		return nil, err
	}
	return &cataloguev1.CreateProductResponse{Product: contract.Product(p)}, nil
}

// UpdateProduct changes the fields named in update_mask.
func (h *Handler) UpdateProduct(ctx context.Context, req *cataloguev1.UpdateProductRequest) (*cataloguev1.UpdateProductResponse, error) {
	id, err := contract.ParseID("product.id", req.GetProduct().GetId())
	if err != nil {
		return nil, err
	}
	p, err := h.app.UpdateProduct(ctx, id, req.GetUpdateMask().GetPaths(), contract.Fields(req.GetProduct()))
	if err != nil {
		return nil, err
	}
	return &cataloguev1.UpdateProductResponse{Product: contract.Product(p)}, nil
}

// DeleteProduct removes a product.
func (h *Handler) DeleteProduct(ctx context.Context, req *cataloguev1.DeleteProductRequest) (*cataloguev1.DeleteProductResponse, error) {
	id, err := contract.ParseID("product_id", req.GetProductId())
	if err != nil {
		return nil, err
	}
	if err := h.app.DeleteProduct(ctx, id); err != nil {
		return nil, err
	}
	return &cataloguev1.DeleteProductResponse{}, nil
}

// ListCategories returns every category.
func (h *Handler) ListCategories(ctx context.Context, _ *cataloguev1.ListCategoriesRequest) (*cataloguev1.ListCategoriesResponse, error) {
	cs, err := h.app.ListCategories(ctx)
	if err != nil {
		return nil, err
	}
	resp := &cataloguev1.ListCategoriesResponse{Categories: make([]*cataloguev1.Category, len(cs))}
	for i, c := range cs {
		resp.Categories[i] = contract.Category(c)
	}
	return resp, nil
}

// AdjustStock changes a product's stock by a signed delta.
func (h *Handler) AdjustStock(ctx context.Context, req *cataloguev1.AdjustStockRequest) (*cataloguev1.AdjustStockResponse, error) {
	id, err := contract.ParseID("product_id", req.GetProductId())
	if err != nil {
		return nil, err
	}
	p, err := h.app.AdjustStock(ctx, id, req.GetDelta(), req.GetReason())
	if err != nil {
		return nil, err
	}
	return &cataloguev1.AdjustStockResponse{Product: contract.Product(p)}, nil
}

// ReserveStock reserves every item or none, idempotently per reservation id.
func (h *Handler) ReserveStock(ctx context.Context, req *cataloguev1.ReserveStockRequest) (*cataloguev1.ReserveStockResponse, error) {
	id, err := contract.ParseID("reservation_id", req.GetReservationId())
	if err != nil {
		return nil, err
	}
	items, err := contract.ReservationItems(req.GetItems())
	if err != nil {
		return nil, err
	}
	r, err := h.app.ReserveStock(ctx, id, items)
	if err != nil {
		return nil, err
	}
	return &cataloguev1.ReserveStockResponse{Reservation: contract.Reservation(r)}, nil
}

// ConfirmReservation hands a reservation to the order placed with it,
// idempotently.
func (h *Handler) ConfirmReservation(ctx context.Context, req *cataloguev1.ConfirmReservationRequest) (*cataloguev1.ConfirmReservationResponse, error) {
	id, err := contract.ParseID("reservation_id", req.GetReservationId())
	if err != nil {
		return nil, err
	}
	r, err := h.app.ConfirmReservation(ctx, id)
	if err != nil {
		return nil, err
	}
	return &cataloguev1.ConfirmReservationResponse{Reservation: contract.Reservation(r)}, nil
}

// ReleaseStock gives a reservation's stock back, exactly once.
func (h *Handler) ReleaseStock(ctx context.Context, req *cataloguev1.ReleaseStockRequest) (*cataloguev1.ReleaseStockResponse, error) {
	id, err := contract.ParseID("reservation_id", req.GetReservationId())
	if err != nil {
		return nil, err
	}
	r, err := h.app.ReleaseStock(ctx, id)
	if err != nil {
		return nil, err
	}
	return &cataloguev1.ReleaseStockResponse{Reservation: contract.Reservation(r)}, nil
}

// WatchAvailability sends the current stock of each product, then every
// change, until the caller leaves, falls behind or the server shuts down.
func (h *Handler) WatchAvailability(req *cataloguev1.WatchAvailabilityRequest, stream grpc.ServerStreamingServer[cataloguev1.WatchAvailabilityResponse]) error {
	ctx := stream.Context()
	ids, err := contract.ParseIDs("product_ids", req.GetProductIds())
	if err != nil {
		return err
	}
	w, snapshot, err := h.app.WatchAvailability(ctx, ids)
	if err != nil {
		return err
	}
	defer w.Close()
	for _, a := range snapshot {
		msg := &cataloguev1.WatchAvailabilityResponse{ProductId: a.ProductID.String(), Available: a.Available, ObservedAt: timestamppb.New(a.At)}
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
	for {
		c, err := w.Next(ctx)
		if err != nil {
			return err
		}
		msg := &cataloguev1.WatchAvailabilityResponse{ProductId: c.ProductID.String(), Available: c.Available, ObservedAt: timestamppb.New(c.At)}
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
}

// clampInt32 saturates n to the int32 range of total_size.
func clampInt32(n int) int32 {
	if n > math.MaxInt32 {
		return math.MaxInt32
	}
	if n < 0 {
		return 0
	}
	return int32(n)
}
