package domain

import (
	"crypto/sha256"
	"encoding/binary"
)

// requestHashVersion starts every encoded request. Change it whenever the
// encoding below changes, so that a key claimed under the old encoding is
// never compared by accident with a hash of the new one.
const requestHashVersion = "storefront/orders/place-order-request/v1"

// RequestHash is the SHA-256 of the canonical form of a PlaceOrder
// request: the idempotency key, the customer the order is for (filled in
// from the token when the request left it empty) and the items, which must
// already be normalised (NormalizeItems sorts them by product id).
//
// The encoding is written out here, byte by byte, rather than borrowed from
// a serialiser whose output may change between releases: keys live for a
// day, across deploys, and the same request must hash the same in every
// binary. After the version string come the key and the customer, each as
// a 4-byte big-endian length and its bytes, then a 4-byte item count and,
// per item, the product id's 16 bytes and the quantity as 4 bytes.
func RequestHash(key, customerID string, items []Item) []byte {
	h := sha256.New()
	buf := make([]byte, 0, len(requestHashVersion)+8+len(key)+len(customerID)+4+20*len(items))
	buf = append(buf, requestHashVersion...)
	buf = appendString(buf, key)
	buf = appendString(buf, customerID)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(items))) //nolint:gosec // at most MaxItems
	for _, it := range items {
		buf = append(buf, it.ProductID[:]...)
		buf = binary.BigEndian.AppendUint32(buf, uint32(it.Quantity)) //nolint:gosec // NormalizeItems keeps it in 1..MaxQuantity
	}
	_, _ = h.Write(buf) // a hash.Hash never fails to write
	return h.Sum(nil)
}

// appendString appends s with its length in front, so that no two
// (key, customer) pairs encode alike.
func appendString(buf []byte, s string) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(s))) //nolint:gosec // bounded by the request size limit
	return append(buf, s...)
}
