package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
)

// These run without the stack: they check that the model refuses what it
// must and accepts what faults can explain.

func placeOK(key, id string) (histInput, histOutput) {
	return histInput{kind: opPlace, key: key}, histOutput{outcome: outOK, orderID: id}
}

func place(key string, o outcome) (histInput, histOutput) {
	return histInput{kind: opPlace, key: key}, histOutput{outcome: o, code: "x"}
}

func getStock(v int64) (histInput, histOutput) {
	return histInput{kind: opGetProduct}, histOutput{outcome: outOK, stock: v}
}

func cancelOK(id string) (histInput, histOutput) {
	return histInput{kind: opCancel, orderID: id}, histOutput{outcome: outOK, status: ordersv1.OrderStatus_ORDER_STATUS_CANCELLED}
}

func cancelUnknown(id string) (histInput, histOutput) {
	return histInput{kind: opCancel, orderID: id}, histOutput{outcome: outUnknown}
}

func orderIs(id string, s ordersv1.OrderStatus) (histInput, histOutput) {
	return histInput{kind: opGetOrder, orderID: id}, histOutput{outcome: outOK, status: s}
}

// seq makes a history of operations one after another, on one client.
func seq(ops ...func() (histInput, histOutput)) []porcupine.Operation {
	h := make([]porcupine.Operation, len(ops))
	for i, op := range ops {
		in, out := op()
		h[i] = porcupine.Operation{ClientId: 0, Input: in, Output: out, Call: int64(2 * i), Return: int64(2*i + 1)}
	}
	return h
}

func op(f func(string, string) (histInput, histOutput), a, b string) func() (histInput, histOutput) {
	return func() (histInput, histOutput) { return f(a, b) }
}

func op1[T any](f func(T) (histInput, histOutput), a T) func() (histInput, histOutput) {
	return func() (histInput, histOutput) { return f(a) }
}

func opOutcome(key string, o outcome) func() (histInput, histOutput) {
	return func() (histInput, histOutput) { return place(key, o) }
}

func opStatus(s ordersv1.OrderStatus) func() (histInput, histOutput) {
	return func() (histInput, histOutput) { return orderIs("o1", s) }
}

const (
	confirmed = ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED
	cancelled = ordersv1.OrderStatus_ORDER_STATUS_CANCELLED
)

func TestStockModel(t *testing.T) {
	cases := []struct {
		name    string
		initial int64
		history []porcupine.Operation
		want    porcupine.CheckResult
	}{
		{"order, cancel, stock back later", 2, seq(
			op(placeOK, "k1", "o1"), op1(getStock, 1), op1(cancelOK, "o1"), op1(getStock, 1), op1(getStock, 2), opStatus(cancelled),
		), porcupine.Ok},
		{"a retry answers with the key's order and takes nothing", 2, seq(
			op(placeOK, "k1", "o1"), op(placeOK, "k1", "o1"), op1(getStock, 1),
		), porcupine.Ok},
		{"sold out at zero", 1, seq(
			op(placeOK, "k1", "o1"), opOutcome("k2", outSoldOut), op1(getStock, 0),
		), porcupine.Ok},
		{"a lost answer takes a unit, then gives it back", 1, seq(
			opOutcome("k1", outUnknown), op1(getStock, 0), opOutcome("k2", outSoldOut), op1(getStock, 1), op(placeOK, "k3", "o3"), op1(getStock, 0),
		), porcupine.Ok},
		{"a lost answer's order found by its retry", 2, seq(
			opOutcome("k1", outUnknown), op1(getStock, 1), op(placeOK, "k1", "o1"), op1(getStock, 1),
		), porcupine.Ok},
		{"a cancellation of unknown outcome lands late", 1, seq(
			op(placeOK, "k1", "o1"), op1(cancelUnknown, "o1"), opStatus(confirmed), op1(getStock, 0), opStatus(cancelled), op1(getStock, 1),
		), porcupine.Ok},

		{"oversold", 1, seq(
			op(placeOK, "k1", "o1"), op(placeOK, "k2", "o2"),
		), porcupine.Illegal},
		{"stock from nowhere", 1, seq(
			op1(getStock, 2),
		), porcupine.Illegal},
		{"stock gone without an order", 2, seq(
			op1(getStock, 1),
		), porcupine.Illegal},
		{"sold out with stock left", 2, seq(
			op(placeOK, "k1", "o1"), opOutcome("k2", outSoldOut),
		), porcupine.Illegal},
		{"one key, two orders", 5, seq(
			op(placeOK, "k1", "o1"), op(placeOK, "k1", "o2"),
		), porcupine.Illegal},
		{"one order for two keys", 5, seq(
			op(placeOK, "k1", "o1"), op(placeOK, "k2", "o1"),
		), porcupine.Illegal},
		{"a cancellation undone", 1, seq(
			op(placeOK, "k1", "o1"), op1(cancelOK, "o1"), opStatus(confirmed),
		), porcupine.Illegal},
		{"a cancelled order's stock comes back once", 1, seq(
			op(placeOK, "k1", "o1"), op1(cancelOK, "o1"), op1(cancelOK, "o1"), op1(getStock, 1), op1(getStock, 2),
		), porcupine.Illegal},
		{"a definite refusal", 1, seq(
			opOutcome("k1", outRefused),
		), porcupine.Illegal},
		{"a unit given back is not taken again without an order", 1, seq(
			op(placeOK, "k1", "o1"), op1(cancelOK, "o1"), op1(getStock, 1), op1(getStock, 0),
		), porcupine.Illegal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := porcupine.CheckOperationsTimeout(stockModel(c.initial), c.history, 10*time.Second)
			if got != c.want {
				t.Errorf("check = %s, want %s", got, c.want)
			}
		})
	}
}

func TestStockModelOrdersConcurrentCallsEitherWay(t *testing.T) {
	in1, out1 := placeOK("k1", "o1")
	in2, out2 := placeOK("k2", "o2")
	inGet, outGet := getStock(1)
	// Two overlapping orders of the last unit: one must fail.
	both := []porcupine.Operation{
		{ClientId: 0, Input: in1, Output: out1, Call: 0, Return: 10},
		{ClientId: 1, Input: in2, Output: out2, Call: 1, Return: 9},
	}
	if got := porcupine.CheckOperationsTimeout(stockModel(1), both, 10*time.Second); got != porcupine.Illegal {
		t.Errorf("two overlapping orders of one unit: %s, want Illegal", got)
	}
	// A read overlapping the order may come before it.
	read := []porcupine.Operation{
		{ClientId: 0, Input: in1, Output: out1, Call: 0, Return: 10},
		{ClientId: 1, Input: inGet, Output: outGet, Call: 5, Return: 15},
	}
	if got := porcupine.CheckOperationsTimeout(stockModel(1), read, 10*time.Second); got != porcupine.Ok {
		t.Errorf("a read overlapping the order: %s, want Ok", got)
	}
	// A read after the order returned may not.
	read[1].Call, read[1].Return = 11, 15
	if got := porcupine.CheckOperationsTimeout(stockModel(1), read, 10*time.Second); got != porcupine.Illegal {
		t.Errorf("a read after the order returned: %s, want Illegal", got)
	}
}

// A failing history's visualization is what scenario 14 leaves behind.
func TestStockModelVisualizesAFailure(t *testing.T) {
	h := seq(op(placeOK, "k1", "o1"), op(placeOK, "k2", "o2"))
	result, info := porcupine.CheckOperationsVerbose(stockModel(1), h, 10*time.Second)
	if result != porcupine.Illegal {
		t.Fatalf("check = %s, want Illegal", result)
	}
	path := filepath.Join(t.TempDir(), "history.html")
	if err := porcupine.VisualizePath(stockModel(1), info, path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() < 1000 {
		t.Errorf("visualization: %v, %v", fi, err)
	}
}
