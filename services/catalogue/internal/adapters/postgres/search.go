package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

// Bounds on how far one query word is expanded.
const (
	// maxCompletions is how many vocabulary words the word being typed
	// expands to, shortest first. The raw prefix is matched too, so a
	// shopper still finds every product with a word that starts so.
	maxCompletions = 16
	// maxNeighbours is how many trigram neighbours of an unknown word are
	// checked for edit distance, and maxSpellings how many of those that
	// pass are searched for.
	maxNeighbours = 24
	maxSpellings  = 8
)

// Match tiers: the rank of a match is its tier plus ts_rank normalised into
// [0, 1), so every exact match outranks every prefix match, and those every
// fuzzy one.
const rankExpr = `(CASE WHEN search @@ qe THEN 3 WHEN search @@ qp THEN 2 ELSE 1 END + ts_rank(search, qa, 32))::real`

// textQuery is a parsed query as three tsqueries for the english
// configuration, each matching more than the one before: every word exactly
// (qe); the word being typed also as a prefix (qp); every word also through
// its near spellings (qa). Products match qa; qe and qp rank them.
type textQuery struct {
	exact, prefix, all string
}

// analyseQuery reads what the catalogue's vocabulary says about each word
// of q (a stop word, a known word, the completions of the word being typed,
// the trigram neighbours of the words that will be respelled: the nearest
// neighbour search is the costly part, so it runs only for them) in one
// round trip, and builds the tsqueries. With weight ("A") every term matches product names only. ok is
// false when no word is left to search for.
func analyseQuery(ctx context.Context, tx pgx.Tx, q domain.ParsedQuery, weight string) (tq textQuery, ok bool, err error) {
	words := make([]string, len(q.Words))
	for i, w := range q.Words {
		words[i] = w.Text
	}
	typing := ""
	if q.Typing {
		typing = words[len(words)-1]
	}
	rows, err := tx.Query(ctx, `
		WITH q AS (SELECT w, i FROM unnest($1::text[]) WITH ORDINALITY AS q (w, i))
		SELECT 's', i, w FROM q WHERE numnode(plainto_tsquery('english', w)) = 0
		UNION ALL
		SELECT 'k', i, w FROM q WHERE EXISTS (SELECT 1 FROM search_words s WHERE s.word = q.w)
		UNION ALL
		(SELECT 'p', 0, word FROM search_words
			WHERE $2 <> '' AND word > $2 AND word < $2 || chr(1114111)
			ORDER BY char_length(word), word LIMIT $3)
		UNION ALL
		SELECT 'f', q.i, n.word FROM q CROSS JOIN LATERAL (
			SELECT word FROM search_words ORDER BY word <-> q.w LIMIT $4) AS n
		WHERE char_length(q.w) >= 4
			AND NOT EXISTS (SELECT 1 FROM search_words s WHERE s.word = q.w)
			AND NOT ($2 <> '' AND q.w = $2 AND EXISTS (SELECT 1 FROM search_words s WHERE s.word > $2 AND s.word < $2 || chr(1114111)))`,
		words, typing, maxCompletions, maxNeighbours)
	if err != nil {
		return textQuery{}, false, fmt.Errorf("analyse query: %w", err)
	}
	stop, known := map[int]bool{}, map[int]bool{}
	var completions []string
	neighbours := map[int][]string{}
	var kind, word string
	var i int
	_, err = pgx.ForEachRow(rows, []any{&kind, &i, &word}, func() error {
		i-- // ordinality counts from 1
		switch kind {
		case "s":
			stop[i] = true
		case "k":
			known[i] = true
		case "p":
			completions = append(completions, word)
		case "f":
			neighbours[i] = append(neighbours[i], word)
		}
		return nil
	})
	if err != nil {
		return textQuery{}, false, fmt.Errorf("analyse query: %w", err)
	}

	// Every word is made of letters, digits and marks only (ParseQuery), so
	// it can stand in tsquery text as it is.
	term := func(w string, prefix bool) string {
		if prefix {
			return w + ":*" + weight
		}
		if weight != "" {
			return w + ":" + weight
		}
		return w
	}
	var exact, prefix, all []string
	positive := false
	for i, w := range q.Words {
		if stop[i] {
			continue
		}
		if w.Negated {
			not := "!" + term(w.Text, false)
			exact, prefix, all = append(exact, not), append(prefix, not), append(all, not)
			continue
		}
		positive = true
		typed := q.Typing && i == len(q.Words)-1
		e := []string{term(w.Text, false)}
		p := e
		if typed {
			p = append([]string{term(w.Text, true)}, e...)
			for _, c := range completions {
				p = append(p, term(c, false))
			}
		}
		a := p
		// Only a word the catalogue does not know is spelled differently
		// ("mouse" never matches "house"), and the word being typed only
		// when nothing starts with it ("coff" never matches "toffee"); that
		// one is compared with the starts of its neighbours.
		if !known[i] && (!typed || len(completions) == 0) {
			n := 0
			for _, c := range neighbours[i] {
				if n < maxSpellings && c != w.Text && domain.WithinTypos(w.Text, c, typed) {
					a = append(a, term(c, false))
					n++
				}
			}
		}
		exact = append(exact, strings.Join(e, " | "))
		prefix = append(prefix, "("+strings.Join(p, " | ")+")")
		all = append(all, "("+strings.Join(a, " | ")+")")
	}
	if !positive {
		return textQuery{}, false, nil
	}
	return textQuery{
		exact:  strings.Join(exact, " & "),
		prefix: strings.Join(prefix, " & "),
		all:    strings.Join(all, " & "),
	}, true, nil
}

// searchQuery builds one parameterised statement; values never enter the
// SQL text.
type searchQuery struct {
	where []string
	args  []any
}

func (q *searchQuery) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

// filter adds the conditions shared by the page, the count and the facets,
// and returns the FROM list. With a text query it joins the tsqueries as
// qe, qp and qa (rankExpr uses them).
func (q *searchQuery) filter(f domain.SearchFilter, tq *textQuery) (from string) {
	from = "products"
	if tq != nil {
		from = fmt.Sprintf("products, to_tsquery('english', %s) AS qe, to_tsquery('english', %s) AS qp, to_tsquery('english', %s) AS qa",
			q.arg(tq.exact), q.arg(tq.prefix), q.arg(tq.all))
		q.where = append(q.where, "search @@ qa")
	}
	if f.CategoryID != "" {
		q.where = append(q.where, "category_id = "+q.arg(f.CategoryID))
	}
	if f.MinPrice != nil {
		q.where = append(q.where, "price_minor >= "+q.arg(*f.MinPrice))
	}
	if f.MaxPrice != nil {
		q.where = append(q.where, "price_minor <= "+q.arg(*f.MaxPrice))
	}
	return from
}

func (q *searchQuery) whereClause() string {
	if len(q.where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(q.where, " AND ")
}

// order returns the ORDER BY of a search and adds the keyset condition
// that resumes after the cursor. Each order is total. Descending orders
// run id descending too, so one (key, id) btree index serves both ways.
func (q *searchQuery) order(sort domain.SearchSort, text bool, after *domain.SearchCursor) string {
	var c domain.SearchCursor
	if after != nil {
		c = *after
	}
	var by, cols, op string
	var key any
	switch {
	case sort == domain.SortPriceAsc:
		by, cols, op, key = "price_minor, id", "price_minor, id", ">", c.Price
	case sort == domain.SortPriceDesc:
		by, cols, op, key = "price_minor DESC, id DESC", "price_minor, id", "<", c.Price
	case sort == domain.SortNewest:
		by, cols, op, key = "created_at DESC, id DESC", "created_at, id", "<", c.Created
	case text:
		if after != nil {
			r, id := q.arg(c.Rank), q.arg(c.ID)
			q.where = append(q.where, fmt.Sprintf("(rank < %[1]s::real OR (rank = %[1]s::real AND id > %[2]s))", r, id))
		}
		return "rank DESC, id"
	default:
		by, cols, op, key = "name, id", "name, id", ">", c.Name
	}
	if after != nil {
		q.where = append(q.where, fmt.Sprintf("(%s) %s (%s, %s)", cols, op, q.arg(key), q.arg(c.ID)))
	}
	return by
}

// Search returns one page of products matching f after the cursor, in the
// order opts asks for, with the total and (when asked) the facets from the
// same snapshot. A text query with nothing left to search for once stop
// words and punctuation are gone matches nothing.
func (s *Store) Search(ctx context.Context, f domain.SearchFilter, opts domain.SearchOptions, after *domain.SearchCursor, limit int) (domain.SearchPage, error) {
	parsed := domain.ParseQuery(f.Query)
	empty := domain.SearchPage{}
	if opts.Facets {
		empty.Facets = &domain.SearchFacets{PriceBands: domain.PriceBands(opts.PriceBandEdges)}
	}
	if f.Query != "" && !parsed.Positive() {
		return empty, nil
	}
	var page domain.SearchPage
	err := pgx.BeginTxFunc(ctx, s.lanes.Reader(ctx), pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var tq *textQuery
		if f.Query != "" {
			t, ok, err := analyseQuery(ctx, tx, parsed, "")
			if err != nil {
				return err
			}
			if !ok {
				page = empty
				return nil
			}
			tq = &t
		}
		var err error
		if opts.Facets {
			page.Facets, page.Total, err = facets(ctx, tx, f, tq, opts.PriceBandEdges)
		} else {
			var count searchQuery
			from := count.filter(f, tq)
			err = tx.QueryRow(ctx, "SELECT count(*) FROM "+from+count.whereClause(), count.args...).Scan(&page.Total)
		}
		if err != nil {
			return fmt.Errorf("count: %w", err)
		}
		page.Products, page.Next, err = searchPage(ctx, tx, f, tq, opts.Sort, after, limit)
		return err
	})
	if err != nil {
		return domain.SearchPage{}, fmt.Errorf("search products: %w", err)
	}
	return page, nil
}

// searchPage reads one page, and the cursor after it when there is more.
func searchPage(ctx context.Context, tx pgx.Tx, f domain.SearchFilter, tq *textQuery, sort domain.SearchSort, after *domain.SearchCursor, limit int) ([]domain.Product, *domain.SearchCursor, error) {
	var q searchQuery
	from := q.filter(f, tq)
	rank := "0::real"
	if tq != nil {
		rank = rankExpr
	}
	inner := "SELECT " + productColumns + ", " + rank + " AS rank FROM " + from + q.whereClause()
	q.where = nil
	order := q.order(sort, tq != nil, after)
	sql := "SELECT " + productColumns + ", rank FROM (" + inner + ") AS m" + q.whereClause() + " ORDER BY " + order + " LIMIT " + q.arg(limit+1)
	rows, err := tx.Query(ctx, sql, q.args...)
	if err != nil {
		return nil, nil, fmt.Errorf("search: %w", err)
	}
	defer rows.Close()
	var products []domain.Product
	var ranks []float32
	for rows.Next() {
		var r float32
		p, err := scanProduct(rows, &r)
		if err != nil {
			return nil, nil, fmt.Errorf("scan: %w", err)
		}
		products = append(products, p)
		ranks = append(ranks, r)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("search: %w", err)
	}
	if len(products) <= limit {
		return products, nil, nil
	}
	products = products[:limit]
	last := products[limit-1]
	return products, &domain.SearchCursor{
		Rank: ranks[limit-1], Name: last.Name, Price: last.Price.AmountMinor, Created: last.CreatedAt, ID: last.ID,
	}, nil
}

// facets counts the match set per category and per price band, and in
// all, in one scan with grouping sets.
func facets(ctx context.Context, tx pgx.Tx, f domain.SearchFilter, tq *textQuery, edges []int64) (*domain.SearchFacets, int, error) {
	var q searchQuery
	from := q.filter(f, tq)
	band := "width_bucket(price_minor, " + q.arg(edges) + "::bigint[])"
	rows, err := tx.Query(ctx, "SELECT GROUPING(category_id, "+band+"), coalesce(category_id, ''), coalesce("+band+", 0), count(*) FROM "+
		from+q.whereClause()+" GROUP BY GROUPING SETS ((category_id), ("+band+"), ()) ORDER BY 1, 4 DESC, 2", q.args...)
	if err != nil {
		return nil, 0, err
	}
	out := &domain.SearchFacets{PriceBands: domain.PriceBands(edges)}
	total := 0
	var grouping, bucket, count int
	var category string
	_, err = pgx.ForEachRow(rows, []any{&grouping, &category, &bucket, &count}, func() error {
		switch grouping {
		case 1: // grouped by category
			out.Categories = append(out.Categories, domain.CategoryCount{CategoryID: category, Count: count})
		case 2: // grouped by band
			if bucket >= 0 && bucket < len(out.PriceBands) {
				out.PriceBands[bucket].Count = count
			}
		case 3:
			total = count
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// Suggest returns up to limit distinct product names matching prefix on
// names only, best first: the same tiers as search, then name.
func (s *Store) Suggest(ctx context.Context, prefix, categoryID string, limit int) ([]domain.Suggestion, error) {
	parsed := domain.ParseQuery(prefix)
	if !parsed.Positive() {
		return nil, nil
	}
	var out []domain.Suggestion
	err := pgx.BeginTxFunc(ctx, s.lanes.Reader(ctx), pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		tq, ok, err := analyseQuery(ctx, tx, parsed, "A")
		if err != nil || !ok {
			return err
		}
		var q searchQuery
		from := q.filter(domain.SearchFilter{CategoryID: categoryID}, &tq)
		// Names repeat across products; a few times the limit leaves enough
		// distinct ones.
		rows, err := tx.Query(ctx, "SELECT id, name FROM "+from+q.whereClause()+
			" ORDER BY "+rankExpr+" DESC, name, id LIMIT "+q.arg(limit*4), q.args...)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		var sg domain.Suggestion
		_, err = pgx.ForEachRow(rows, []any{&sg.ProductID, &sg.Name}, func() error {
			if key := strings.ToLower(sg.Name); !seen[key] && len(out) < limit {
				seen[key] = true
				out = append(out, sg)
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("suggest products: %w", err)
	}
	return out, nil
}
