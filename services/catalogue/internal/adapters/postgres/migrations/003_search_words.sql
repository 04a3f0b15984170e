-- Typo tolerance and as-you-type search. search_words is the catalogue's
-- vocabulary: every distinct lower-cased word of a product name or
-- description, unstemmed. A query word that is not in it is matched through
-- its near spellings (trigram neighbours, checked for edit distance in the
-- service), and the word being typed through its completions (a prefix
-- range on the C-collated key). Both then search the products' own tsvector
-- index, so products are only ever found through products_search_idx.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE search_words (
    word text COLLATE "C" PRIMARY KEY
);

CREATE INDEX search_words_trgm_idx ON search_words USING gist (word gist_trgm_ops);

-- Words are inserted in sorted order, so two products adding the same new
-- words wait for each other instead of deadlocking. Words are never removed
-- here: a word whose products are gone only expands to no match.
CREATE FUNCTION products_add_search_words() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_words (word)
    SELECT w FROM unnest(tsvector_to_array(to_tsvector('simple', NEW.name || ' ' || NEW.description))) AS w
    WHERE char_length(w) BETWEEN 2 AND 40 AND w ~ '[[:alpha:]]'
    ORDER BY w
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER products_add_search_words
    AFTER INSERT OR UPDATE OF name, description ON products
    FOR EACH ROW EXECUTE FUNCTION products_add_search_words();

INSERT INTO search_words (word)
SELECT DISTINCT w FROM products, unnest(tsvector_to_array(to_tsvector('simple', name || ' ' || description))) AS w
WHERE char_length(w) BETWEEN 2 AND 40 AND w ~ '[[:alpha:]]'
ON CONFLICT DO NOTHING;

-- Keyset orders of searches without a text query.
CREATE INDEX products_price_id_idx ON products (price_minor, id);
CREATE INDEX products_created_id_idx ON products (created_at, id);

---- create above / drop below ----

DROP INDEX products_created_id_idx;
DROP INDEX products_price_id_idx;
DROP TRIGGER products_add_search_words ON products;
DROP FUNCTION products_add_search_words();
DROP TABLE search_words;
