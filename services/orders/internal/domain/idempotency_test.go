package domain_test

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/google/uuid"

	"github.com/storefront-go/storefront/services/orders/internal/domain"
)

const (
	prodA = "0190a0e8-0000-7000-8000-00000000000a"
	prodB = "0190a0e8-0000-7000-8000-00000000000b"
	prodC = "0190a0e8-0000-7000-8000-00000000000c"
)

// hashOf runs a request through the same steps as PlaceOrder.
func hashOf(t *testing.T, key, customer string, items ...domain.Item) []byte {
	t.Helper()
	norm, err := domain.NormalizeItems(items)
	if err != nil {
		t.Fatalf("NormalizeItems: %v", err)
	}
	return domain.RequestHash(key, customer, norm)
}

func item(id string, qty int32) domain.Item {
	return domain.Item{ProductID: uuid.MustParse(id), Quantity: qty}
}

func TestRequestHashIgnoresItemOrderAndIDCase(t *testing.T) {
	t.Parallel()
	base := hashOf(t, "key-00001", "cust", item(prodA, 1), item(prodB, 2), item(prodC, 3))
	if len(base) != 32 {
		t.Fatalf("hash has %d bytes, want 32 (SHA-256)", len(base))
	}
	same := map[string][]byte{
		"reversed":      hashOf(t, "key-00001", "cust", item(prodC, 3), item(prodB, 2), item(prodA, 1)),
		"shuffled":      hashOf(t, "key-00001", "cust", item(prodB, 2), item(prodA, 1), item(prodC, 3)),
		"upper-case id": hashOf(t, "key-00001", "cust", item(prodA, 1), item("0190A0E8-0000-7000-8000-00000000000B", 2), item(prodC, 3)),
		"repeated call": hashOf(t, "key-00001", "cust", item(prodA, 1), item(prodB, 2), item(prodC, 3)),
	}
	for name, h := range same {
		if !bytes.Equal(base, h) {
			t.Errorf("%s: hash %x differs from %x", name, h, base)
		}
	}
	different := map[string][]byte{
		"other quantity": hashOf(t, "key-00001", "cust", item(prodA, 1), item(prodB, 2), item(prodC, 4)),
		"missing item":   hashOf(t, "key-00001", "cust", item(prodA, 1), item(prodB, 2)),
		"other product":  hashOf(t, "key-00001", "cust", item(prodA, 1), item(prodB, 2), item("0190a0e8-0000-7000-8000-00000000000d", 3)),
		"other customer": hashOf(t, "key-00001", "cust2", item(prodA, 1), item(prodB, 2), item(prodC, 3)),
		"other key":      hashOf(t, "key-00002", "cust", item(prodA, 1), item(prodB, 2), item(prodC, 3)),
		// Without lengths in front, "key-0000"+"1cust" would encode like
		// "key-00001"+"cust".
		"key and customer split elsewhere": hashOf(t, "key-0000", "1cust", item(prodA, 1), item(prodB, 2), item(prodC, 3)),
	}
	for name, h := range different {
		if bytes.Equal(base, h) {
			t.Errorf("%s: hash equals the base request's", name)
		}
	}
}

// The hash is pinned: keys outlive a deploy, so a new binary must hash an
// old request exactly as the one that stored it did. If this test fails,
// the encoding changed: bump requestHashVersion and say so in the release
// notes, since keys claimed before the deploy will no longer match.
func TestRequestHashIsStableAcrossReleases(t *testing.T) {
	t.Parallel()
	got := hex.EncodeToString(hashOf(t, "key-00001", "cust", item(prodA, 1), item(prodB, 2)))
	const want = "788ad322672370cc58340068394f193e706efa092b4b3c38f1919a68f5e3fd03"
	if got != want {
		t.Errorf("RequestHash = %s, want %s", got, want)
	}
}
