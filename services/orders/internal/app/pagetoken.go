package app

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/storefront-go/storefront/libs/apperr"
	"github.com/storefront-go/storefront/services/orders/internal/domain"
)

// pageToken is the decoded form of ListOrders' opaque page token. It names
// the customer it was issued for (AllCustomers for an admin's listing of
// everyone's orders), so a token cannot be replayed against another
// listing.
type pageToken struct {
	Customer  string    `json:"c"`
	CreatedAt int64     `json:"t"` // Unix microseconds
	ID        uuid.UUID `json:"i"`
}

// encodePageToken returns the token that resumes after o.
func encodePageToken(customerID string, o domain.Order) (string, error) {
	b, err := json.Marshal(pageToken{Customer: customerID, CreatedAt: o.CreatedAt.UnixMicro(), ID: o.ID})
	if err != nil {
		return "", fmt.Errorf("encode page token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// decodePageToken returns the cursor in token, which must have been issued
// for customerID. An empty token starts at the newest order.
func decodePageToken(token, customerID string) (*Cursor, error) {
	if token == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return nil, invalidPageToken()
	}
	var pt pageToken
	if err := json.Unmarshal(b, &pt); err != nil || pt.ID == uuid.Nil || pt.CreatedAt <= 0 {
		return nil, invalidPageToken()
	}
	if pt.Customer != customerID {
		return nil, apperr.Invalid("page_token", "was issued for another listing")
	}
	return &Cursor{CreatedAt: time.UnixMicro(pt.CreatedAt).UTC(), ID: pt.ID}, nil
}

func invalidPageToken() error {
	return apperr.Invalid("page_token", "is not a valid page token")
}
