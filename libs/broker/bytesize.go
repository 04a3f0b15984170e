package broker

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ByteSize is a size in bytes read from the environment as a plain number
// of bytes or with a binary unit: "1073741824", "512MiB", "1GiB".
type ByteSize int64

// Binary units ByteSize accepts.
const (
	KiB ByteSize = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
)

// UnmarshalText parses a size such as "1GiB".
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	unit := ByteSize(1)
	for _, u := range []struct {
		suffix string
		size   ByteSize
	}{{"KiB", KiB}, {"MiB", MiB}, {"GiB", GiB}, {"TiB", TiB}, {"B", 1}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, unit = strings.TrimSpace(n), u.size
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("size %q: want a non-negative number of bytes, optionally with a unit KiB, MiB, GiB or TiB", text)
	}
	if n > math.MaxInt64/int64(unit) {
		return fmt.Errorf("size %q: too large", text)
	}
	*b = ByteSize(n) * unit
	return nil
}

// String formats b with the largest binary unit that divides it.
func (b ByteSize) String() string {
	for _, u := range []struct {
		suffix string
		size   ByteSize
	}{{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}} {
		if b != 0 && b%u.size == 0 {
			return strconv.FormatInt(int64(b/u.size), 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}
