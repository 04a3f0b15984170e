package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
)

// printer writes command output and keeps the first write error, so a
// command checks once at the end rather than after every line.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) printf(format string, args ...any) {
	if p.err != nil {
		return
	}
	_, p.err = fmt.Fprintf(p.w, format, args...)
}

// message prints m as protojson: indented for a unary response, one line
// per message for a stream (so the output is JSON Lines).
func (p *printer) message(m proto.Message, oneLine bool) {
	opts := protojson.MarshalOptions{Multiline: !oneLine, Indent: "  "}
	if oneLine {
		opts.Indent = ""
	}
	data, err := opts.Marshal(m)
	if err != nil {
		if p.err == nil {
			p.err = fmt.Errorf("encode %s: %w", m.ProtoReflect().Descriptor().FullName(), err)
		}
		return
	}
	p.printf("%s\n", data)
}

// listErrors holds independent failures of one command that went on past
// each of them; writeError prints one line per failure.
type listErrors []error

func (l listErrors) Error() string {
	msgs := make([]string, len(l))
	for i, err := range l {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (l listErrors) Unwrap() []error { return l }

// writeError prints err as "error: <grpc code>: <message>", followed by the
// field violations and failed preconditions the server attached.
func writeError(w io.Writer, err error) {
	if list, ok := errors.AsType[listErrors](err); ok {
		for _, err := range list {
			writeError(w, err)
		}
		return
	}
	p := &printer{w: w}
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) || se.GRPCStatus() == nil {
		p.printf("error: %v\n", err)
		return
	}
	st := se.GRPCStatus()
	// Keep the context a command wrapped around the RPC error, if any.
	prefix := ""
	if outer, ok := strings.CutSuffix(err.Error(), ": "+st.Err().Error()); ok {
		prefix = outer + ": "
	}
	p.printf("error: %s%s: %s\n", prefix, codeName(st.Code()), st.Message())
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				p.printf("  %s: %s\n", v.GetField(), v.GetDescription())
			}
		case *errdetails.PreconditionFailure:
			for _, v := range d.GetViolations() {
				p.printf("  %s %s: %s\n", v.GetType(), v.GetSubject(), v.GetDescription())
			}
		}
	}
}

// codeName spells a gRPC code the way the API docs and other tools do:
// NOT_FOUND rather than grpc-go's NotFound.
func codeName(c codes.Code) string {
	if c > codes.Unauthenticated {
		return c.String()
	}
	return code.Code(int32(c)).String()
}

const productRowFormat = "%-36s  %-16s  %-16s  %14s  %7s  %s\n"

func (p *printer) productHeader() {
	p.printf(productRowFormat, "ID", "SKU", "CATEGORY", "PRICE", "STOCK", "NAME")
}

func (p *printer) productRow(pr *cataloguev1.Product) {
	p.printf(productRowFormat, pr.GetId(), pr.GetSku(), pr.GetCategoryId(),
		formatMoney(pr.GetPrice()), strconv.FormatInt(pr.GetStockQty(), 10), pr.GetName())
}

// facets prints a search's facet counts, prices in major units.
func (p *printer) facets(f *cataloguev1.SearchFacets) {
	amount := func(minor int64) string { return strings.TrimSpace(formatMinor(minor, "")) }
	p.printf("categories:")
	for _, c := range f.GetCategories() {
		p.printf(" %s=%d", c.GetCategoryId(), c.GetCount())
	}
	p.printf("\nprices:")
	for _, b := range f.GetPriceBands() {
		band := amount(b.GetMinMinor()) + "+"
		if b.MaxMinor != nil {
			band = amount(b.GetMinMinor()) + "-" + amount(b.GetMaxMinor())
		}
		p.printf(" %s=%d", band, b.GetCount())
	}
	p.printf("\n")
}

func (p *printer) productDetail(pr *cataloguev1.Product) {
	p.printf("id:          %s\n", pr.GetId())
	p.printf("sku:         %s\n", pr.GetSku())
	p.printf("name:        %s\n", pr.GetName())
	p.printf("category:    %s\n", pr.GetCategoryId())
	p.printf("price:       %s\n", formatMoney(pr.GetPrice()))
	p.printf("stock:       %d\n", pr.GetStockQty())
	if pr.GetDescription() != "" {
		p.printf("description: %s\n", pr.GetDescription())
	}
	if len(pr.GetImageUrls()) > 0 {
		p.printf("images:      %s\n", strings.Join(pr.GetImageUrls(), ", "))
	}
	p.printf("created:     %s\n", formatTime(pr.GetCreatedAt()))
	p.printf("updated:     %s\n", formatTime(pr.GetUpdatedAt()))
}

func (p *printer) reservation(r *cataloguev1.Reservation) {
	status := strings.TrimPrefix(r.GetStatus().String(), "RESERVATION_STATUS_")
	p.printf("reservation %s: %s, expires %s\n", r.GetId(), status, formatTime(r.GetExpiresAt()))
	for _, it := range r.GetItems() {
		p.printf("  %s  x%d\n", it.GetProductId(), it.GetQuantity())
	}
}

func formatTime(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

// formatMoney prints minor units with two decimals: 1999 EUR is "19.99 EUR".
func formatMoney(m *cataloguev1.Money) string {
	if m == nil {
		return "-"
	}
	return formatMinor(m.GetAmountMinor(), m.GetCurrencyCode())
}

// formatMinor prints an amount in minor units with two decimals.
func formatMinor(a int64, currency string) string {
	sign := ""
	if a < 0 {
		sign, a = "-", -a
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, a/100, a%100, currency)
}

// parseMoney reads a non-negative decimal price with at most two decimals
// ("19.99", "5", "0.5") as minor units, without going through a float.
func parseMoney(s string) (int64, error) {
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && (frac == "" || len(frac) > 2)) || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("price %q: want a non-negative amount with at most two decimals, like 19.99", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	units, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || units > (1<<63-1)/100-1 {
		return 0, fmt.Errorf("price %q is out of range", s)
	}
	cents, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("price %q: %w", s, err)
	}
	return units*100 + cents, nil
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
