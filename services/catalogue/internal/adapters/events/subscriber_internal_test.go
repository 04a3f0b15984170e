package events

import (
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	"github.com/storefront-go/storefront/services/catalogue/internal/contract"
	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

type recorder struct {
	invalidated []uuid.UUID
	purged      int
	published   []domain.StockChange
}

func (r *recorder) Invalidate(id uuid.UUID)      { r.invalidated = append(r.invalidated, id) }
func (r *recorder) Purge()                       { r.purged++ }
func (r *recorder) Publish(c domain.StockChange) { r.published = append(r.published, c) }

func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	data, err := proto.Marshal(m)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return data
}

func TestApply(t *testing.T) {
	t.Parallel()
	pid := uuid.MustParse("0193a3c4-0000-7000-8000-000000000001")
	rid := uuid.MustParse("0193a3c4-0000-7000-8000-0000000000ff")
	at := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	tests := []struct {
		name            string
		subject         string
		data            []byte
		wantErr         bool
		wantInvalidated []uuid.UUID
		wantPublished   []domain.StockChange
	}{
		{
			name:    "stock changed",
			subject: contract.SubjectStockChanged,
			data: marshal(t, &cataloguev1.StockChanged{
				ProductId: pid.String(), Available: 4, Delta: -1, Reason: "reserve", ReservationId: rid.String(), OccurredAt: timestamppb.New(at),
			}),
			wantInvalidated: []uuid.UUID{pid},
			wantPublished: []domain.StockChange{{
				ProductID: pid, Available: 4, Delta: -1, Reason: "reserve", ReservationID: rid, At: at,
			}},
		},
		{
			name:            "product updated",
			subject:         contract.SubjectProductUpdated,
			data:            marshal(t, &cataloguev1.ProductUpdated{Product: &cataloguev1.Product{Id: pid.String()}}),
			wantInvalidated: []uuid.UUID{pid},
		},
		{
			name:            "product deleted",
			subject:         contract.SubjectProductDeleted,
			data:            marshal(t, &cataloguev1.ProductDeleted{ProductId: pid.String()}),
			wantInvalidated: []uuid.UUID{pid},
		},
		{name: "garbage", subject: contract.SubjectStockChanged, data: []byte{0xff, 0xff}, wantErr: true},
		{name: "bad id", subject: contract.SubjectProductDeleted, data: marshal(t, &cataloguev1.ProductDeleted{ProductId: "x"}), wantErr: true},
		{name: "other subject", subject: contract.SubjectProductCreated, data: []byte{0xff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			h := handler{cache: rec, hub: rec, logger: slog.New(slog.DiscardHandler)}
			err := h.apply(tt.subject, tt.data)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantInvalidated, rec.invalidated); diff != "" {
				t.Errorf("invalidated (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantPublished, rec.published); diff != "" {
				t.Errorf("published (-want +got):\n%s", diff)
			}
		})
	}
}
