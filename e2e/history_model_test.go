package e2e

import (
	"fmt"
	"hash/maphash"
	"maps"

	"github.com/anishathalye/porcupine"

	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
)

// The model scenario 14's history is checked against: one product, orders
// of one unit each, one customer.
//
// Visible stock is what GetProduct shows. Some changes to it are not
// pinned to one moment:
//
//   - a cancelled order's stock comes back when catalogue consumes
//     OrderCancelled, some time after CancelOrder returned;
//   - an operation without a settling answer (UNAVAILABLE, a deadline, a
//     killed peer) may have taken a unit, at any time after it was sent,
//     and may have given it back later (a failed attempt releases its
//     reservation, or the reservation expires), or kept it (the order was
//     committed after all).
//
// Enumerating those moments would make every history exponential. The
// model keeps them as counts instead, applied lazily: restores are units
// that may come back, doubts are units that may still be taken. A read of
// v applies just enough of them to explain v; a sold-out answer is a read
// of 0. This is an over-approximation, so the check never flags a history
// that some real interleaving explains, and it still catches what the
// interleavings cannot: stock that moves without a cause, a unit sold
// twice, a key answered with two orders, a cancellation undone.

type histKind uint8

const (
	opPlace histKind = iota
	opCancel
	opGetProduct
	opGetOrder
)

// histInput is one operation as sent.
type histInput struct {
	kind    histKind
	key     string // opPlace: the idempotency key
	orderID string // opCancel, opGetOrder
}

type outcome uint8

const (
	// outOK is a successful answer.
	outOK outcome = iota
	// outSoldOut is PlaceOrder's FAILED_PRECONDITION for lack of stock.
	outSoldOut
	// outUnknown is an answer that settles nothing: the call's effect may
	// happen or not, now or later. Such an operation is recorded as
	// returning right after it was sent; its effect stays open in the
	// state instead.
	outUnknown
	// outRefused is any other definite error: no correct history has one.
	outRefused
	// outNotAttempted is an error that says the call had no effect: it
	// never reached the server, or orders refused it before doing
	// anything. It is legal anywhere; the recorder leaves it out.
	outNotAttempted
)

// histOutput is one operation's answer.
type histOutput struct {
	outcome outcome
	code    string
	orderID string // opPlace
	stock   int64  // opGetProduct
	status  ordersv1.OrderStatus
}

type keyState uint8

const (
	keyFree   keyState = iota // never used, or every attempt failed definitely
	keyDoubt                  // an attempt's outcome is unknown
	keyPlaced                 // answered with an order
)

type keyEntry struct {
	state   keyState
	orderID string
}

type orderState uint8

const (
	orderConfirmed orderState = iota
	orderMaybeCancelled
	orderCancelled
)

// stockState is the model's state. Steps never modify one in place.
type stockState struct {
	// stock is the visible stock with no open change applied.
	stock int64
	// restores are units that may come back: cancelled orders and units
	// taken by operations of unknown outcome.
	restores int64
	// doubts are units that operations of unknown outcome may still take.
	doubts int64
	keys   map[string]keyEntry
	orders map[string]orderState
}

func newStockState(initial int64) stockState {
	return stockState{stock: initial, keys: map[string]keyEntry{}, orders: map[string]orderState{}}
}

// read reports whether GetProduct may show v, and the state after it.
// It applies the fewest open changes that explain v: taking doubts below
// stock, restores above it. Doubts taken become restores, since what they
// hold may still come back.
func (s stockState) read(v int64) (bool, stockState) {
	if v < s.stock-s.doubts || v > s.stock+s.restores {
		return false, s
	}
	taken := max(0, s.stock-v)
	s.restores += s.stock - v
	s.doubts -= taken
	s.stock = v
	return true, s
}

// take reports whether an order may have taken one unit, and the state
// after it: from the visible stock, or from a restore come back just in
// time.
func (s stockState) take() (bool, stockState) {
	switch {
	case s.stock > 0:
		s.stock--
	case s.restores > 0:
		s.restores--
	default:
		return false, s
	}
	return true, s
}

func (s stockState) withKey(key string, e keyEntry) stockState {
	s.keys = maps.Clone(s.keys)
	s.keys[key] = e
	return s
}

func (s stockState) withOrder(id string, o orderState) stockState {
	s.orders = maps.Clone(s.orders)
	s.orders[id] = o
	return s
}

func stepStock(state, input, output any) (bool, any) {
	s, in, out := state.(stockState), input.(histInput), output.(histOutput) //nolint:forcetypeassert // porcupine hands back what the history holds
	switch out.outcome {
	case outRefused:
		return false, s
	case outNotAttempted:
		return true, s
	default:
	}
	switch in.kind {
	case opPlace:
		return s.place(in.key, out)
	case opCancel:
		return s.cancel(in.orderID, out)
	case opGetProduct:
		if out.outcome != outOK {
			return false, s
		}
		return s.read(out.stock)
	case opGetOrder:
		return s.getOrder(in.orderID, out)
	}
	return false, s
}

func (s stockState) place(key string, out histOutput) (bool, any) {
	e := s.keys[key]
	switch out.outcome {
	case outOK:
		switch e.state {
		case keyPlaced:
			// A retry answers with the key's order.
			return out.orderID == e.orderID, s
		case keyDoubt:
			// The earlier attempt's doubt may be this order; or it failed
			// and this retry placed the order anew, a unit of its own.
			s.doubts++
		default:
			ok, next := s.take()
			if !ok {
				return false, s
			}
			s = next
		}
		if _, seen := s.orders[out.orderID]; seen {
			return false, s // one order answered for two keys
		}
		return true, s.withKey(key, keyEntry{state: keyPlaced, orderID: out.orderID}).withOrder(out.orderID, orderConfirmed)
	case outSoldOut:
		if e.state == keyPlaced {
			return false, s // a placed key answers with its order
		}
		return s.read(0)
	case outUnknown:
		if e.state == keyPlaced {
			return true, s
		}
		s.doubts++
		if e.state == keyFree {
			s = s.withKey(key, keyEntry{state: keyDoubt})
		}
		return true, s
	default:
		return false, s
	}
}

func (s stockState) cancel(id string, out histOutput) (bool, any) {
	o, ok := s.orders[id]
	if !ok {
		return false, s
	}
	switch out.outcome {
	case outOK:
		if out.status != ordersv1.OrderStatus_ORDER_STATUS_CANCELLED {
			return false, s
		}
		if o == orderConfirmed {
			s.restores++
		}
		return true, s.withOrder(id, orderCancelled)
	case outUnknown:
		if o == orderConfirmed {
			s.restores++
			s = s.withOrder(id, orderMaybeCancelled)
		}
		return true, s
	default:
		return false, s
	}
}

func (s stockState) getOrder(id string, out histOutput) (bool, any) {
	o, ok := s.orders[id]
	if !ok || out.outcome != outOK {
		return false, s
	}
	switch out.status {
	case ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED:
		// A cancellation of unknown outcome may still land.
		return o != orderCancelled, s
	case ordersv1.OrderStatus_ORDER_STATUS_CANCELLED:
		if o == orderConfirmed {
			return false, s
		}
		return true, s.withOrder(id, orderCancelled)
	default:
		return false, s
	}
}

var stateSeed = maphash.MakeSeed()

// stockModel is the porcupine model of one product's stock and orders.
func stockModel(initial int64) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return newStockState(initial) },
		Step: stepStock,
		Equal: func(a, b any) bool {
			x, y := a.(stockState), b.(stockState) //nolint:forcetypeassert // states are the model's own
			return x.stock == y.stock && x.restores == y.restores && x.doubts == y.doubts &&
				maps.Equal(x.keys, y.keys) && maps.Equal(x.orders, y.orders)
		},
		Hash: func(a any) uint64 {
			s := a.(stockState) //nolint:forcetypeassert // states are the model's own
			return maphash.Comparable(stateSeed, [5]int64{s.stock, s.restores, s.doubts, int64(len(s.keys)), int64(len(s.orders))})
		},
		DescribeOperation: describeOperation,
		DescribeState: func(a any) string {
			s := a.(stockState) //nolint:forcetypeassert // states are the model's own
			return fmt.Sprintf("stock %d, may come back %d, may be taken %d; %d keys, %d orders", s.stock, s.restores, s.doubts, len(s.keys), len(s.orders))
		},
	}
}

func describeOperation(input, output any) string {
	in, out := input.(histInput), output.(histOutput) //nolint:forcetypeassert // porcupine hands back what the history holds
	answer := out.code
	switch {
	case out.outcome == outOK && in.kind == opPlace:
		answer = "order " + short(out.orderID)
	case out.outcome == outOK && in.kind == opGetProduct:
		answer = fmt.Sprintf("stock %d", out.stock)
	case out.outcome == outOK:
		answer = out.status.String()
	}
	switch in.kind {
	case opPlace:
		return fmt.Sprintf("PlaceOrder(%s) → %s", short(in.key), answer)
	case opCancel:
		return fmt.Sprintf("CancelOrder(%s) → %s", short(in.orderID), answer)
	case opGetOrder:
		return fmt.Sprintf("GetOrder(%s) → %s", short(in.orderID), answer)
	default:
		return "GetProduct → " + answer
	}
}

func short(id string) string {
	if len(id) > 8 {
		return id[len(id)-8:]
	}
	return id
}
